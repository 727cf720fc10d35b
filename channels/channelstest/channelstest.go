// Package channelstest is the conformance suite of [channels.Store]
// implementations: every implementation runs [Run] in its tests.
package channelstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/x402"
)

// Options describe the implementation under test.
type Options struct {
	// NewDB returns a function that opens a Store on a database of the
	// test's own: every call of open reaches the same database. The
	// caller closes the stores it opens.
	NewDB func(t *testing.T) (open func(t *testing.T) channels.Store)
	// Shared says several Stores may be open on one database at once
	// (replicas); the suite then also runs its cross-store tests.
	Shared bool
}

// Run runs the suite.
func Run(t *testing.T, o Options) {
	tests := []struct {
		name string
		f    func(*testing.T, Options)
	}{
		{"CreateGet", testCreateGet},
		{"Lease", testLease},
		{"CommitCAS", testCommitCAS},
		{"ConcurrentCommits", testConcurrentCommits},
		{"ChargeChain", testChargeChain},
		{"SyncAndClaims", testSyncAndClaims},
		{"Durable", testDurable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, o) })
	}
	if o.Shared {
		t.Run("Replicas", func(t *testing.T) { testReplicas(t, o) })
	}
}

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// NewChannel returns a channel record with id n, for tests.
func NewChannel(n int) channels.Channel {
	return channels.Channel{
		ID: fmt.Sprintf("0x%064X", n), Network: "eip155:84532", Config: []byte(`{"payer":"0x01"}`),
		Onchain: channels.Onchain{Balance: x402.NewAmount(1_000_000), SyncedAt: t0},
	}
}

func openOne(t *testing.T, o Options) channels.Store {
	t.Helper()
	s := o.NewDB(t)(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func charge(id, holder string, from, to uint64) channels.Charge {
	return channels.Charge{ID: id, Holder: holder, Expected: x402.NewAmount(from), Charged: x402.NewAmount(to),
		SignedMax: x402.NewAmount(to), Signature: fmt.Sprintf("0xsig%d", to), At: t0}
}

func testCreateGet(t *testing.T, o Options) {
	s, ctx := openOne(t, o), t.Context()
	ch := NewChannel(1)
	must(t, s.Create(ctx, ch))
	if err := s.Create(ctx, ch); !errors.Is(err, channels.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	got, err := s.Get(ctx, ch.ID) // the id is stored lower-case; lookups ignore case
	must(t, err)
	if got.Onchain.Balance != ch.Onchain.Balance || string(got.Config) != string(ch.Config) || got.Network != ch.Network || !got.Onchain.SyncedAt.Equal(t0) {
		t.Fatalf("Get = %+v, want %+v", got, ch)
	}
	if _, err := s.Get(ctx, "0xdead"); !errors.Is(err, channels.ErrNotFound) {
		t.Fatalf("Get of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.Reserve(ctx, "0xdead", "h", t0.Add(time.Minute), t0); !errors.Is(err, channels.ErrNotFound) {
		t.Fatalf("Reserve of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.Commit(ctx, charge("0xdead", "h", 0, 1)); !errors.Is(err, channels.ErrNotFound) {
		t.Fatalf("Commit of an unknown id: %v, want ErrNotFound", err)
	}
}

func testLease(t *testing.T, o Options) {
	s, ctx := openOne(t, o), t.Context()
	ch := NewChannel(2)
	must(t, s.Create(ctx, ch))
	if _, err := s.Reserve(ctx, ch.ID, "a", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, ch.ID, "b", t0.Add(time.Minute), t0.Add(time.Second)); !errors.Is(err, channels.ErrBusy) {
		t.Fatalf("Reserve while another holds a live lease: %v, want ErrBusy", err)
	}
	if _, err := s.Reserve(ctx, ch.ID, "a", t0.Add(2*time.Minute), t0.Add(time.Second)); err != nil {
		t.Fatalf("Reserve again by the holder: %v", err)
	}
	must(t, s.Release(ctx, ch.ID, "b")) // not the holder: no effect
	if _, err := s.Reserve(ctx, ch.ID, "b", t0.Add(3*time.Minute), t0.Add(time.Minute)); !errors.Is(err, channels.ErrBusy) {
		t.Fatalf("Reserve after another's Release: %v, want ErrBusy", err)
	}
	// An expired lease is taken over.
	if _, err := s.Reserve(ctx, ch.ID, "b", t0.Add(4*time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("Reserve once the lease expired: %v", err)
	}
	must(t, s.Release(ctx, ch.ID, "b"))
	if _, err := s.Reserve(ctx, ch.ID, "c", t0.Add(time.Minute), t0); err != nil {
		t.Fatalf("Reserve after Release: %v", err)
	}
}

func testCommitCAS(t *testing.T, o Options) {
	s, ctx := openOne(t, o), t.Context()
	ch := NewChannel(3)
	must(t, s.Create(ctx, ch))
	if _, err := s.Reserve(ctx, ch.ID, "a", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Commit(ctx, charge(ch.ID, "a", 0, 10))
	must(t, err)
	if got.Charged != x402.NewAmount(10) || got.SignedMax != x402.NewAmount(10) || got.Signature != "0xsig10" {
		t.Fatalf("Commit returned %+v", got)
	}
	// The commit ended a's lease.
	if _, err := s.Reserve(ctx, ch.ID, "b", t0.Add(time.Minute), t0); err != nil {
		t.Fatalf("Reserve after the holder committed: %v", err)
	}
	// A stale expected amount (a replay of the first voucher) fails.
	if _, err := s.Commit(ctx, charge(ch.ID, "b", 0, 10)); !errors.Is(err, channels.ErrConflict) {
		t.Fatalf("Commit on a stale amount: %v, want ErrConflict", err)
	}
	if _, err := s.Commit(ctx, charge(ch.ID, "b", 10, 20)); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, ch.ID)
	must(t, err)
	if got.Charged != x402.NewAmount(20) || !got.LastRequestAt.Equal(t0) || got.LeaseHolder != "" {
		t.Fatalf("after two commits: %+v", got)
	}
}

// testConcurrentCommits: of many commits on the same expected amount,
// exactly one succeeds.
func testConcurrentCommits(t *testing.T, o Options) {
	s, ctx := openOne(t, o), t.Context()
	ch := NewChannel(4)
	must(t, s.Create(ctx, ch))
	var ok, conflict atomic.Int32
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := s.Commit(ctx, charge(ch.ID, fmt.Sprint(i), 0, 10))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, channels.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 31 {
		t.Fatalf("%d commits succeeded and %d conflicted; want 1 and 31", ok.Load(), conflict.Load())
	}
}

// chargeLoop charges one unit at a time under the lease, n times, and
// returns how many commits succeeded.
func chargeLoop(ctx context.Context, s channels.Store, id, holder string, n int) (int, error) {
	done := 0
	for range n {
		for {
			now := time.Now()
			ch, err := s.Reserve(ctx, id, holder, now.Add(time.Minute), now)
			if errors.Is(err, channels.ErrBusy) {
				time.Sleep(50 * time.Microsecond)
				continue
			}
			if err != nil {
				return done, err
			}
			next, _ := ch.Charged.Add(x402.NewAmount(1))
			c := channels.Charge{ID: id, Holder: holder, Expected: ch.Charged, Charged: next, SignedMax: next, Signature: "0x", At: now}
			if _, err := s.Commit(ctx, c); err != nil {
				return done, fmt.Errorf("commit under the lease: %w", err)
			}
			done++
			break
		}
	}
	return done, nil
}

// testChargeChain: concurrent holders charging under the lease never
// conflict, and the total is exact.
func testChargeChain(t *testing.T, o Options) {
	s, ctx := openOne(t, o), t.Context()
	ch := NewChannel(5)
	must(t, s.Create(ctx, ch))
	runChain(t, ctx, []channels.Store{s}, ch.ID, 8, 10)
}

func runChain(t *testing.T, ctx context.Context, stores []channels.Store, id string, workers, each int) {
	t.Helper()
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			n, err := chargeLoop(ctx, stores[i%len(stores)], id, fmt.Sprint("w", i), each)
			total.Add(int64(n))
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := stores[0].Get(ctx, id)
	must(t, err)
	if want := x402.NewAmount(uint64(workers * each)); got.Charged != want || total.Load() != int64(workers*each) {
		t.Fatalf("charged %s after %d commits; want %s", got.Charged, total.Load(), want)
	}
}

func testSyncAndClaims(t *testing.T, o Options) {
	s, ctx := openOne(t, o), t.Context()
	a, b := NewChannel(6), NewChannel(7)
	must(t, s.Create(ctx, a))
	must(t, s.Create(ctx, b))
	if list, err := s.Unclaimed(ctx); err != nil || len(list) != 0 {
		t.Fatalf("Unclaimed of new channels: %v, %v", list, err)
	}
	_, err := s.Commit(ctx, charge(a.ID, "", 0, 30))
	must(t, err)
	list, err := s.Unclaimed(ctx)
	must(t, err)
	if len(list) != 1 || list[0].ID != a.ID && list[0].ID != lower(a.ID) || list[0].Charged != x402.NewAmount(30) {
		t.Fatalf("Unclaimed = %+v; want channel a at 30", list)
	}
	must(t, s.RecordClaim(ctx, a.ID, x402.NewAmount(30)))
	must(t, s.RecordClaim(ctx, a.ID, x402.NewAmount(10))) // never lowers
	got, err := s.Get(ctx, a.ID)
	must(t, err)
	if got.Onchain.TotalClaimed != x402.NewAmount(30) {
		t.Fatalf("totalClaimed = %s, want 30", got.Onchain.TotalClaimed)
	}
	if list, err := s.Unclaimed(ctx); err != nil || len(list) != 0 {
		t.Fatalf("Unclaimed after the claim: %v, %v", list, err)
	}
	sync := channels.Onchain{Balance: x402.NewAmount(5), TotalClaimed: x402.NewAmount(1), WithdrawRequestedAt: 1700000000, RefundNonce: 3, SyncedAt: t0.Add(time.Hour)}
	must(t, s.Sync(ctx, a.ID, sync))
	got, err = s.Get(ctx, a.ID)
	must(t, err)
	sync.TotalClaimed = x402.NewAmount(30)
	if got.Onchain != sync {
		t.Fatalf("after Sync: %+v, want %+v (totalClaimed never lowered)", got.Onchain, sync)
	}
	if err := s.Sync(ctx, "0xdead", sync); !errors.Is(err, channels.ErrNotFound) {
		t.Fatalf("Sync of an unknown channel: %v", err)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// testDurable: what was committed is there after the store is closed and
// opened again.
func testDurable(t *testing.T, o Options) {
	open := o.NewDB(t)
	s := open(t)
	ctx := t.Context()
	ch := NewChannel(8)
	must(t, s.Create(ctx, ch))
	_, err := s.Commit(ctx, charge(ch.ID, "", 0, 7))
	must(t, err)
	must(t, s.Close())
	s = open(t)
	defer s.Close()
	got, err := s.Get(ctx, ch.ID)
	must(t, err)
	if got.Charged != x402.NewAmount(7) || got.Signature != "0xsig7" {
		t.Fatalf("after reopening: %+v", got)
	}
	if list, err := s.Unclaimed(ctx); err != nil || len(list) != 1 {
		t.Fatalf("Unclaimed after reopening: %v, %v", list, err)
	}
}

// testReplicas: two stores on one database, charging one channel at once,
// count every charge once.
func testReplicas(t *testing.T, o Options) {
	open := o.NewDB(t)
	a, b := open(t), open(t)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	ch := NewChannel(9)
	must(t, a.Create(ctx, ch))
	if err := b.Create(ctx, ch); !errors.Is(err, channels.ErrExists) {
		t.Fatalf("Create on the second replica: %v, want ErrExists", err)
	}
	if _, err := a.Reserve(ctx, ch.ID, "a", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, ch.ID, "b", t0.Add(time.Minute), t0); !errors.Is(err, channels.ErrBusy) {
		t.Fatalf("Reserve on the other replica: %v, want ErrBusy", err)
	}
	must(t, a.Release(ctx, ch.ID, "a"))
	runChain(t, ctx, []channels.Store{a, b}, ch.ID, 8, 10)
}
