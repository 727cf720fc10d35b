// Package reserve holds the decision of [ledger.Store.Reserve] shared by
// the stores: given what the ledger holds for a payer, does a new
// reservation fit? The stores read the rows, in the transaction that makes
// the decision atomic, and feed them to a [Tally].
package reserve

import (
	"errors"
	"math/big"

	"github.com/go402/go402/ledger"
)

// Check validates a reservation before it is written.
func Check(r *ledger.Reservation) error {
	switch {
	case r == nil:
		return errors.New("nil reservation")
	case r.Key.Network == "" || r.Key.Asset == "" || r.Key.Payer == "" || r.Key.Nonce == "":
		return errors.New("reservation key has an empty field")
	case r.Amount == nil || r.Amount.Sign() <= 0:
		return errors.New("reservation amount must be positive")
	case r.Balance == nil || r.Balance.Sign() < 0:
		return errors.New("reservation balance must be set and not negative")
	case r.Expires.IsZero():
		return errors.New("reservation has no expiry")
	}
	return nil
}

// Tally adds up what a payer's funds are held for, for one new
// reservation. Feed it the key's own unexpired reservation and settlement
// (Reservation and Settlement with the key's nonce), and what else holds
// the payer's funds: either row by row (the unexpired reservations first,
// then the unfinished settlements), or as a sum the store computed (Held).
type Tally struct {
	r      *ledger.Reservation
	seen   map[string]bool
	held   big.Int
	taken  *big.Int // the amount the key is already reserved for
	status ledger.Status
}

// New returns an empty tally for r.
func New(r *ledger.Reservation) *Tally {
	return &Tally{r: r, seen: map[string]bool{}}
}

// Reservation counts an unexpired reservation of the payer.
func (t *Tally) Reservation(nonce, amount string) {
	if nonce == t.r.Key.Nonce {
		t.taken = new(big.Int)
		if v, ok := new(big.Int).SetString(amount, 10); ok {
			t.taken = v
		}
		return
	}
	t.seen[nonce] = true
	t.add(amount)
}

// Settlement counts a settlement of the payer: one with the new key
// decides the outcome unless it failed; an unfinished one without a
// reservation holds its amount.
func (t *Tally) Settlement(nonce string, status ledger.Status, amount string) {
	if nonce == t.r.Key.Nonce {
		if status != ledger.StatusFailed {
			t.status = status
		}
		return
	}
	if status.Final() || t.seen[nonce] {
		return
	}
	t.seen[nonce] = true
	t.add(amount)
}

// Held adds v, a sum of holds the store computed itself, to what is held.
func (t *Tally) Held(v *big.Int) {
	t.held.Add(&t.held, v)
}

// add adds a stored decimal amount. A malformed one (never written by
// this module) counts as nothing rather than blocking the payer forever.
func (t *Tally) add(amount string) {
	if v, ok := new(big.Int).SetString(amount, 10); ok && v.Sign() > 0 {
		t.held.Add(&t.held, v)
	}
}

// Result is the outcome: Reserved when the key has no settlement and
// either is reserved already for at least the amount (Taken: nothing is to
// be written) or is not reserved and the balance less what is held covers
// the amount.
func (t *Tally) Result() ledger.ReserveResult {
	res := ledger.ReserveResult{Taken: t.taken != nil, Settlement: t.status, Held: new(big.Int).Set(&t.held)}
	switch {
	case t.status != "":
		return res
	case t.taken != nil:
		res.Reserved = t.taken.Cmp(t.r.Amount) >= 0
		return res
	}
	free := new(big.Int).Sub(t.r.Balance, &t.held)
	res.Reserved = free.Cmp(t.r.Amount) >= 0
	return res
}
