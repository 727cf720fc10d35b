package upto_test

import (
	"math/big"
	"testing"

	"github.com/go402/go402/x402"
)

// TestReservesMaximumRecordsActual: through go402's facilitator, a verified
// upto payment holds the payer's funds for its maximum until it settles;
// settling it for less frees the rest at once.
func TestReservesMaximumRecordsActual(t *testing.T) {
	e := newEnv(t)
	e.approve(t, e.other, e.asset.Address)
	c := e.newClient(t, e.other)
	bal, err := x402.AmountFromBig(e.balance(t, e.other.Address))
	if err != nil {
		t.Fatal(err)
	}
	whole := e.requirements(t, "0.05 TPD")
	whole.Amount = bal // the maximum is the payer's whole balance
	p1 := e.pay(t, c, whole)
	if v := e.verify(t, p1, whole); !v.IsValid {
		t.Fatalf("verify of the whole balance: %s: %s", v.InvalidReason, v.InvalidMessage)
	}
	small := e.requirements(t, "0.001 TPD")
	p2 := e.pay(t, c, small)
	if v := e.verify(t, p2, small); v.IsValid || v.InvalidReason != x402.ReasonPermit2InsufficientFunds {
		t.Fatalf("verify while the maximum is held: %+v, want %s", v, x402.ReasonPermit2InsufficientFunds)
	}
	if s := e.settle(t, p1, 5_000); !s.Success || s.Amount == nil || *s.Amount != x402.NewAmount(5_000) {
		t.Fatalf("settle: %+v", s)
	}
	if v := e.verify(t, p2, small); !v.IsValid {
		t.Fatalf("verify after the first settled for less: %s: %s", v.InvalidReason, v.InvalidMessage)
	}
	if s := e.settle(t, p2, 1_000); !s.Success {
		t.Fatalf("settle of the second: %+v", s)
	}
	if paid := new(big.Int).Sub(bal.Big(), e.balance(t, e.other.Address)); paid.Int64() != 6_000 {
		t.Errorf("payer paid %s in all, want 6000", paid)
	}
}
