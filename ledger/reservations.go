package ledger

import (
	"math/big"
	"time"

	"github.com/go402/go402/x402"
)

// Reservation is a payer's funds held for an authorization that was
// verified but is not settled yet, so that the same funds are not promised
// to several payments (each verify reads the payer's balance on its own).
// It is held for (network, asset, payer) until the settlement of its key is
// final or released, or until Expires.
type Reservation struct {
	Key x402.SettlementKey
	// Amount is the authorization's value. It must be positive.
	Amount *big.Int
	// Balance is the payer's balance the verify read from the chain.
	Balance *big.Int
	// Expires is when the authorization stops being valid: from then on
	// it cannot be settled, and the reservation no longer counts.
	Expires time.Time
	// Event, if not nil, makes the verify's event part of the same write:
	// [Store.Reserve] calls it with the outcome, inside the transaction
	// that decides it, and records the event it returns (nil: none) in
	// that transaction, so that a verify costs one durable write, not
	// two. It must only build the event (no I/O, no call to the store),
	// and may be called more than once (a store may run a transaction
	// again); the event of the outcome Reserve returns is the one
	// recorded. When Reserve returns nil, the event is durable and its ID
	// (and Time, if it was zero) set, as by [Store.Record], unless
	// [ReserveResult.EventErr] is set; when Reserve fails, nothing of it
	// was recorded. Only the ReserveResult that Reserve returns is
	// authoritative: when EventErr is set, the outcome Event last saw may
	// have been rolled back and decided again without it.
	Event func(ReserveResult) *Event
}

// ReserveResult is the outcome of [Store.Reserve].
type ReserveResult struct {
	// Reserved: the funds are held for the key, now or (with Taken)
	// already.
	Reserved bool
	// Taken: the key was already reserved by an earlier verify (the same
	// authorization verified again). Reserved is then set if that
	// reservation is for at least the amount, and nothing is written; if
	// not, the Reserve is refused.
	Taken bool
	// Settlement is the status of the key's settlement when the ledger has
	// one that is not StatusFailed (the authorization is being, or was,
	// settled); "" otherwise.
	Settlement Status
	// Held is what the payer's other unexpired reservations and unfinished
	// settlements of the same network and asset hold. When Reserved,
	// Taken and Settlement are all unset, Balance - Held < Amount.
	Held *big.Int
	// EventErr is set when the store refused, for its content, the event
	// that Reservation.Event returned (as it would have refused it from
	// Record): the outcome stands, decided and written without it.
	EventErr error
}
