package sqlite

import (
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
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

// benchReservation is the reservation of verify number i: each of its own
// payer, so that every one fits.
func benchReservation(i int64) *ledger.Reservation {
	return &ledger.Reservation{
		Key: x402.SettlementKey{Network: "eip155:84532", Asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
			Payer: fmt.Sprintf("0x%040x", i), Nonce: fmt.Sprintf("0x%064x", i)},
		Amount: big.NewInt(1000), Balance: big.NewInt(1000), Expires: time.Now().Add(time.Hour),
	}
}

// BenchmarkVerifyWritesParallel is what a valid verify writes to the
// ledger since verifies reserve funds: a reservation and, in the same
// write (Reservation.Event), the verify event, from many goroutines at
// once. Compare with BenchmarkRecordParallel, which is what a verify
// wrote before reservations.
func BenchmarkVerifyWritesParallel(b *testing.B) {
	benchVerifyWrites(b, func(i int64) *ledger.Reservation { return benchReservation(i) })
}

// BenchmarkVerifyWritesOnePayerParallel is BenchmarkVerifyWritesParallel
// with every reservation of one payer, none settled: the payer's holds
// grow with b.N, what a verify reads of them must not.
func BenchmarkVerifyWritesOnePayerParallel(b *testing.B) {
	benchVerifyWrites(b, func(i int64) *ledger.Reservation {
		r := benchReservation(i)
		r.Key.Payer = "0x857b06519e91e3a54538791bdbb0e22373e36b66"
		r.Balance = big.NewInt(1 << 62)
		return r
	})
}

func benchVerifyWrites(b *testing.B, newReservation func(int64) *ledger.Reservation) {
	s := openPath(b, tempPath(b))
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := newReservation(i)
			r.Event = func(res ledger.ReserveResult) *ledger.Event { return benchEvent(i) }
			res, err := s.Reserve(b.Context(), r)
			if err != nil || !res.Reserved {
				b.Errorf("Reserve: %+v, %v", res, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}
