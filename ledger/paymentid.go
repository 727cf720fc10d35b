package ledger

import (
	"context"
	"time"
)

// PaymentIDBinding ties a payment identifier (the payment-identifier
// extension's id), within a scope, to the one payment first settled under
// it.
type PaymentIDBinding struct {
	// Scope is where the id is unique: the facilitator uses the network
	// and the payee (a merchant's ids never collide with another's).
	Scope string
	ID    string
	// SettlementKey is the x402.SettlementKey (its String) and
	// Fingerprint the fingerprint of the payment settled under the id.
	SettlementKey string
	Fingerprint   string
	CreatedAt     time.Time
}

// PaymentIDs binds payment identifiers, kept by the ledgers of this module
// (sqlite and postgres) in their database (migration 0006).
//
// Atomicity: BindPaymentID is one insert under a unique (scope, id)
// constraint enforced by the database: of concurrent binds of one id, by
// any processes sharing the database, exactly one binds, and the others
// read its binding. A binding is never changed or deleted.
type PaymentIDs interface {
	// BindPaymentID binds b.ID in b.Scope to b's payment unless it is
	// bound already: it returns (nil, true, nil) when it bound it, and
	// (existing, false, nil) when the id was bound (to this payment or
	// another).
	BindPaymentID(ctx context.Context, b *PaymentIDBinding) (existing *PaymentIDBinding, bound bool, err error)
}
