package facilitator

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

// redecidingStore stands for a store whose write of a verify's event was
// refused for its content: it rolls back, decides the reservation again
// without the event, and another verify took the funds in between. That
// interleaving cannot be produced on demand with a real database, so this
// fake replays it: Event is told "reserved", Reserve returns "refused".
type redecidingStore struct{ ledger.Store }

func (s redecidingStore) Reserve(ctx context.Context, r *ledger.Reservation) (ledger.ReserveResult, error) {
	if r.Event != nil {
		r.Event(ledger.ReserveResult{Reserved: true, Held: new(big.Int)})
	}
	return ledger.ReserveResult{Held: big.NewInt(100), EventErr: errors.New("invalid byte sequence")}, nil
}

// reasons is the scheme side reserve needs: only its reason codes.
type reasons struct{ x402.FundsVerifier }

func (reasons) FundsReasons() (x402.Reason, x402.Reason) {
	return x402.ReasonExactEVMInsufficientBalance, x402.ReasonExactEVMNonceAlreadyUsed
}

// TestReserveAnswersWhatTheStoreDecided: the verify's answer follows the
// outcome Reserve returns, not the one its Event callback last saw, and
// an event the store could not write is left to the caller to record.
func TestReserveAnswersWhatTheStoreDecided(t *testing.T) {
	store, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f, err := New(Config{Store: redecidingStore{store}})
	if err != nil {
		t.Fatal(err)
	}
	valid := &x402.VerifyResponse{IsValid: true, Payer: "0xp"}
	funds := &x402.Funds{Key: x402.SettlementKey{Network: "eip155:1", Asset: "0xa", Payer: "0xp", Nonce: "0x1"},
		Amount: big.NewInt(100), Balance: big.NewInt(100), Expires: time.Now().Add(time.Minute)}
	out, recorded, _, err := f.reserve(t.Context(), reasons{}, valid, funds, &ledger.Event{Kind: ledger.EventVerify})
	if err != nil {
		t.Fatal(err)
	}
	if out.IsValid || out.InvalidReason != x402.ReasonExactEVMInsufficientBalance {
		t.Errorf("answer %+v: want invalid with %s, as the store decided", out, x402.ReasonExactEVMInsufficientBalance)
	}
	if recorded {
		t.Error("the event the store refused counts as recorded")
	}
}
