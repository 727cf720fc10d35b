package evm_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go402/go402/x402"
)

func TestExactVerifyFundsReportsWhatItRead(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	p := pay(t, w.client, req)

	resp, funds, err := w.fac.VerifyFunds(ctx, p)
	if err != nil || !resp.IsValid || funds == nil {
		t.Fatalf("VerifyFunds: %+v, %+v, %v", resp, funds, err)
	}
	key, _, err := w.fac.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	if funds.Key != key {
		t.Errorf("Key %+v, want Identify's %+v", funds.Key, key)
	}
	if funds.Amount.Cmp(req.Amount.Big()) != 0 {
		t.Errorf("Amount %s, want %s", funds.Amount, req.Amount)
	}
	if bal := w.balance(t, w.payer.Address); funds.Balance.Cmp(bal) != 0 {
		t.Errorf("Balance %s, want the payer's %s", funds.Balance, bal)
	}
	var payload struct {
		Authorization struct {
			ValidBefore json.Number `json:"validBefore"`
		} `json:"authorization"`
	}
	if err := json.Unmarshal(p.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	vb, err := payload.Authorization.ValidBefore.Int64()
	if err != nil {
		t.Fatal(err)
	}
	if !funds.Expires.Equal(time.Unix(vb, 0)) {
		t.Errorf("Expires %v, want validBefore %v", funds.Expires, time.Unix(vb, 0))
	}
	insufficient, used := w.fac.FundsReasons()
	if insufficient != x402.ReasonExactEVMInsufficientBalance || used != x402.ReasonExactEVMNonceAlreadyUsed {
		t.Errorf("FundsReasons() = %s, %s", insufficient, used)
	}

	// Refused before the balance is read: no funds.
	bad := *p
	bad.Requirements.PayTo = w.asset.Address.Hex()
	bad.Accepted.PayTo = bad.Requirements.PayTo
	resp, funds, err = w.fac.VerifyFunds(ctx, &bad)
	if err != nil || resp.IsValid || funds != nil {
		t.Errorf("VerifyFunds of a payment to another payTo: %+v, %+v, %v; want invalid and no funds", resp, funds, err)
	}
}
