package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/x402http"
)

// The queue is also an x402http.ResponseStore: the first response of each
// payment identifier, in the table payment_ids, so that a resend whose
// answer was lost is answered by any replica. Begin is one transaction:
// the key's expired row is deleted, then one INSERT ... ON CONFLICT DO
// NOTHING under the key's primary key, so of concurrent Begins of one key
// exactly one inserts; the others read its row.

var _ x402http.ResponseStore = (*Queue)(nil)

// migrateResponses brings the schema to version 2: the payment_ids table.
func migrateResponses(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS payment_ids (
		id_key      text PRIMARY KEY,
		fingerprint text NOT NULL,
		until_at    bigint NOT NULL,         -- unix ms: when the entry may be dropped
		status      integer NOT NULL DEFAULT 0, -- 0 while in progress
		header      text NOT NULL DEFAULT '',
		body        bytea
	);
	CREATE INDEX IF NOT EXISTS payment_ids_until ON payment_ids (until_at);
	INSERT INTO pgqueue_schema (version) VALUES (2) ON CONFLICT DO NOTHING;`)
	return err
}

// Begin implements x402http.ResponseStore.
func (q *Queue) Begin(ctx context.Context, key, fp string, until time.Time) (*x402http.StoredResponse, error) {
	now := q.now().UnixMilli()
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `DELETE FROM payment_ids WHERE id_key = $1 AND until_at <= $2`, key, now); err != nil {
		return nil, wrapErr(err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO payment_ids (id_key, fingerprint, until_at) VALUES ($1, $2, $3) ON CONFLICT (id_key) DO NOTHING`, key, fp, until.UnixMilli())
	if err != nil {
		return nil, wrapErr(err)
	}
	if tag.RowsAffected() == 1 {
		return nil, wrapErr(tx.Commit(ctx))
	}
	var got, header string
	var status int
	var body []byte
	err = tx.QueryRow(ctx, `SELECT fingerprint, status, header, body FROM payment_ids WHERE id_key = $1`, key).Scan(&got, &status, &header, &body)
	switch {
	case err != nil:
		return nil, wrapErr(err)
	case got != fp:
		return nil, fmt.Errorf("x402http/pgqueue: %w", x402http.ErrPaymentIDConflict)
	case status == 0:
		return nil, fmt.Errorf("x402http/pgqueue: %w", x402http.ErrPaymentIDInProgress)
	}
	s := &x402http.StoredResponse{Status: status, Body: body}
	if err := json.Unmarshal([]byte(header), &s.Header); err != nil {
		return nil, wrapErr(fmt.Errorf("stored header: %w", err))
	}
	return s, nil
}

// Finish implements x402http.ResponseStore.
func (q *Queue) Finish(ctx context.Context, key string, resp *x402http.StoredResponse) error {
	if resp == nil {
		_, err := q.pool.Exec(ctx, `DELETE FROM payment_ids WHERE id_key = $1 AND status = 0`, key)
		return wrapErr(err)
	}
	if resp.Status <= 0 {
		return errors.New("x402http/pgqueue: payment id: a stored response needs a status")
	}
	h, err := json.Marshal(http.Header(resp.Header))
	if err != nil {
		return wrapErr(err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	_, err = q.pool.Exec(ctx, `UPDATE payment_ids SET status = $1, header = $2, body = $3 WHERE id_key = $4 AND status = 0`, resp.Status, string(h), body, key)
	return wrapErr(err)
}

func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("x402http/pgqueue: payment id: %w", err)
}
