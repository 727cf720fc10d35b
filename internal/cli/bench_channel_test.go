package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestBenchChannels runs the batch-settlement scenario with 2 channels × 5
// calls and checks its figures against the chain: the payee's balance grew
// by exactly 10 × $0.001, each payer's fell by its deposit, and the
// transactions the report counts are every transaction the facilitator's
// key sent (its nonce). Throughput is not asserted.
func TestBenchChannels(t *testing.T) {
	ctx := t.Context()
	cfg := benchConfig{Scheme: benchSchemeChannel, Channels: 2, CallsPerChannel: 5, PollInterval: 10 * time.Millisecond}
	var cleanup closers
	t.Cleanup(func() { _ = cleanup.close() })
	r, err := startBenchRig(ctx, cfg, slog.New(slog.DiscardHandler), &cleanup, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	payee := r.acc.payee()
	payerBefore := make([]*big.Int, len(r.acc.payers))
	for i, p := range r.acc.payers {
		if payerBefore[i], err = r.d.BalanceOf(ctx, p.Address); err != nil {
			t.Fatal(err)
		}
	}
	payeeBefore, err := r.d.BalanceOf(ctx, payee.Address)
	if err != nil {
		t.Fatal(err)
	}
	srv, apiURL, err := r.startChannelServer(ctx, payee)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.channelRun(ctx, srv, apiURL+stackChannelPath, payee)
	if err != nil {
		t.Fatal(err)
	}

	if res.Calls != 10 || res.Requests != 8 || res.OK != 8 || res.Failed != 0 || res.PerSecond <= 0 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms {
		t.Errorf("voucher phase %+v", res.loadResult)
	}
	// One deposit per channel; one claim transaction for both channels
	// and one settle.
	if res.Deposits != 2 || res.ClaimTxs != 2 || res.Transactions != 4 || res.ClaimGas == 0 || res.GasUsed <= res.ClaimGas {
		t.Errorf("transactions: %+v", res)
	}
	if want := float64(res.GasUsed) / 10; res.GasPerCall < want-0.1 || res.GasPerCall > want+0.1 {
		t.Errorf("gas per call %.1f, want %.1f", res.GasPerCall, want)
	}
	nonce, err := r.d.Client().NonceAt(ctx, r.acc.fac[facChannel].Address, nil)
	if err != nil {
		t.Fatal(err)
	}
	if int(nonce) != res.Transactions {
		t.Errorf("the facilitator sent %d transactions, the report counts %d", nonce, res.Transactions)
	}
	payeeAfter, err := r.d.BalanceOf(ctx, payee.Address)
	if err != nil {
		t.Fatal(err)
	}
	if got := new(big.Int).Sub(payeeAfter, payeeBefore); got.Int64() != 10_000 || res.PayeeReceived != "10000" {
		t.Errorf("payee received %s on chain, reported %s; want 10000", got, res.PayeeReceived)
	}
	for i, p := range r.acc.payers {
		after, err := r.d.BalanceOf(ctx, p.Address)
		if err != nil {
			t.Fatal(err)
		}
		if spent := new(big.Int).Sub(payerBefore[i], after); spent.Int64() != 5_000 {
			t.Errorf("payer %d deposited %s, want 5000 (5 calls)", i, spent)
		}
	}
}

// TestBenchChannelsCLI runs `go402 bench --scheme batch-settlement --json`
// with tiny numbers: the report holds the scenario and nothing else, and
// its table prints.
func TestBenchChannelsCLI(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), []string{"bench", "--scheme", "batch-settlement", "--channels", "2", "--calls-per-channel", "3", "--json"},
		strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	var rep benchReport
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	c := rep.Channels
	if c == nil || rep.Config.Scheme != benchSchemeChannel || len(rep.Verify) != 0 || len(rep.Settle) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if c.Calls != 6 || c.OK != 4 || c.Transactions != 4 || c.PayeeReceived != "6000" {
		t.Errorf("batch-settlement %+v", c)
	}
	var table bytes.Buffer
	printBench(&table, &rep)
	for _, want := range []string{"Batch-settlement", "vouchers", "gas/call", "payee received exactly 6 x $0.001"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// TestBenchChannelsFlags: the scenario's flags are checked before a run.
func TestBenchChannelsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scheme", "upto"}, "--scheme must be exact or batch-settlement"},
		{[]string{"--scheme", "batch-settlement", "--channels", "0"}, "--channels must be between 1 and 200"},
		{[]string{"--scheme", "batch-settlement", "--calls-per-channel", "1"}, "--calls-per-channel must be between 2"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), append([]string{"bench"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("bench %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), ExitUsage, tc.want)
		}
	}
}
