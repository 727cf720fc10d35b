package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// loadResult is one facilitator endpoint driven with a fixed number of
// requests at a fixed concurrency.
type loadResult struct {
	Name        string  `json:"name"`
	Requests    int     `json:"requests"`
	Concurrency int     `json:"concurrency"`
	OK          int     `json:"ok"`
	Failed      int     `json:"failed"`
	FirstError  string  `json:"firstError,omitempty"`
	ElapsedMs   float64 `json:"elapsedMs"`
	PerSecond   float64 `json:"perSecond"` // successful requests per second
	P50Ms       float64 `json:"p50Ms"`
	P99Ms       float64 `json:"p99Ms"`
	MaxMs       float64 `json:"maxMs"`
}

// settleResult adds what the chain says about the settlements.
type settleResult struct {
	loadResult
	Transactions  int    `json:"transactions"`  // distinct transactions that carried the payments
	GasUsed       uint64 `json:"gasUsed"`       // total gas of those transactions
	GasPerPayment uint64 `json:"gasPerPayment"` // GasUsed / OK
}

// checkFunc reads one response body; it returns the settlement
// transaction (settle) or "" (verify), or why the answer is not a success.
type checkFunc func(status int, body []byte) (string, error)

func checkVerify(status int, body []byte) (string, error) {
	var v x402.VerifyResponse
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("status %d: %.200s", status, body)
	}
	if status != http.StatusOK || !v.IsValid {
		return "", fmt.Errorf("status %d, invalid: %s %s", status, v.InvalidReason, v.InvalidMessage)
	}
	return "", nil
}

func checkSettle(status int, body []byte) (string, error) {
	var s x402.SettleResponse
	if err := json.Unmarshal(body, &s); err != nil {
		return "", fmt.Errorf("status %d: %.200s", status, body)
	}
	if status != http.StatusOK || !s.Success || s.Transaction == "" {
		return "", fmt.Errorf("status %d, not settled: %s %s", status, s.ErrorReason, s.ErrorMessage)
	}
	return s.Transaction, nil
}

// newLoadClient is an HTTP client keeping conc connections to one host.
func newLoadClient(conc int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// runLoad POSTs every body to url once, conc at a time, and returns the
// throughput and latency of the whole batch with the transaction of each
// successful request (settle). It stops early if ctx ends.
func runLoad(ctx context.Context, hc *http.Client, name, url string, bodies [][]byte, conc int, check checkFunc) (loadResult, []string) {
	res := loadResult{Name: name, Requests: len(bodies), Concurrency: conc}
	lat := make([]time.Duration, len(bodies))
	txs := make([]string, len(bodies))
	errs := make([]error, len(bodies))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, len(bodies)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				if ctx.Err() != nil {
					errs[i] = ctx.Err()
					continue
				}
				t0 := time.Now()
				txs[i], errs[i] = post(ctx, hc, url, bodies[i], check)
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	ok := lat[:0:0]
	var tx []string
	for i, err := range errs {
		if err != nil {
			res.Failed++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			continue
		}
		res.OK++
		ok = append(ok, lat[i])
		if txs[i] != "" {
			tx = append(tx, txs[i])
		}
	}
	res.ElapsedMs = ms(elapsed)
	if elapsed > 0 {
		res.PerSecond = math.Round(float64(res.OK)/elapsed.Seconds()*10) / 10
	}
	res.P50Ms, res.P99Ms, res.MaxMs = percentiles(ok)
	return res, tx
}

func post(ctx context.Context, hc *http.Client, url string, body []byte, check checkFunc) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	return check(resp.StatusCode, b)
}

// percentiles returns the p50, p99 and maximum of d in milliseconds
// (nearest rank).
func percentiles(d []time.Duration) (p50, p99, maxMs float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	return ms(rank(0.50)), ms(rank(0.99)), ms(s[len(s)-1])
}

// ms is d in milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// gasOf reads the receipts of the distinct transactions in txs.
func gasOf(ctx context.Context, d *devnet.Devnet, txs []string) (n int, gas uint64, err error) {
	seen := map[string]bool{}
	for _, h := range txs {
		if seen[h] {
			continue
		}
		seen[h] = true
		r, err := d.Client().TransactionReceipt(ctx, common.HexToHash(h))
		if err != nil {
			return n, gas, fmt.Errorf("receipt of %s: %w", h, err)
		}
		n++
		gas += r.GasUsed
	}
	return n, gas, nil
}

// signPayments signs n distinct valid v2 payments of price to payTo,
// round-robin over the payers, and returns them as facilitator request
// bodies ({x402Version, paymentPayload, paymentRequirements}).
func signPayments(ctx context.Context, nets *evm.Networks, network x402.Network, payers []devnet.Account, payTo common.Address, n int) ([][]byte, error) {
	price, err := x402.ParsePrice("$0.001")
	if err != nil {
		return nil, err
	}
	req, err := nets.Requirements(network, price, payTo, benchValiditySeconds)
	if err != nil {
		return nil, err
	}
	clients := make([]*evm.ExactClient, len(payers))
	for i, a := range payers {
		s, err := evm.NewPrivateKeySignerFromECDSA(a.PrivateKey)
		if err != nil {
			return nil, err
		}
		if clients[i], err = evm.NewExactClient(evm.ExactClientConfig{Signer: s}); err != nil {
			return nil, err
		}
	}
	bodies := make([][]byte, n)
	for i := range bodies {
		obj, err := clients[i%len(clients)].CreatePayload(ctx, x402.V2, req)
		if err != nil {
			return nil, err
		}
		r := req
		p := &x402.PaymentPayload{X402Version: x402.V2, Accepted: r, Payload: obj, Resource: &x402.ResourceInfo{URL: "http://127.0.0.1/bench", MimeType: "application/json"}}
		if bodies[i], err = json.Marshal(x402.NewFacilitatorRequest(p, &r)); err != nil {
			return nil, err
		}
	}
	return bodies, nil
}

// benchOp is the cost of one call of an in-process operation.
type benchOp struct {
	NsPerOp     float64 `json:"nsPerOp"`
	AllocsPerOp float64 `json:"allocsPerOp"`
	BytesPerOp  float64 `json:"bytesPerOp"`
	Iterations  int     `json:"iterations"`
}

// measure runs f in growing batches until one batch lasts at least d, and
// reports that batch's time and allocations per call (as testing.B does,
// with a duration the caller chooses).
func measure(d time.Duration, f func() error) (benchOp, error) {
	for range 100 { // warm-up
		if err := f(); err != nil {
			return benchOp{}, err
		}
	}
	n := 100
	for {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		for range n {
			if err := f(); err != nil {
				return benchOp{}, err
			}
		}
		el := time.Since(t0)
		runtime.ReadMemStats(&after)
		if el >= d || n >= 1<<28 {
			fn := float64(n)
			return benchOp{
				NsPerOp:     math.Round(float64(el.Nanoseconds())/fn*10) / 10,
				AllocsPerOp: math.Round(float64(after.Mallocs-before.Mallocs)/fn*10) / 10,
				BytesPerOp:  math.Round(float64(after.TotalAlloc-before.TotalAlloc)/fn*10) / 10,
				Iterations:  n,
			}, nil
		}
		grow := 100 * n
		if el > 0 {
			grow = int(float64(n) * 1.2 * float64(d) / float64(el))
		}
		n = min(max(grow, n+1), 100*n)
	}
}
