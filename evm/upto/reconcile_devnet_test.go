package upto_test

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
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

// TestReconcileIgnoresAnotherPermitUnderTheNonce: a hostile payer signs a
// second permit under the nonce of its payment, paying itself 1 unit with
// itself as the witness facilitator, and settles it first. Our payment
// can then never settle; reconciling it (as after a crash, or a
// settlement_pending answer) must not take the payer's transaction for its
// settlement.
func TestReconcileIgnoresAnotherPermitUnderTheNonce(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	req := e.requirements(t, "0.05 TPD")
	used := req
	used.Amount = x402.NewAmount(2_500)
	nonce := big.NewInt(time.Now().UnixNano())
	p := mustPayment(t, e.signed(t, e.payer, req, func(pm *upto.Permit) { pm.Nonce = nonce }), used)

	own := e.signed(t, e.payer, req, func(pm *upto.Permit) {
		pm.Nonce, pm.Amount, pm.To, pm.Facilitator = nonce, big.NewInt(1), e.payer.Address, e.payer.Address
	})
	d, err := upto.Decode(own.Payload)
	if err != nil {
		t.Fatal(err)
	}
	data, err := upto.SettleCalldata(&d.Permit, big.NewInt(1), d.Signature)
	if err != nil {
		t.Fatal(err)
	}
	payerSender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: e.net.Client(), Key: e.payer.PrivateKey, ChainID: e.net.ChainID(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := payerSender.Send(ctx, upto.ProxyAddress(), data)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.net.WaitMined(ctx, tx.Hash()); err != nil || r.Status != 1 {
		t.Fatalf("the payer's own settlement: %+v %v", r, err)
	}

	k, _, err := e.scheme.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{tx.Hash().Hex(), ""} {
		r, err := e.scheme.Reconcile(ctx, p, k, h)
		if err == nil && r.Success {
			t.Fatalf("reconcile (tx %q) took the payer's own settlement for the payment: %+v", h, r)
		}
	}
}
