package evm_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// The payer's side reads the state of an authorization it signed: unused,
// then used once settled. Its key is the facilitator's. An endpoint on
// another chain, or none, is an error, never "unused".
func TestExactClientAuthorizationState(t *testing.T) {
	other, err := devnet.Start(t.Context(), devnet.Config{ChainID: 31337, Accounts: 1, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	sw := newWorldWith(t, devnet.Config{ChainID: 84532, Accounts: 5, RPCAddr: "127.0.0.1:0"}, nil)
	served := sw.net
	s, err := evm.NewPrivateKeySignerFromECDSA(sw.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s, RPCURLs: map[x402.Network]string{
		sw.network: served.RPCURL(),
		"eip155:1": other.RPCURL(), // the wrong chain
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := sw.requirements(t, "$0.01")
	p := pay(t, c, req)
	key, validBefore, err := c.Authorization(req, p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if fkey, _, err := sw.fac.Identify(p); err != nil || fkey != key {
		t.Errorf("key %+v, facilitator's %+v (%v)", key, fkey, err)
	}
	if d := time.Until(validBefore); d <= 0 || d > 61*time.Second {
		t.Errorf("validBefore in %v, want within the 60 s timeout", d)
	}
	used, expired, err := c.AuthorizationState(t.Context(), key, validBefore)
	if err != nil || used || expired {
		t.Fatalf("before settling: used %v expired %v %v", used, expired, err)
	}
	if s, err := sw.fac.Settle(t.Context(), p, x402.SettleHooks{}); err != nil || !s.Success {
		t.Fatalf("settle %+v %v", s, err)
	}
	if used, _, err = c.AuthorizationState(t.Context(), key, validBefore); err != nil || !used {
		t.Errorf("after settling: used %v %v", used, err)
	}
	// Past validBefore, an unused authorization is reported expired.
	fresh := key
	fresh.Nonce = "0x" + strings.Repeat("11", 32)
	if used, expired, err = c.AuthorizationState(t.Context(), fresh, time.Unix(1, 0)); err != nil || used || !expired {
		t.Errorf("old unused: used %v expired %v %v", used, expired, err)
	}
	wrong := key
	wrong.Network = "eip155:1"
	if _, _, err := c.AuthorizationState(t.Context(), wrong, validBefore); err == nil || !strings.Contains(err.Error(), "is on chain 31337") {
		t.Errorf("endpoint on another chain: %v", err)
	}
	wrong.Network = "eip155:8453"
	if _, _, err := c.AuthorizationState(t.Context(), wrong, validBefore); !errors.Is(err, evm.ErrNoRPC) {
		t.Errorf("no endpoint: %v", err)
	}
}
