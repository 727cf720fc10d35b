package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSmall runs `go402 bench` end to end with tiny numbers and without
// the TypeScript peer (the interop tests cover it), and checks the report
// holds the measurements the table prints. Throughput is not asserted: it
// is measured by `make bench`, not tested.
func TestBenchSmall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), []string{"bench", "--skip-ts", "--payments", "20", "--settlements", "12", "--concurrency", "6",
		"--calls", "2", "--payers", "3", "--micro-time", "5ms", "--json", out}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"402 path", "/verify over HTTP", "go402 batched", "settle-before-serve", "serve-then-settle", "not run (--skip-ts)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
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
