package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go402/go402/examples/internal/devtest"
)

// TestAgent runs the agent against the paid API of `go402 dev`: it pays
// within its budget, stops at the call the budget refuses, never pays
// more than $0.005 for one call, and the balances move by exactly what it
// paid.
func TestAgent(t *testing.T) {
	dev := devtest.StartDev(t)
	weather, report := dev.Info.Endpoints[0], dev.Info.Endpoints[1]
	if weather.Price != "$0.001" || report.Price != "$0.05" {
		t.Fatalf("endpoints %+v", dev.Info.Endpoints)
	}
	payer := dev.Info.Accounts[2]
	t.Setenv("GO402_PAYER_KEY", payer.PrivateKey)
	addrs := []string{payer.Address, weather.PayTo}
	before := dev.Balances(t, addrs...)

	var out bytes.Buffer
	if err := run(t.Context(), []string{"-devnet-info", dev.InfoFile, "-budget", "$0.003", "-calls", "5", weather.URL}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[3], "call 4 refused by policy") {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, l := range lines[:3] {
		if !strings.Contains(l, `"forecast":"sunny"`) || !strings.Contains(l, "(paid 0.001 USDC, tx 0x") {
			t.Errorf("call %d: %s", i+1, l)
		}
	}
	dev.Moved(t, before, addrs, -3000, 3000)

	// $0.05 is above the agent's $0.005 per request: refused before
	// anything is signed.
	out.Reset()
	before = dev.Balances(t, addrs...)
	if err := run(t.Context(), []string{"-devnet-info", dev.InfoFile, report.URL}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "call 1 refused by policy") {
		t.Errorf("output:\n%s", out.String())
	}
	dev.Moved(t, before, addrs, 0, 0)

	if err := run(t.Context(), []string{"-devnet-info", dev.InfoFile}, &out); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no URL: %v", err)
	}
}
