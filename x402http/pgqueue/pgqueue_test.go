package pgqueue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/pgqueue"
	"github.com/go402/go402/x402http/queuetest"
)

func request(t *testing.T) *x402.FacilitatorRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "x402", "testdata", "golden", "v2_facilitator_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := x402.DecodeFacilitatorRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConformance(t *testing.T) {
	url := testURL(t)
	queuetest.Run(t, request(t), func(t *testing.T) queuetest.Opener {
		schema := newSchema(t, url)
		return func(t *testing.T, o queuetest.Options) x402http.Queue {
			q, err := pgqueue.Open(t.Context(), pgqueue.Config{URL: url, Schema: schema, MaxConns: 8, Now: o.Now, Lease: o.Lease, PollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Close() })
			return q
		}
	})
}

// Replicas starting at once on a new schema create the tables once.
func TestConcurrentOpen(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			q, err := pgqueue.Open(t.Context(), pgqueue.Config{URL: url, Schema: schema, MaxConns: 2})
			if err == nil {
				err = q.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	q, err := pgqueue.Open(t.Context(), pgqueue.Config{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	_ = q.Close()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `INSERT INTO `+pgx.Identifier{schema, "pgqueue_schema"}.Sanitize()+` VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pgqueue.Open(t.Context(), pgqueue.Config{URL: url, Schema: schema}); err == nil {
		t.Fatal("Open of a queue at schema version 99 succeeded")
	}
	if _, err := pgqueue.Open(t.Context(), pgqueue.Config{}); err == nil {
		t.Fatal("Open without a URL succeeded")
	}
}

// testURL returns the test server's URL, skipping the test when no
// PostgreSQL server answers, or failing it under CI.
func testURL(t *testing.T) string {
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
	if err == nil {
		return url
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("PostgreSQL is not reachable (%v); CI must run the PostgreSQL tests: start a server or set GO402_TEST_POSTGRES_URL", err)
	}
	t.Skipf("PostgreSQL is not reachable (%v); skipping", err)
	return ""
}

// newSchema returns a schema of the test's own, dropped when it ends.
func newSchema(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "pgqueuetest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
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

func TestResponseStore(t *testing.T) {
	url := testURL(t)
	queuetest.RunResponseStore(t, func(t *testing.T, now func() time.Time) x402http.ResponseStore {
		q, err := pgqueue.Open(t.Context(), pgqueue.Config{URL: url, Schema: newSchema(t, url), MaxConns: 8, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Close() })
		return q
	})
}

// Ping answers while the pool is open (the gateway's readiness check),
// and fails once it is closed.
func TestPing(t *testing.T) {
	url := testURL(t)
	q, err := pgqueue.Open(t.Context(), pgqueue.Config{URL: url, Schema: newSchema(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ping(t.Context()); err != nil {
		t.Fatalf("open: %v", err)
	}
	_ = q.Close()
	if err := q.Ping(t.Context()); err == nil {
		t.Fatal("closed: Ping succeeded")
	}
}
