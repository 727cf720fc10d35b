package payclaims

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClaim(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		name string
		op   func(*Set) bool
		want bool
	}{
		{"first claim", func(s *Set) bool { return s.Claim("k", t0.Add(time.Minute), t0) }, true},
		{"copy while claimed", func(s *Set) bool { return s.Claim("k", t0.Add(time.Minute), t0.Add(time.Second)) }, false},
		{"another key", func(s *Set) bool { return s.Claim("j", t0.Add(time.Minute), t0) }, true},
		{"after release", func(s *Set) bool { s.Release("j"); return s.Claim("j", t0.Add(time.Minute), t0) }, true},
		{"after expiry", func(s *Set) bool { return s.Claim("k", t0.Add(3*time.Minute), t0.Add(2*time.Minute)) }, true},
		{"hold under limit", func(s *Set) bool { return s.Hold("p", "k", t0.Add(time.Minute), t0, 1) }, true},
		{"hold at limit", func(s *Set) bool { return s.Hold("p", "j", t0.Add(time.Minute), t0, 1) }, false},
		{"hold after unhold", func(s *Set) bool { s.Unhold("p", "k"); return s.Hold("p", "j", t0.Add(time.Minute), t0, 1) }, true},
		{"hold after expiry", func(s *Set) bool { return s.Hold("p", "i", t0.Add(5*time.Minute), t0.Add(2*time.Minute), 1) }, true},
		{"no limit", func(s *Set) bool { return s.Hold("p", "h", t0.Add(time.Minute), t0, 0) }, true},
	}
	var s Set
	for _, st := range steps {
		if got := st.op(&s); got != st.want {
			t.Fatalf("%s: %v, want %v", st.name, got, st.want)
		}
	}
}

// Parallel claims of one key: exactly one wins.
func TestClaimConcurrent(t *testing.T) {
	var s Set
	now := time.Now()
	var won atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if s.Claim("key", now.Add(time.Minute), now) {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d claims won", won.Load())
	}
}
