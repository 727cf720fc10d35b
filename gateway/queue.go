package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/pgqueue"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// closableQueue is a settlement queue the gateway opened.
type closableQueue interface {
	x402http.ExpiringQueue
	x402http.Queue
	Close() error
	// Ping checks the database (GET /ready).
	Ping(ctx context.Context) error
}

// set reports whether a settlement queue is configured.
func (q Queue) set() bool { return q.SQLite != "" || q.Postgres != "" }

// key identifies the queue q opens; "" for none.
func (q Queue) key() string {
	switch {
	case q.SQLite != "":
		return "sqlite\x00" + q.SQLite + fmt.Sprintf("\x00%d", q.LeaseSeconds)
	case q.Postgres != "":
		return "postgres\x00" + q.Postgres + "\x00" + q.PostgresSchema + fmt.Sprintf("\x00%d", q.LeaseSeconds)
	}
	return ""
}

// field is the key naming the queue's backend.
func (q Queue) field() string {
	if q.Postgres != "" {
		return "queue.postgres"
	}
	return "queue.sqlite"
}

// lease is the configured lease; 0 for the queue's default.
func (q Queue) lease() time.Duration { return time.Duration(q.LeaseSeconds) * time.Second }

// queue checks the queue section.
func (v *validator) queue() {
	q := v.c.Queue
	if s := q.SQLite; s == ":memory:" || strings.HasPrefix(s, "file:") || strings.Contains(s, "?") {
		v.fail("queue.sqlite", "must be a plain file path (no :memory:, file: URI or '?'): the queue must survive restarts")
	}
	if q.SQLite != "" && q.Postgres != "" {
		v.fail("queue", "set at most one of queue.sqlite and queue.postgres")
	}
	if p := q.Postgres; p != "" && !strings.HasPrefix(p, "postgres://") && !strings.HasPrefix(p, "postgresql://") && !strings.Contains(p, "=") {
		v.fail("queue.postgres", "must be a PostgreSQL connection string (postgres://user@host/db or key=value pairs), not %s", redact.DSN(p))
	}
	if q.PostgresSchema != "" && q.Postgres == "" {
		v.fail("queue.postgresSchema", "needs queue.postgres")
	}
	if q.LeaseSeconds < 0 || q.LeaseSeconds > 86400 {
		v.fail("queue.leaseSeconds", "must be between 0 (the default, 180) and 86400")
	}
}

// openQueue opens the settlement queue cfg names, once: a reload may not
// switch to another.
func (g *Gateway) openQueue(ctx context.Context, cfg *Config) error {
	q := cfg.Queue
	k := q.key()
	switch {
	case k == "" || k == g.queuePath:
		return nil
	case g.queue != nil:
		return cfg.fieldError(q.field(), "cannot change the settlement queue while running; restart to use another queue")
	}
	var (
		opened closableQueue
		err    error
	)
	if q.Postgres != "" {
		opened, err = pgqueue.Open(ctx, pgqueue.Config{URL: q.Postgres, Schema: q.PostgresSchema, Lease: q.lease()})
		if err != nil {
			// The error may quote the URL, password included.
			err = redact.Scrub(err, q.Postgres)
		}
	} else {
		opened, err = sqlitequeue.Open(ctx, sqlitequeue.Config{Path: q.SQLite, Lease: q.lease()})
	}
	if err != nil {
		return cfg.fieldError(q.field(), "%v", err)
	}
	g.queue, g.queuePath = opened, k
	g.metrics.watchQueue(opened, g.deps.Now, g.log)
	return nil
}
