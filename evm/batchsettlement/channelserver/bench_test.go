package channelserver_test

import (
	"context"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go402/go402/x402"
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
	start, cpu0 := time.Now(), cpuTime(b)
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
	// CPU time of the process (server and clients) per call: on a loaded
	// machine, wall-clock throughput says more about the neighbours.
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
	if st, ok := w.store.(interface{ Stats() (int64, int64) }); ok {
		tx, n := st.Stats()
		b.ReportMetric(float64(n)/float64(max(tx, 1)), "writes/tx")
	}
	if got := w.served.Load(); got != int64(b.N) {
		b.Fatalf("served %d of %d", got, b.N)
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAdmitCommit measures the channel server alone, at the seam:
// decoding the voucher payload, checking it against the channel (one
// signature recovery), reserving the channel and committing the charge
// durably (SQLite, group commit), for 64 channels in parallel, without
// HTTP.
//
//	go test -run '^$' -bench AdmitCommit -benchtime 20000x ./evm/batchsettlement/channelserver/
func BenchmarkAdmitCommit(b *testing.B) {
	const clients = 64
	w := newWorld(b, worldOptions{})
	per := b.N/clients + 1
	pays := make([][]*x402.Payment, clients)
	for i := range pays {
		p := w.openChannel(uint64(per+1) * 1000)
		pays[i] = make([]*x402.Payment, per)
		for k := range per {
			dec, err := x402.DecodePayment(w.header(p, p.key, times(uint64(k+1))))
			if err != nil {
				b.Fatal(err)
			}
			pays[i][k], err = x402.NewFacilitatorRequest(dec.V2, &w.req).Payment()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	var wg sync.WaitGroup
	for i := range clients {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Go(func() {
			for k := range n {
				adm, err := w.srv.Admit(ctx, pays[i][k])
				if err != nil || adm.Charge == nil {
					b.Errorf("admit %d/%d: %+v %v", i, k, adm, err)
					return
				}
				if sr, err := adm.Charge.Commit(ctx); err != nil || !sr.Success {
					b.Errorf("commit %d/%d: %+v %v", i, k, sr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
}
