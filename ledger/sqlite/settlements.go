package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

const settlementColumns = `network, asset, payer, nonce, fingerprint, status, tx_hash,
	response, request, scheme, version, pay_to, amount, resource, owner, claim_id, created_at, updated_at`

const whereKey = ` WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?`

// selectByKey is Get's query.
const selectByKey = `SELECT ` + settlementColumns + ` FROM settlements` + whereKey

func keyArgs(k x402.SettlementKey) []any {
	return []any{string(k.Network), k.Asset, k.Payer, k.Nonce}
}

// Claim creates st with status settling unless its key is taken; see
// [ledger.Store.Claim]. The settlements primary key decides: the row is
// inserted with INSERT ... ON CONFLICT DO NOTHING and, when nothing was
// inserted, the existing row is read in the same write transaction. On
// success Claim sets st.Status, st.CreatedAt and st.UpdatedAt to what was
// stored.
func (s *Store) Claim(ctx context.Context, st *ledger.Settlement) (*ledger.Settlement, bool, error) {
	if st == nil {
		return nil, false, errors.New("ledger/sqlite: claim: nil settlement")
	}
	resp, err := encodeResponse(st.Response)
	if err != nil {
		return nil, false, fmt.Errorf("ledger/sqlite: claim: %w", err)
	}
	var now time.Time
	var existing *ledger.Settlement
	err = s.write(ctx, func(tx *sql.Tx) error {
		// Taken with the write lock held, so that times follow the order
		// of the writes.
		now, existing = time.Now(), nil
		res, err := tx.ExecContext(ctx, `INSERT INTO settlements (`+settlementColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (network, asset, payer, nonce) DO NOTHING`,
			string(st.Key.Network), st.Key.Asset, st.Key.Payer, st.Key.Nonce,
			st.Fingerprint, string(ledger.StatusSettling), st.TxHash, resp, blob(st.Request),
			st.Scheme, st.Version, st.PayTo, st.Amount, st.Resource, st.Owner, st.ClaimID,
			micros(now), micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		existing, err = scanSettlement(tx.QueryRowContext(ctx,
			`SELECT `+settlementColumns+` FROM settlements`+whereKey, keyArgs(st.Key)...))
		return err
	})
	if err != nil {
		return nil, false, fail(ctx, "claim", err)
	}
	if existing != nil {
		return existing, false, nil
	}
	st.Status = ledger.StatusSettling
	st.CreatedAt = fromMicros(micros(now))
	st.UpdatedAt = st.CreatedAt
	return nil, true, nil
}

// Get returns the settlement of key, or an error wrapping
// [ledger.ErrNotFound].
func (s *Store) Get(ctx context.Context, key x402.SettlementKey) (*ledger.Settlement, error) {
	st, err := scanSettlement(s.get.QueryRowContext(ctx, keyArgs(key)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(key)
	}
	if err != nil {
		return nil, fail(ctx, "get", err)
	}
	return st, nil
}

// Update applies u if the settlement's status is u.From; see
// [ledger.Store.Update]. UpdatedAt always advances, by a microsecond if
// the clock did not. An update to a final status deletes the key's
// reservation in the same transaction.
func (s *Store) Update(ctx context.Context, key x402.SettlementKey, u ledger.Update) error {
	resp, err := encodeResponse(u.Response)
	if err != nil {
		return fmt.Errorf("ledger/sqlite: update: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		now := micros(time.Now())
		res, err := tx.ExecContext(ctx, `UPDATE settlements SET
				status = ?,
				tx_hash = CASE WHEN ? = '' THEN tx_hash ELSE ? END,
				response = COALESCE(?, response),
				updated_at = MAX(?, updated_at + 1)`+whereKey+` AND status = ?
				AND (? = '' OR claim_id = ?)`,
			append([]any{string(u.Status), u.TxHash, u.TxHash, resp, now},
				append(keyArgs(key), string(u.From), u.ClaimID, u.ClaimID)...)...)
		if err != nil {
			return err
		}
		if err := changedOne(ctx, tx, res, key); err != nil || !u.Status.Final() {
			return err
		}
		return deleteReservation(ctx, tx, key)
	})
	if err != nil {
		return s.opError(ctx, "update", err)
	}
	return nil
}

// Release deletes a settling claim whose recorded transaction is txHash
// (and whose claim id is claimID, if set); see [ledger.Store.Release]. It
// deletes the key's reservation in the same transaction. It returns an
// error wrapping [ledger.ErrConflict] if the settlement is past
// settling, records another transaction or is another claim, and one
// wrapping [ledger.ErrNotFound] if there is no settlement.
func (s *Store) Release(ctx context.Context, key x402.SettlementKey, txHash, claimID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM settlements`+whereKey+
			` AND status = 'settling' AND tx_hash = ? AND (? = '' OR claim_id = ?)`,
			append(keyArgs(key), txHash, claimID, claimID)...)
		if err != nil {
			return err
		}
		if err := changedOne(ctx, tx, res, key); err != nil {
			return err
		}
		return deleteReservation(ctx, tx, key)
	})
	if err != nil {
		return s.opError(ctx, "release", err)
	}
	return nil
}

// changedOne checks that res changed a row; if not, it tells a missing
// settlement (ErrNotFound) from one in another state (ErrConflict).
func changedOne(ctx context.Context, tx *sql.Tx, res sql.Result, key x402.SettlementKey) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var exists bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM settlements`+whereKey+`)`, keyArgs(key)...).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return notFound(key)
	}
	return fmt.Errorf("%w: %s", ledger.ErrConflict, keyString(key))
}

// opError passes ErrNotFound and ErrConflict through and wraps the rest.
func (s *Store) opError(ctx context.Context, op string, err error) error {
	if errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrConflict) {
		return err
	}
	return fail(ctx, op, err)
}

// Unfinished returns the settlements in status settling or pending, oldest
// first.
func (s *Store) Unfinished(ctx context.Context) ([]*ledger.Settlement, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+settlementColumns+` FROM settlements
		WHERE status IN ('settling', 'pending')
		ORDER BY created_at, network, asset, payer, nonce`)
	if err != nil {
		return nil, fail(ctx, "unfinished", err)
	}
	defer rows.Close()
	var out []*ledger.Settlement
	for rows.Next() {
		st, err := scanSettlement(rows)
		if err != nil {
			return nil, fail(ctx, "unfinished", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "unfinished", err)
	}
	return out, nil
}

// scanSettlement reads one row of settlementColumns.
func scanSettlement(row interface{ Scan(...any) error }) (*ledger.Settlement, error) {
	var st ledger.Settlement
	var network, status string
	var resp sql.NullString
	var req []byte
	var created, updated int64
	if err := row.Scan(&network, &st.Key.Asset, &st.Key.Payer, &st.Key.Nonce, &st.Fingerprint,
		&status, &st.TxHash, &resp, &req, &st.Scheme, &st.Version, &st.PayTo, &st.Amount,
		&st.Resource, &st.Owner, &st.ClaimID, &created, &updated); err != nil {
		return nil, err
	}
	st.Key.Network = x402.Network(network)
	st.Status = ledger.Status(status)
	if resp.Valid {
		st.Response = new(x402.SettleResponse)
		if err := json.Unmarshal([]byte(resp.String), st.Response); err != nil {
			return nil, fmt.Errorf("decoding the stored response of %s: %w", keyString(st.Key), err)
		}
	}
	if len(req) > 0 {
		st.Request = req
	}
	st.CreatedAt = fromMicros(created)
	st.UpdatedAt = fromMicros(updated)
	return &st, nil
}

// encodeResponse returns r as JSON text, or nil (NULL) for nil.
func encodeResponse(r *x402.SettleResponse) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding the response: %w", err)
	}
	return string(b), nil
}

func notFound(key x402.SettlementKey) error {
	return fmt.Errorf("%w: %s", ledger.ErrNotFound, keyString(key))
}

func keyString(k x402.SettlementKey) string {
	return fmt.Sprintf("network=%s asset=%s payer=%s nonce=%s", k.Network, k.Asset, k.Payer, k.Nonce)
}
