package channelserver_test

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// BenchmarkPaidVoucherHTTP measures paid calls through the x402http
// middleware over HTTP on loopback: each of 64 clients pays its own
// channel with consecutive vouchers (signed beforehand: the payer's
// signing is not the server's cost), each verified locally and its charge
// committed durably (SQLite, synchronous=FULL, group commit) before the
// answer leaves. calls/s is the throughput of the whole machine, client
// included.
//
//	go test -run '^$' -bench PaidVoucherHTTP -benchtime 20000x ./evm/batchsettlement/channelserver/
func BenchmarkPaidVoucherHTTP(b *testing.B) {
	const clients = 64
	w := newWorld(b, worldOptions{})
	per := b.N/clients + 1
	payers := make([]*payer, clients)
	headers := make([][]string, clients)
	for i := range payers {
		payers[i] = w.openChannel(uint64(per+1) * 1000)
		headers[i] = make([]string, per)
		for k := range per {
			headers[i][k] = w.header(payers[i], payers[i].key, times(uint64(k+1)))
		}
	}
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Go(func() {
			for k := range n {
				r, err := w.pay(client, headers[i][k])
				if err != nil || r.status != http.StatusOK {
					b.Errorf("client %d voucher %d: %d %q %v", i, k+1, r.status, r.body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	if st, ok := w.store.(interface{ Stats() (int64, int64) }); ok {
		tx, n := st.Stats()
		b.ReportMetric(float64(n)/float64(max(tx, 1)), "writes/tx")
	}
	if got := w.served.Load(); got != int64(b.N) {
		b.Fatalf("served %d of %d", got, b.N)
	}
}
