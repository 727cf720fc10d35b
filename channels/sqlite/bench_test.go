package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/channelstest"
	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/x402"
)

// BenchmarkCommit64 measures commits of 64 concurrent channels, each
// committed durably (group commit).
//
//	go test -run '^$' -bench Commit64 ./channels/sqlite/
func BenchmarkCommit64(b *testing.B) {
	const workers = 64
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "c.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]string, workers)
	for i := range ids {
		ch := channelstest.NewChannel(i)
		ids[i] = ch.ID
		if err := s.Create(context.Background(), ch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for k := i; k < b.N; k += workers {
				from := uint64(k / workers)
				c := channels.Charge{ID: ids[i], Expected: x402.NewAmount(from), Charged: x402.NewAmount(from + 1), SignedMax: x402.NewAmount(from + 1), Signature: "0x", At: time.Now()}
				if _, err := s.Commit(context.Background(), c); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
