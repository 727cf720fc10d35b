package postgres

import (
	"context"
	"time"

	"github.com/go402/go402/ledger"
)

var _ ledger.PaymentIDs = (*Store)(nil)

// BindPaymentID binds a payment identifier; see [ledger.PaymentIDs].
func (s *Store) BindPaymentID(ctx context.Context, b *ledger.PaymentIDBinding) (*ledger.PaymentIDBinding, bool, error) {
	at := b.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO payment_ids (scope, id, settlement_key, fingerprint, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, id) DO NOTHING`, b.Scope, b.ID, b.SettlementKey, b.Fingerprint, at.UTC())
	if err != nil {
		return nil, false, fail(ctx, "bind payment id", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, true, nil
	}
	// A binding is never deleted: the row that refused the insert is there.
	e := &ledger.PaymentIDBinding{Scope: b.Scope, ID: b.ID}
	if err := s.pool.QueryRow(ctx, `SELECT settlement_key, fingerprint, created_at FROM payment_ids WHERE scope = $1 AND id = $2`,
		b.Scope, b.ID).Scan(&e.SettlementKey, &e.Fingerprint, &e.CreatedAt); err != nil {
		return nil, false, fail(ctx, "bind payment id", err)
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, false, nil
}
