package sqlitequeue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go402/go402/x402http"
)

// The queue is also an x402http.ResponseStore: the first response of each
// payment identifier, in the table payment_ids, so that a resend whose
// answer was lost is answered once across restarts and across the
// processes sharing the file. Begin is one INSERT ... ON CONFLICT DO
// NOTHING (after deleting the key's row if it expired), so of concurrent
// Begins of one key exactly one inserts.

var _ x402http.ResponseStore = (*Queue)(nil)

func migrateResponses(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS payment_ids (
		id_key TEXT PRIMARY KEY,
		fingerprint TEXT NOT NULL,
		until_at INTEGER NOT NULL,          -- unix ms: when the entry may be dropped
		status INTEGER NOT NULL DEFAULT 0,  -- 0 while in progress
		header TEXT NOT NULL DEFAULT '',
		body BLOB
	);
	CREATE INDEX IF NOT EXISTS payment_ids_until ON payment_ids(until_at);`)
	return err
}

// Begin implements x402http.ResponseStore.
func (q *Queue) Begin(ctx context.Context, key, fp string, until time.Time) (*x402http.StoredResponse, error) {
	now := q.now().UnixMilli()
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("x402http/sqlitequeue: payment id: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM payment_ids WHERE until_at <= ?`, now); err != nil {
		return nil, fmt.Errorf("x402http/sqlitequeue: payment id: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO payment_ids(id_key, fingerprint, until_at) VALUES (?, ?, ?) ON CONFLICT(id_key) DO NOTHING`, key, fp, until.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("x402http/sqlitequeue: payment id: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("x402http/sqlitequeue: payment id: %w", err)
	} else if n == 1 {
		return nil, tx.Commit()
	}
	var got string
	var status int
	var header string
	var body []byte
	err = tx.QueryRowContext(ctx, `SELECT fingerprint, status, header, body FROM payment_ids WHERE id_key = ?`, key).Scan(&got, &status, &header, &body)
	switch {
	case err != nil:
		return nil, fmt.Errorf("x402http/sqlitequeue: payment id: %w", err)
	case got != fp:
		return nil, fmt.Errorf("x402http/sqlitequeue: %w", x402http.ErrPaymentIDConflict)
	case status == 0:
		return nil, fmt.Errorf("x402http/sqlitequeue: %w", x402http.ErrPaymentIDInProgress)
	}
	s := &x402http.StoredResponse{Status: status, Body: body}
	if err := json.Unmarshal([]byte(header), &s.Header); err != nil {
		return nil, fmt.Errorf("x402http/sqlitequeue: payment id: stored header: %w", err)
	}
	return s, nil
}

// Finish implements x402http.ResponseStore.
func (q *Queue) Finish(ctx context.Context, key string, resp *x402http.StoredResponse) error {
	if resp == nil {
		_, err := q.db.ExecContext(ctx, `DELETE FROM payment_ids WHERE id_key = ? AND status = 0`, key)
		return wrapErr(err)
	}
	if resp.Status <= 0 {
		return errors.New("x402http/sqlitequeue: payment id: a stored response needs a status")
	}
	h, err := json.Marshal(http.Header(resp.Header))
	if err != nil {
		return wrapErr(err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	_, err = q.db.ExecContext(ctx, `UPDATE payment_ids SET status = ?, header = ?, body = ? WHERE id_key = ? AND status = 0`, resp.Status, string(h), body, key)
	return wrapErr(err)
}

func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("x402http/sqlitequeue: payment id: %w", err)
}
