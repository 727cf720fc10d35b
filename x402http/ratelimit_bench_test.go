package x402http

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRateLimiterSpray takes a token for a new address each time, as
// under an address spray: the table stays at its bound, and the report
// gives the heap held by a full table per entry.
func BenchmarkRateLimiterSpray(b *testing.B) {
	const max = 65536
	rl, err := NewRateLimiter(RateLimits{PerIP: Limit{Requests: 10, Per: time.Minute}, MaxEntries: max})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1<<18)
	for i := range keys {
		keys[i] = "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	now := time.Now()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rl.takeIP(keys[i&(len(keys)-1)], now)
	}
	b.StopTimer()
	if n := rl.Len(); n > max {
		b.Fatalf("%d entries, bound %d", n, max)
	}
	if b.N >= max && runtimeHeap() > before.HeapAlloc {
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(rl.Len()), "heapB/entry")
	}
}

func runtimeHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
