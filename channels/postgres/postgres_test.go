package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/channelstest"
	"github.com/go402/go402/channels/postgres"
)

const defaultTestURL = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// TestURL is the PostgreSQL server of the tests: GO402_TEST_POSTGRES_URL,
// else the local one.
func testURL() string {
	if u := os.Getenv("GO402_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultTestURL
}

// needServer skips the test when no server answers, or fails it in CI.
func needServer(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL())
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("PostgreSQL is not reachable (%v); CI must run the PostgreSQL tests", err)
	}
	t.Skipf("PostgreSQL is not reachable (%v); skipping", err)
}

// newSchema returns a schema of the test's own, dropped when it ends.
func newSchema(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "channelstest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

func newDB(t *testing.T) func(t *testing.T) channels.Store {
	needServer(t)
	schema := newSchema(t)
	return func(t *testing.T) channels.Store {
		t.Helper()
		s, err := postgres.Open(t.Context(), postgres.Config{URL: testURL(), Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	channelstest.Run(t, channelstest.Options{NewDB: newDB, Shared: true})
}
