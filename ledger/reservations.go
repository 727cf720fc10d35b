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
}
