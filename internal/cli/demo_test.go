package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(t.Context(), []string{"demo", "--json", "--calls", "2"}, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	var sum demoSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.OK || len(sum.Calls) != 3 || sum.TotalPaid != "0.052 USDC" || sum.GasPerSettlement == 0 || sum.AgentBudgetRefusals != 1 {
		t.Errorf("%+v", sum)
	}
	for _, c := range sum.Calls {
		if c.Status != 200 || !strings.HasPrefix(c.Transaction, "0x") || c.Payer != sum.Payer.Address {
			t.Errorf("call %+v", c)
		}
	}
	if sum.Payer.Before != "1000000" || sum.Payer.After != "999999.948" || sum.Payee.After != "1000000.052" {
		t.Errorf("balances %+v %+v", sum.Payer, sum.Payee)
	}

	// The human-readable flow names every step.
	out.Reset()
	if code := Run(t.Context(), []string{"demo", "--calls", "1"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, step := range []string{"402 Payment Required", "authorization signed", "verified", "served", "settled on chain: tx 0x", "refused by the agent's policy", "summary:"} {
		if !strings.Contains(out.String(), step) {
			t.Errorf("output lacks %q:\n%s", step, out.String())
		}
	}
}

func TestDevAndPay(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	info := filepath.Join(t.TempDir(), "dev.json")
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"dev", "--info-file", info}, strings.NewReader(""), &out, &errOut) }()
	var raw []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(info); err == nil && len(b) > 0 {
			raw = b
			break
		}
	}
	if raw == nil {
		t.Fatalf("no info file: %s", errOut.String())
	}
	var di devInfo
	if err := json.Unmarshal(raw, &di); err != nil {
		t.Fatal(err)
	}
	if di.RPCURL == "" || di.FacilitatorURL == "" || len(di.Endpoints) != 2 || len(di.Accounts) != stackAccounts || di.Endpoints[0].Price != "$0.001" {
		t.Fatalf("info %+v", di)
	}
	// The first accounts are payers the services do not use.
	for _, a := range di.Accounts[:stackAccounts-2] {
		if a.Address == di.Endpoints[0].PayTo {
			t.Errorf("payer account %s is the payee", a.Address)
		}
	}
	t.Setenv("GO402_PAYER_KEY", di.Accounts[1].PrivateKey)
	var pout, perr bytes.Buffer
	if code := Run(ctx, []string{"pay", "--devnet-info", info, di.Endpoints[0].URL}, strings.NewReader(""), &pout, &perr); code != 0 {
		t.Fatalf("pay exit %d: %s", code, perr.String())
	}
	if !strings.Contains(pout.String(), "sunny") || !strings.Contains(perr.String(), "paid 0.001 USDC") || !strings.Contains(perr.String(), "tx 0x") {
		t.Errorf("pay output: %q / %q", pout.String(), perr.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("dev exit %d: %s", code, errOut.String())
	}
}
