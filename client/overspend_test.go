package client_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/go402/go402/client"
)

// TestRefusedAuthorizationsStayWithinBudget: a hostile server answers 402
// without settling, so the chain shows each payment unused, and keeps the
// authorizations to settle them all later, before they expire. The client
// keeps counting every one until it expired unused, so it never signs
// more than its budget.
func TestRefusedAuthorizationsStayWithinBudget(t *testing.T) {
	s := newShop(t)
	h := s.hostile(t, "$0.05", 300, false)
	c, sig := s.clientWith(t, client.Policy{Budget: "$0.05", MaxValidity: 60 * time.Second}, true)
	before := s.balance(t, h.payee)
	for i := 0; i < 3; i++ {
		_, err := s.get(t, c, h.srv.URL+"/report")
		t.Logf("payment %d: %v", i, err)
	}
	paid := h.payloads()
	for i := range paid {
		s.settleAuthorization(t, &paid[i])
	}
	got := new(big.Int).Sub(s.balance(t, h.payee), before)
	t.Logf("signatures %d, taken %s (budget 50000)", sig.n.Load(), got)
	if got.Cmp(big.NewInt(50_000)) > 0 {
		t.Errorf("budget $0.05 but the server took %s base units", got)
	}
	if n := sig.n.Load(); n != 1 {
		t.Errorf("%d authorizations signed against a budget of one price", n)
	}
}
