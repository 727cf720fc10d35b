package sqlite

import (
	"context"
	"database/sql"
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
	var existing *ledger.PaymentIDBinding
	err := s.write(ctx, func(tx *sql.Tx) error {
		existing = nil
		res, err := tx.ExecContext(ctx, `INSERT INTO payment_ids (scope, id, settlement_key, fingerprint, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, id) DO NOTHING`, b.Scope, b.ID, b.SettlementKey, b.Fingerprint, micros(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		e := &ledger.PaymentIDBinding{Scope: b.Scope, ID: b.ID}
		var us int64
		if err := tx.QueryRowContext(ctx, `SELECT settlement_key, fingerprint, created_at FROM payment_ids WHERE scope = ? AND id = ?`,
			b.Scope, b.ID).Scan(&e.SettlementKey, &e.Fingerprint, &us); err != nil {
			return err
		}
		e.CreatedAt = fromMicros(us)
		existing = e
		return nil
	})
	if err != nil {
		return nil, false, fail(ctx, "bind payment id", err)
	}
	return existing, existing == nil, nil
}
