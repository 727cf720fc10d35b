package sqlite

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// BenchmarkGetMissing is the read every verify makes: is this
// authorization being settled? Almost always it is not.
func BenchmarkGetMissing(b *testing.B) {
	s := openPath(b, tempPath(b))
	defer s.Close()
	var i atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := x402.SettlementKey{Network: "eip155:84532", Asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
				Payer: "0x857b06519e91e3a54538791bdbb0e22373e36b66", Nonce: fmt.Sprintf("0x%064x", i.Add(1))}
			if _, err := s.Get(b.Context(), key); !errors.Is(err, ledger.ErrNotFound) {
				b.Fatal(err)
			}
		}
	})
}
