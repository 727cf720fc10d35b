package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/examples/internal/devtest"
	"github.com/go402/go402/x402"
)

// TestProtectAPIPaidByAgentExample serves the example API on loopback
// against `go402 dev`, then runs the agent example (built, as its own
// process) against it: it pays within its budget, is refused past it, and
// the balances move by exactly what was paid.
func TestProtectAPIPaidByAgentExample(t *testing.T) {
	dev := devtest.StartDev(t)
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payTo := crypto.PubkeyToAddress(key.PublicKey).Hex() // a fresh address: its balance starts at 0
	api, err := newAPI([]string{"-devnet-info", dev.InfoFile, "-pay-to", payTo})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	// Unpaid: 402 with the price.
	resp, err := http.Get(srv.URL + "/weather")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if resp.StatusCode != http.StatusPaymentRequired || err != nil || len(pr.Accepts) != 1 {
		t.Fatalf("unpaid: %d, %v, %+v", resp.StatusCode, err, pr)
	}
	if a := pr.Accepts[0]; a.Amount.String() != "1000" || string(a.Network) != dev.Info.Network || !strings.EqualFold(a.PayTo, payTo) {
		t.Fatalf("requirement %+v", a)
	}

	// The agent: a $0.002 budget pays two calls and refuses the third.
	agent := devtest.Build(t, "../agent")
	payer := dev.Info.Accounts[1]
	addrs := []string{payer.Address, payTo}
	before := dev.Balances(t, addrs...)
	cmd := exec.CommandContext(t.Context(), agent, "-devnet-info", dev.InfoFile, "-budget", "$0.002", "-calls", "3", srv.URL+"/weather")
	cmd.Env = append(os.Environ(), "GO402_PAYER_KEY="+payer.PrivateKey)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 ||
		!strings.HasPrefix(lines[0], `call 1: {"forecast":"sunny"} (paid 0.001 USDC, tx 0x`) ||
		!strings.HasPrefix(lines[1], `call 2: {"forecast":"sunny"} (paid 0.001 USDC, tx 0x`) ||
		!strings.HasPrefix(lines[2], "call 3 refused by policy") {
		t.Fatalf("agent output:\n%s", out)
	}
	dev.Moved(t, before, addrs, -2000, 2000)
}
