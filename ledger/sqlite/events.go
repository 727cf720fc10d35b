package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/internal/groupcommit"
	"github.com/go402/go402/x402"
)

const eventColumns = `id, time, kind, version, scheme, network, asset, payer, pay_to,
	amount, resource, tx_hash, status, reason, message`

// Record appends e to the event log, and returns once it is committed.
// It sets e.ID, and e.Time when it is zero. The events (and reservations)
// of concurrent calls are written in one transaction (see the package
// documentation).
func (s *Store) Record(ctx context.Context, e *ledger.Event) error {
	if e == nil {
		return errors.New("ledger/sqlite: record: nil event")
	}
	if err := s.writes.Do(ctx, &write{ev: e}); err != nil {
		return fail(ctx, "record", err)
	}
	return nil
}

const insertEvent = `INSERT INTO events (time, kind, version, scheme, network, asset, payer,
		pay_to, amount, resource, tx_hash, status, reason, message)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`

// write is one group-committed write: an event (Record) or a
// reservation (Reserve) and the event its Event callback returns, which
// share transactions since every verify writes both.
type write struct {
	ev *ledger.Event
	rv *reserveOp
}

// eventRefused is a reservation's event that SQLite refused: the batch
// is written again without it.
type eventRefused struct {
	op  *reserveOp
	err error
}

func (e *eventRefused) Error() string { return e.err.Error() }

// writeBatch writes a batch of events and reservations in one transaction,
// in order (each reservation sees those before it), and sets the events'
// IDs (and zero Times) once it is committed. The time given to events
// without one is taken with the write lock held, so that times follow the
// order of the ids. A reservation's event that SQLite refuses for its
// content is left out (and reported in its ReserveResult.EventErr), and
// the batch written again.
func (s *Store) writeBatch(ctx context.Context, ws []*write) error {
	for {
		err := s.writeBatchOnce(ctx, ws)
		var refused *eventRefused
		if !errors.As(err, &refused) {
			return err
		}
		refused.op.noEvent, refused.op.ev = true, nil
		refused.op.res.EventErr = refused.err
	}
}

func (s *Store) writeBatchOnce(ctx context.Context, ws []*write) error {
	ids := make([]int64, len(ws))
	var now time.Time
	err := s.write(ctx, func(tx *sql.Tx) error {
		now = time.Now()
		var stmt *sql.Stmt
		for i, w := range ws {
			e := w.ev
			if op := w.rv; op != nil {
				res, err := s.reserveTx(ctx, tx, op.r, micros(now))
				if err != nil {
					return err
				}
				res.EventErr = op.res.EventErr
				op.res, op.ev = res, nil
				if op.r.Event == nil || op.noEvent {
					continue
				}
				if e = op.r.Event(res); e == nil {
					continue
				}
				op.ev = e
			}
			if stmt == nil {
				stmt = tx.StmtContext(ctx, s.insertEvent)
			}
			t := e.Time
			if t.IsZero() {
				t = now
			}
			if err := stmt.QueryRowContext(ctx, micros(t), string(e.Kind), e.Version, e.Scheme,
				string(e.Network), e.Asset, e.Payer, e.PayTo, e.Amount, e.Resource, e.TxHash,
				e.Status, string(e.Reason), e.Message).Scan(&ids[i]); err != nil {
				switch {
				case !refusesRow(err):
					return err
				case w.rv != nil:
					return &eventRefused{op: w.rv, err: err}
				}
				return &groupcommit.ItemError{Index: i, Err: err}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, w := range ws {
		e := w.ev
		if w.rv != nil {
			e = w.rv.ev
		}
		if e != nil {
			e.ID = ids[i]
			if e.Time.IsZero() {
				e.Time = fromMicros(micros(now))
			}
		}
	}
	return nil
}

// refusesRow reports whether err is SQLite refusing one row for its
// content (too big, a constraint, a type mismatch) rather than a failure of
// the database.
func refusesRow(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH:
		return true
	}
	return false
}

// Events returns the events that f selects, newest first.
func (s *Store) Events(ctx context.Context, f ledger.EventFilter) ([]*ledger.Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events`
	var conds []string
	var args []any
	if f.Kind != "" {
		conds = append(conds, "kind = ?")
		args = append(args, string(f.Kind))
	}
	if f.Payer != "" {
		conds = append(conds, "payer = ?")
		args = append(args, f.Payer)
	}
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY time DESC, id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fail(ctx, "events", err)
	}
	defer rows.Close()
	var out []*ledger.Event
	for rows.Next() {
		var e ledger.Event
		var t int64
		var kind, network, reason string
		if err := rows.Scan(&e.ID, &t, &kind, &e.Version, &e.Scheme, &network, &e.Asset,
			&e.Payer, &e.PayTo, &e.Amount, &e.Resource, &e.TxHash, &e.Status, &reason,
			&e.Message); err != nil {
			return nil, fail(ctx, "events", err)
		}
		e.Time = fromMicros(t)
		e.Kind = ledger.EventKind(kind)
		e.Network = x402.Network(network)
		e.Reason = x402.Reason(reason)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "events", err)
	}
	return out, nil
}
