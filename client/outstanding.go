package client

import (
	"context"
	"time"

	"github.com/go402/go402/x402"
)

// outstanding is a signed authorization that was sent and is not known to
// be settled or unspent: a bearer instrument that whoever holds it may
// still settle until ValidBefore. It counts against the budgets as spent
// until the chain shows it unused past ValidBefore, or used (then it is
// spent for good). It holds nothing that could be used to pay.
type outstanding struct {
	Amount decimal `json:"amount"`
	Host   string  `json:"host"`
	// Version and Scheme select the scheme client that reads its state.
	Version int    `json:"x402Version"`
	Scheme  string `json:"scheme"`
	// Network, Asset, Payer and Nonce identify it on chain.
	Network x402.Network `json:"network"`
	Asset   string       `json:"asset"`
	Payer   string       `json:"payer"`
	Nonce   string       `json:"nonce"`
	// ValidBefore is when it stops being usable.
	ValidBefore time.Time `json:"validBefore"`
	// Released marks an authorization that the server said it did not
	// take and that the chain showed unused: it no longer counts, but it
	// is watched until ValidBefore, and counted as spent if it was used
	// after all (the server settled it later).
	Released bool `json:"released,omitempty"`
}

// key is the on-chain key of the authorization.
func (o *outstanding) key() x402.SettlementKey {
	return x402.SettlementKey{Network: o.Network, Asset: o.Asset, Payer: o.Payer, Nonce: o.Nonce}
}

// resolution is what became of an outstanding authorization.
type resolution int

const (
	resolvedSpent    resolution = iota // used on chain, or settled: spent for good
	resolvedUnspent                    // never sent, or unused past its validity: dropped
	resolvedReleased                   // refused by the server and unused now: watched, not counted
)

// send turns the reservation id into an outstanding authorization, before
// it is sent. A reservation already folded into the spent total stays
// there.
func (l *budgetStore) send(ctx context.Context, id string, rec outstanding) error {
	return l.update(ctx, func(st *budgetState) error {
		r, ok := st.Reserved[id]
		if !ok {
			return errNoChange
		}
		delete(st.Reserved, id)
		rec.Amount, rec.Host = r.Amount, r.Host
		if st.Outstanding == nil {
			st.Outstanding = map[string]outstanding{}
		}
		st.Outstanding[id] = rec
		return nil
	})
}

// resolve applies what became of the outstanding authorization id.
func (l *budgetStore) resolve(ctx context.Context, id string, how resolution) error {
	return l.update(ctx, func(st *budgetState) error {
		rec, ok := st.Outstanding[id]
		if !ok {
			return errNoChange
		}
		switch how {
		case resolvedSpent:
			delete(st.Outstanding, id)
			st.spend(rec.Amount, rec.Host)
		case resolvedUnspent:
			delete(st.Outstanding, id)
		case resolvedReleased:
			if rec.Released {
				return errNoChange
			}
			rec.Released = true
			st.Outstanding[id] = rec
		}
		return nil
	})
}

// resolveCharged is resolve(resolvedSpent) for an authorization charged
// amount (at most what it counted) instead of its price.
func (l *budgetStore) resolveCharged(ctx context.Context, id string, amount decimal) error {
	return l.update(ctx, func(st *budgetState) error {
		rec, ok := st.Outstanding[id]
		if !ok {
			return errNoChange
		}
		delete(st.Outstanding, id)
		if amount.Cmp(rec.Amount) < 0 {
			rec.Amount = amount
		}
		st.spend(rec.Amount, rec.Host)
		return nil
	})
}

// due returns the outstanding authorizations whose validity ended by now.
func (l *budgetStore) due(ctx context.Context, now time.Time) (map[string]outstanding, error) {
	out := map[string]outstanding{}
	err := l.view(ctx, func(st *budgetState) {
		for id, rec := range st.Outstanding {
			if !now.Before(rec.ValidBefore) {
				out[id] = rec
			}
		}
	})
	return out, err
}
