package x402

import (
	"context"
	"errors"
)

// SettlementKey identifies what may be settled at most once: one payer's
// authorization, by its replay-protection nonce, for one asset on one
// network. Fields are normalised by the scheme (for EVM: lower-case hex).
type SettlementKey struct {
	Network Network
	Asset   string
	Payer   string
	Nonce   string
}

// Identifier is implemented by a [SchemeFacilitator] whose payments carry a
// replay-protection nonce. A facilitator uses it to settle each
// authorization at most once and to answer a repeated settle with the first
// result.
type Identifier interface {
	// Identify returns the key of the authorization in p and a fingerprint
	// of everything that decides the transfer (what the payer signed and
	// what the server requires), so that a second request with the same key
	// but different content is told apart from a retry. It fails when the
	// payload cannot be decoded; such a payment cannot be settled anyway.
	Identify(p *Payment) (key SettlementKey, fingerprint string, err error)
}

// Reconciler is implemented by a [SchemeFacilitator] that can find out, from
// the chain, what became of a settlement that was interrupted (for example
// by a crash between broadcast and receipt).
type Reconciler interface {
	// Reconcile looks up the settlement of key, whose last known
	// transaction is tx ("" if none was recorded). It returns the outcome
	// as a SettleResponse: Success with the transaction that used the
	// authorization; a failure with a transaction that was mined and
	// reverted; or ReasonSettlementPending while a known transaction is
	// still unmined. It returns ErrNotSettled if no transaction for key was
	// mined or is pending, so the authorization is still unused.
	Reconcile(ctx context.Context, p *Payment, key SettlementKey, tx string) (*SettleResponse, error)
}

// ErrNotSettled is returned by [Reconciler.Reconcile] when an authorization
// was not used on chain and no transaction for it is pending.
var ErrNotSettled = errors.New("x402: authorization not settled")
