package sqlitequeue_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/queuetest"
	"github.com/go402/go402/x402http/sqlitequeue"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, request(t), func(t *testing.T) queuetest.Opener {
		path := filepath.Join(t.TempDir(), "q.db")
		return func(t *testing.T, o queuetest.Options) x402http.Queue {
			q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: path, Now: o.Now, Lease: o.Lease, PollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Close() })
			return q
		}
	})
}
