package upto_test

import (
	"context"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// TestCrashAfterBroadcast: a facilitator recorded the settlement's
// transaction and died before recording its outcome. At start-up the next
// instance of the same name reconciles it from the chain (settled, for the
// amount used), and a retry of the settle answers from the ledger without
// moving funds again.
func TestCrashAfterBroadcast(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	req := e.requirements(t, "0.05 TPD")
	pp := e.pay(t, e.client, req)
	used := req
	used.Amount = x402.NewAmount(4_000)
	freq := x402.NewFacilitatorRequest(pp, &used)
	p, err := freq.Payment()
	if err != nil {
		t.Fatal(err)
	}
	key, fp, err := e.scheme.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(freq)
	if err != nil {
		t.Fatal(err)
	}
	// What the dead instance wrote: the claim, then the transaction before
	// its broadcast; then it sent it and died.
	rec := &ledger.Settlement{Key: key, Fingerprint: fp, Request: body, Scheme: "upto", Version: x402.V2,
		PayTo: used.PayTo, Amount: used.Amount.String(), Owner: "upto-test", ClaimID: "dead"}
	if _, claimed, err := e.store.Claim(ctx, rec); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	payer0 := e.balance(t, e.payer.Address)
	s, err := e.scheme.Settle(ctx, p, x402.SettleHooks{BeforeBroadcast: func(ctx context.Context, tx string) error {
		return e.store.Update(ctx, key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: tx, ClaimID: "dead"})
	}})
	if err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}

	restarted, err := facilitator.New(facilitator.Config{Store: e.store, Instance: "upto-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Register(x402.V2, e.network, e.scheme); err != nil {
		t.Fatal(err)
	}
	if n, err := restarted.Reconcile(ctx); err != nil || n != 1 {
		t.Fatalf("reconcile: %d %v", n, err)
	}
	got, err := e.store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ledger.StatusSettled || got.TxHash != s.Transaction || got.Response == nil || got.Response.Amount == nil || *got.Response.Amount != used.Amount {
		t.Fatalf("ledger after reconcile: %+v (response %+v)", got, got.Response)
	}
	again, err := restarted.Settle(ctx, x402.NewFacilitatorRequest(pp, &used))
	if err != nil || !again.Success || again.Transaction != s.Transaction {
		t.Fatalf("settle after the restart: %+v %v", again, err)
	}
	if d := new(big.Int).Sub(payer0, e.balance(t, e.payer.Address)); d.Int64() != 4_000 {
		t.Errorf("payer paid %s, want 4000 once", d)
	}
}
