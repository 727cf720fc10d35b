package sqlite

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

// benchEvent is a verify event the size of the facilitator's.
func benchEvent(i int64) *ledger.Event {
	return &ledger.Event{
		Time: time.Now(), Kind: ledger.EventVerify, Version: 2, Scheme: "exact", Network: "eip155:84532",
		Asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e", Payer: "0x857b06519e91e3a54538791bdbb0e22373e36b66",
		PayTo: "0x209693bc6afc0c5328ba36faf03c514ef312287c", Amount: "1000", Resource: fmt.Sprintf("https://api.example.com/item/%d", i),
		Status: "valid",
	}
}

// BenchmarkRecord records events one at a time: one transaction each.
func BenchmarkRecord(b *testing.B) {
	s := openPath(b, tempPath(b))
	defer s.Close()
	var i int64
	for b.Loop() {
		i++
		if err := s.Record(b.Context(), benchEvent(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecordParallel records events from many goroutines at once, as
// concurrent verifies do. Run with -cpu to vary GOMAXPROCS; SetParallelism
// puts 16 goroutines on each.
func BenchmarkRecordParallel(b *testing.B) {
	s := openPath(b, tempPath(b))
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Record(b.Context(), benchEvent(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
