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

// ReserveResult is the outcome of [Store.Reserve]. Exactly one of Reserved,
// Taken, a non-empty Settlement, or a shortfall (none of these) holds.
type ReserveResult struct {
	// Reserved: the funds are now held for the key.
	Reserved bool
	// Taken: the key was already reserved by an earlier verify.
	Taken bool
	// Settlement is the status of the key's settlement when the ledger has
	// one that is not StatusFailed (the authorization is being, or was,
	// settled); "" otherwise.
	Settlement Status
	// Held is what the payer's other unexpired reservations and unfinished
	// settlements of the same network and asset hold. When nothing else
	// holds and Reserved is false, Balance - Held < Amount.
	Held *big.Int
}
