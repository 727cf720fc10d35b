package upto_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go402/go402/x402"
)

// TestReconcile: what the chain says of a settlement whose outcome was
// lost: settled by the recorded transaction, settled by a transaction found
// through the proxy's events when none was recorded, not settled at all,
// and a settlement of 0.
func TestReconcile(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	req := e.requirements(t, "0.05 TPD")
	used := req
	used.Amount = x402.NewAmount(2_500)

	unsettled := mustPayment(t, e.pay(t, e.client, req), used)
	k, _, err := e.scheme.Identify(unsettled)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.scheme.Reconcile(ctx, unsettled, k, ""); !errors.Is(err, x402.ErrNotSettled) {
		t.Errorf("reconcile of an unused nonce: %v, want ErrNotSettled", err)
	}

	p := mustPayment(t, e.pay(t, e.client, req), used)
	var recorded string
	s, err := e.scheme.Settle(ctx, p, x402.SettleHooks{BeforeBroadcast: func(_ context.Context, tx string) error { recorded = tx; return nil }})
	if err != nil || !s.Success || recorded != s.Transaction {
		t.Fatalf("settle: %+v %v (recorded %s)", s, err, recorded)
	}
	k, _, err = e.scheme.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range []string{recorded, ""} {
		r, err := e.scheme.Reconcile(ctx, p, k, tx)
		if err != nil {
			t.Fatalf("reconcile (tx %q): %v", tx, err)
		}
		if !r.Success || r.Transaction != recorded || r.Amount == nil || *r.Amount != used.Amount {
			t.Errorf("reconcile (tx %q): %+v, want success %s of %s", tx, r, recorded, used.Amount)
		}
	}

	zero := req
	zero.Amount = x402.Amount{}
	pz := mustPayment(t, e.pay(t, e.client, req), zero)
	kz, _, _ := e.scheme.Identify(pz)
	if r, err := e.scheme.Reconcile(ctx, pz, kz, ""); err != nil || !r.Success || r.Transaction != "" || r.Amount == nil || !r.Amount.IsZero() {
		t.Errorf("reconcile of a settlement of 0: %+v %v", r, err)
	}
}
