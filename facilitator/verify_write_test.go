package facilitator_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// writeCounter is a real store that counts the durable writes of verify
// events apart from reservations.
type writeCounter struct {
	ledger.Store
	records atomic.Int64
}

func (s *writeCounter) Record(ctx context.Context, e *ledger.Event) error {
	s.records.Add(1)
	return s.Store.Record(ctx, e)
}

func TestVerifyWritesOnce(t *testing.T) {
	// A verify that reaches the reservation records its event in the same
	// write (one transaction, not a reservation then an event), whatever
	// the outcome; one refused before it records its event on its own.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		var counter *writeCounter
		fac, store := e.facilitatorWith(t, 3, nil, func(c *facilitator.Config) {
			counter = &writeCounter{Store: c.Store}
			c.Store = counter
		})
		payer := e.fundedPayer(t, 830, e.req.Amount.Big())
		req := e.sign(t, payer.PrivateKey, e.req)
		for i, want := range []bool{true, false} { // valid, then refused: reserved already
			resp, err := fac.Verify(ctx, req)
			if err != nil || resp.IsValid != want {
				t.Fatalf("verify %d: %+v, %v; want valid %v", i, resp, err, want)
			}
		}
		if n := counter.records.Load(); n != 0 {
			t.Errorf("verifies reaching the reservation made %d Records; want 0 (the event is written with the reservation)", n)
		}
		other := e.req
		other.Network = "eip155:1"
		bad := e.sign(t, payer.PrivateKey, other)
		if resp, err := fac.Verify(ctx, bad); err != nil || resp.IsValid {
			t.Fatalf("verify of an unsupported network: %+v, %v; want invalid", resp, err)
		}
		if n := counter.records.Load(); n != 1 {
			t.Errorf("a verify refused before its reservation made %d Records; want 1", n)
		}
		evs, err := store.Events(ctx, ledger.EventFilter{Kind: ledger.EventVerify, Payer: payer.Address.Hex()})
		if err != nil {
			t.Fatal(err)
		}
		statuses := map[string]int{}
		for _, ev := range evs {
			statuses[ev.Status+" "+string(ev.Reason)]++
		}
		if statuses["valid "] != 1 || statuses["invalid "+string(x402.ReasonDuplicateSettlement)] != 1 {
			t.Errorf("verify events of the payer: %v; want one valid, one invalid %s", statuses, x402.ReasonDuplicateSettlement)
		}
	})
}
