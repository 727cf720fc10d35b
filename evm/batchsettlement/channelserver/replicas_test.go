package channelserver_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/postgres"
)

// testPostgres returns the URL of the test PostgreSQL server and a schema
// of the test's own (dropped when it ends), or skips the test when no
// server answers (fails it in CI).
func testPostgres(t *testing.T) (string, string) {
	t.Helper()
	url := os.Getenv("GO402_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is not reachable (%v); CI must run the PostgreSQL tests", err)
		}
		t.Skipf("PostgreSQL is not reachable (%v); skipping", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "channelserver_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, url); err == nil {
			_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			conn.Close(ctx)
		}
	})
	return url, schema
}

func openPostgres(t *testing.T, url, schema string) channels.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Two server replicas, each with its own store on one PostgreSQL
// database, serve 24 concurrent requests of one channel (each following the corrective 402s until served): every voucher is
// counted once (the compare-and-set), none is served unpaid (the lease).
func TestTwoReplicasOnePostgres(t *testing.T) {
	url, schema := testPostgres(t)
	auth := newKey(t)
	a := newWorld(t, worldOptions{store: openPostgres(t, url, schema), auth: auth})
	b := newWorld(t, worldOptions{store: openPostgres(t, url, schema), auth: auth, receiver: a.receiver})
	p := a.openChannel(1_000_000)
	runConcurrent(t, []*world{a, b}, p, 24)
	if a.served.Load() == 0 || b.served.Load() == 0 {
		t.Fatalf("served %d and %d: both replicas should have served", a.served.Load(), b.served.Load())
	}
	// One replica's replay of a voucher the other charged is refused.
	h := a.header(p, p.key, times(24))
	if r, err := b.pay(b.http.Client(), h); err != nil || r.status != 402 {
		t.Fatalf("replaying the last voucher on the other replica: %+v %v", r, err)
	}
}
