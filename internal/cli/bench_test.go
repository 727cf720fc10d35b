package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestBenchSmall runs `go402 bench --json --out FILE` end to end with tiny
// numbers and without the TypeScript peer (the interop tests cover it): the
// standard output is the report as one JSON object, FILE holds the same
// report, and the report holds the measurements the table prints.
// Throughput is not asserted: it is measured by `make bench`, not tested.
func TestBenchSmall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), []string{"bench", "--skip-ts", "--payments", "20", "--settlements", "12", "--concurrency", "6",
		"--calls", "2", "--payers", "3", "--micro-time", "5ms", "--json", "--out", out}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	var rep benchReport
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", stdout.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile benchReport
	if err := json.Unmarshal(raw, &fromFile); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, rep) {
		t.Errorf("--out file and --json output differ:\n%s\n%s", raw, stdout.String())
	}
	if !strings.Contains(stderr.String(), "results written to "+out) {
		t.Errorf("stderr does not name the --out file:\n%s", stderr.String())
	}

	var table bytes.Buffer
	printBench(&table, &rep)
	for _, want := range []string{"402 path", "/verify over HTTP", "go402 batched", "settle-before-serve", "serve-then-settle", "not run (--skip-ts)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if m := rep.Micro; m.PaymentNeeded.NsPerOp <= 0 || m.Paid.NsPerOp <= m.Unprotected.NsPerOp || m.PaymentNeeded.AllocsPerOp <= 0 {
		t.Errorf("middleware figures %+v", m)
	}
	if len(rep.Verify) != 1 || rep.Verify[0].OK != 20 || rep.Verify[0].Failed != 0 || rep.Verify[0].PerSecond <= 0 {
		t.Errorf("verify %+v", rep.Verify)
	}
	if len(rep.Settle) != 3 {
		t.Fatalf("settle runs %+v", rep.Settle)
	}
	for _, s := range rep.Settle {
		// The bench itself checked on chain that each success moved the
		// price exactly once.
		if s.OK != 12 || s.Failed != 0 || s.GasPerPayment == 0 || s.Transactions == 0 {
			t.Errorf("settle %+v", s)
		}
	}
	single, batched := rep.Settle[0], rep.Settle[1]
	if single.Transactions != 12 || batched.GasPerPayment >= single.GasPerPayment {
		t.Errorf("one transaction per payment: %d txs, %d gas each; batched: %d txs, %d gas each",
			single.Transactions, single.GasPerPayment, batched.Transactions, batched.GasPerPayment)
	}
	for _, e := range rep.EndToEnd {
		if e.OK != 2 || e.Settled != 2 {
			t.Errorf("end to end %+v", e)
		}
	}
}

// TestBenchOutputFlags: the --json and --out mistakes are caught before a
// run of minutes, and without the table the table is not printed.
func TestBenchOutputFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--json", "bench-results.json"}, "--out bench-results.json"}, // the former --json FILE
		{[]string{"extra"}, "unexpected arguments: extra"},
		{[]string{"--out", filepath.Join(t.TempDir(), "missing", "r.json")}, "is not a directory"},
		{[]string{"--json=x"}, "invalid boolean value"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), append([]string{"bench"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
		if code != ExitUsage || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("bench %q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, stdout.String(), stderr.String(), ExitUsage, tc.want)
		}
	}
}
