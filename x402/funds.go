package x402

import (
	"context"
	"math/big"
	"time"
)

// FundsVerifier is implemented by a [SchemeFacilitator] whose verify reads
// the payer's balance, so that a facilitator can hold the funds a verified
// payment will take until it settles: each verify reads the balance on its
// own, and without a hold a payer who can afford one payment could have
// several verified at once, each against the same balance.
type FundsVerifier interface {
	// VerifyFunds is Verify, also reporting what it saw of the payer's
	// funds. Funds is nil when the verify did not get as far as reading
	// the balance (the response then says why); it is set when the
	// response is valid.
	VerifyFunds(ctx context.Context, p *Payment) (*VerifyResponse, *Funds, error)
	// FundsReasons returns the scheme's reason codes for a payment whose
	// funds are held by other verified payments (its insufficient-balance
	// reason) and for an authorization the facilitator already settled
	// (its nonce-already-used reason), which the facilitator answers from
	// its ledger without asking the scheme.
	FundsReasons() (insufficient, used Reason)
}

// Funds is what a [FundsVerifier] saw of a payment's funds.
type Funds struct {
	// Key is the authorization's settlement key (see [Identifier]).
	Key SettlementKey
	// Amount is what the authorization transfers.
	Amount *big.Int
	// Balance is the payer's balance of the asset, as read for the verify.
	Balance *big.Int
	// Expires is when the authorization stops being valid (it can no
	// longer be settled from then on).
	Expires time.Time
}
