package ledgertest

import (
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

// RunPaymentIDs checks a [ledger.PaymentIDs]: open must return a new,
// empty, migrated store that implements it.
func RunPaymentIDs(t *testing.T, open func(t *testing.T) ledger.Store) {
	t.Run("BindOnce", func(t *testing.T) {
		p, ok := open(t).(ledger.PaymentIDs)
		if !ok {
			t.Fatal("the store does not implement ledger.PaymentIDs")
		}
		ctx := testContext(t)
		b := &ledger.PaymentIDBinding{Scope: "eip155:1|0xpayee", ID: "pay_0123456789abcdef", SettlementKey: "k1", Fingerprint: "f1", CreatedAt: time.Unix(1000, 0)}
		if e, bound, err := p.BindPaymentID(ctx, b); err != nil || !bound || e != nil {
			t.Fatalf("first bind: %+v, %v, %v", e, bound, err)
		}
		other := *b
		other.SettlementKey, other.Fingerprint = "k2", "f2"
		e, bound, err := p.BindPaymentID(ctx, &other)
		if err != nil || bound || e == nil || e.SettlementKey != "k1" || e.Fingerprint != "f1" || !e.CreatedAt.Equal(b.CreatedAt) {
			t.Fatalf("second bind: %+v, %v, %v", e, bound, err)
		}
		// Another scope is another id.
		other.Scope = "eip155:1|0xother"
		if _, bound, err := p.BindPaymentID(ctx, &other); err != nil || !bound {
			t.Fatalf("other scope: %v, %v", bound, err)
		}
	})
	t.Run("ConcurrentBindsOneWins", func(t *testing.T) {
		p, ok := open(t).(ledger.PaymentIDs)
		if !ok {
			t.Fatal("the store does not implement ledger.PaymentIDs")
		}
		ctx := testContext(t)
		var mu sync.Mutex
		wins := map[string]bool{}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				key := string(rune('a' + i))
				e, bound, err := p.BindPaymentID(ctx, &ledger.PaymentIDBinding{Scope: "s", ID: "pay_race_race_race", SettlementKey: key, Fingerprint: key})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if bound {
					wins[key] = true
				} else if e == nil {
					t.Error("not bound and no binding returned")
				}
			})
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Errorf("%d binds won", len(wins))
		}
	})
}
