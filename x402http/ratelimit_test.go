package x402http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// fakeClock is an injectable clock the tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// counter is a handler counting its calls.
func counter(n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, "served")
	})
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// statuses sends GET path once per header and returns the statuses.
func statuses(t *testing.T, base, path string, hs ...http.Header) []int {
	t.Helper()
	var out []int
	for _, h := range hs {
		out = append(out, do(t, http.MethodGet, base, path, h).status)
	}
	return out
}

func TestRateLimits(t *testing.T) {
	s := newShop(t)
	perMinute := func(n int) x402http.Limit { return x402http.Limit{Requests: n, Per: time.Minute} }

	t.Run("per IP: 429 with Retry-After, refilled by the clock", func(t *testing.T) {
		clk := newFakeClock()
		var n atomic.Int64
		_, srv := s.serve(t, x402http.Config{Now: clk.Now, Routes: []x402http.Route{
			{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: x402http.RateLimits{PerIP: perMinute(2)}},
		}}, counter(&n))
		for i, want := range []int{402, 402, 429, 429} {
			e := do(t, http.MethodGet, srv.URL, "/a", nil)
			if e.status != want {
				t.Fatalf("request %d: status %d, want %d", i, e.status, want)
			}
			if want == 429 && e.header.Get("Retry-After") != "30" {
				t.Fatalf("Retry-After %q, want 30 (one request per 30 s)", e.header.Get("Retry-After"))
			}
		}
		clk.advance(29 * time.Second)
		if e := do(t, http.MethodGet, srv.URL, "/a", nil); e.status != 429 || e.header.Get("Retry-After") != "1" {
			t.Fatalf("after 29 s: %d Retry-After %q", e.status, e.header.Get("Retry-After"))
		}
		clk.advance(time.Second)
		if got := statuses(t, srv.URL, "/a", nil, nil); got[0] != 402 || got[1] != 429 {
			t.Fatalf("after 30 s: %v, want one more request", got)
		}
		if n.Load() != 0 {
			t.Fatal("the handler ran for an unpaid request")
		}
	})

	t.Run("per route independence and a shared limiter", func(t *testing.T) {
		clk := newFakeClock()
		shared, err := x402http.NewRateLimiter(x402http.RateLimits{PerIP: perMinute(3)})
		if err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		_, srv := s.serve(t, x402http.Config{Now: clk.Now, RateLimiter: shared, Routes: []x402http.Route{
			{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: x402http.RateLimits{PerIP: perMinute(1)}},
			{Pattern: "GET /b", Accepts: s.option("$0.001"), RateLimits: x402http.RateLimits{PerIP: perMinute(1)}},
			{Pattern: "GET /c", Accepts: s.option("$0.001")},
		}}, counter(&n))
		a := statuses(t, srv.URL, "/a", nil, nil)
		b := statuses(t, srv.URL, "/b", nil)
		c := statuses(t, srv.URL, "/c", nil, nil)
		// /a: one, then its route's limit; /b has its own bucket. The
		// route's bucket is checked first, so the shared one (3 a minute
		// across routes) counted /a, /b and the first /c.
		if a[0] != 402 || a[1] != 429 || b[0] != 402 {
			t.Fatalf("/a %v /b %v: each route has its own bucket", a, b)
		}
		if c[0] != 402 || c[1] != 429 {
			t.Fatalf("/c %v: the shared limiter (3 a minute across routes) should refuse the 5th request", c)
		}
	})

	t.Run("trusted proxies", func(t *testing.T) {
		clk := newFakeClock()
		limits := x402http.RateLimits{PerIP: perMinute(1)}
		var n atomic.Int64
		_, untrusted := s.serve(t, x402http.Config{Now: clk.Now, Routes: []x402http.Route{
			{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: limits},
		}}, counter(&n))
		// An untrusted peer's X-Forwarded-For and Forwarded are ignored:
		// spoofing a new address each time does not reset its bucket.
		got := statuses(t, untrusted.URL, "/a",
			hdr("X-Forwarded-For", "198.51.100.1"), hdr("X-Forwarded-For", "198.51.100.2"), hdr("Forwarded", "for=198.51.100.3"))
		if fmt.Sprint(got) != "[402 429 429]" {
			t.Fatalf("untrusted peer: %v, want [402 429 429]", got)
		}
		_, trusted := s.serve(t, x402http.Config{Now: clk.Now, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Routes: []x402http.Route{
			{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: limits},
		}}, counter(&n))
		got = statuses(t, trusted.URL, "/a",
			hdr("X-Forwarded-For", "198.51.100.1"),
			hdr("X-Forwarded-For", "198.51.100.1"),
			hdr("X-Forwarded-For", "198.51.100.2"),
			// The rightmost untrusted hop is the client; what it claims
			// to its left is not believed.
			hdr("X-Forwarded-For", "203.0.113.9, 198.51.100.1"),
			hdr("X-Forwarded-For", "198.51.100.3, 127.0.0.5"),
			hdr("Forwarded", `for="[2001:db8::1]:4711";proto=https, for=127.0.0.9`),
			hdr("Forwarded", `for=2001:db8::2`),      // malformed (unquoted IPv6): the proxy itself
			hdr("Forwarded", `for="[2001:db8::ff]"`), // the same /64 as 2001:db8::1
			nil,                                      // no header: the proxy's own address, already used above
		)
		if want := "[402 429 402 429 402 402 402 429 429]"; fmt.Sprint(got) != want {
			t.Fatalf("trusted proxy: %v, want %s", got, want)
		}
	})

	t.Run("free tier then 402", func(t *testing.T) {
		clk := newFakeClock()
		var n atomic.Int64
		_, srv := s.serve(t, x402http.Config{Now: clk.Now, Routes: []x402http.Route{
			{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: x402http.RateLimits{Free: x402http.FreeTier{Requests: 2, Window: time.Hour}}},
			{Pattern: "GET /b", Accepts: s.option("$0.001")},
		}}, counter(&n))
		if got := fmt.Sprint(statuses(t, srv.URL, "/a", nil, nil, nil)); got != "[200 200 402]" || n.Load() != 2 {
			t.Fatalf("free tier of 2: %s, handler ran %d times", got, n.Load())
		}
		if e := do(t, http.MethodGet, srv.URL, "/b", nil); e.status != 402 {
			t.Fatalf("a route without a free tier: %d", e.status)
		}
		clk.advance(time.Hour)
		if got := fmt.Sprint(statuses(t, srv.URL, "/a", nil, nil, nil)); got != "[200 200 402]" {
			t.Fatalf("next window: %s", got)
		}
	})

	t.Run("eviction bounds the tables", func(t *testing.T) {
		clk := newFakeClock()
		shared, err := x402http.NewRateLimiter(x402http.RateLimits{PerIP: x402http.Limit{Requests: 1, Per: time.Second}, Free: x402http.FreeTier{Requests: 1, Window: time.Second}, MaxEntries: 50})
		if err != nil {
			t.Fatal(err)
		}
		var n atomic.Int64
		_, srv := s.serve(t, x402http.Config{Now: clk.Now, RateLimiter: shared, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Routes: []x402http.Route{{Pattern: "GET /a", Accepts: s.option("$0.001")}}}, counter(&n))
		for i := range 400 {
			ip := fmt.Sprintf("10.%d.%d.1", i/256, i%256)
			if e := do(t, http.MethodGet, srv.URL, "/a", hdr("X-Forwarded-For", ip)); e.status != 200 {
				t.Fatalf("a new address's first request: %d", e.status)
			}
			if l := shared.Len(); l > 100 {
				t.Fatalf("after %d addresses the limiter holds %d entries, bound 2×50", i+1, l)
			}
		}
		if shared.Len() != 100 {
			t.Fatalf("Len %d, want the bound (100) under an address spray", shared.Len())
		}
		// Idle entries go: an hour later, each request drops idle ones.
		clk.advance(time.Hour)
		for i := range 30 {
			do(t, http.MethodGet, srv.URL, "/a", hdr("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i)))
		}
		if l := shared.Len(); l != 60 {
			t.Fatalf("idle entries kept: %d", l)
		}
	})

	t.Run("configuration errors", func(t *testing.T) {
		for _, l := range []x402http.RateLimits{
			{PerIP: x402http.Limit{Requests: 1}},
			{PerPayer: x402http.Limit{Requests: -1, Per: time.Second}},
			{PerIP: x402http.Limit{Burst: 3}},
			{Free: x402http.FreeTier{Requests: 3}},
			{MaxEntries: -1},
		} {
			_, err := x402http.New(x402http.Config{Facilitator: s.fac, Schemes: s.schemes(t), Routes: []x402http.Route{{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: l}}})
			if err == nil || !strings.Contains(err.Error(), "rate limits") {
				t.Errorf("%+v: err %v", l, err)
			}
			if _, err := x402http.NewRateLimiter(l); err == nil {
				t.Errorf("NewRateLimiter(%+v) accepted", l)
			}
		}
	})
}

// TestRateLimitPerPayer: a payer over its limit is answered 429 after its
// payment is verified, and the payment is not used: nothing settles, and
// the same payment is accepted once the bucket refills. Another payer
// from the same address is not limited.
func TestRateLimitPerPayer(t *testing.T) {
	s := newShop(t)
	clk := newFakeClock()
	var n atomic.Int64
	_, srv := s.serve(t, x402http.Config{Now: clk.Now, Routes: []x402http.Route{
		{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: x402http.RateLimits{PerPayer: x402http.Limit{Requests: 1, Per: time.Minute}}},
	}}, counter(&n))
	pr := required(t, do(t, http.MethodGet, srv.URL, "/a", nil))
	before := s.balance(t)
	if e := do(t, http.MethodGet, srv.URL, "/a", hdr(x402.HeaderPaymentSignature, s.payment(t, pr))); e.status != 200 {
		t.Fatalf("first payment: %d %s", e.status, e.body)
	}
	paid := s.balance(t)
	if paid.Cmp(before) <= 0 {
		t.Fatal("the first payment did not settle")
	}
	second := s.payment(t, pr)
	e := do(t, http.MethodGet, srv.URL, "/a", hdr(x402.HeaderPaymentSignature, second))
	if e.status != 429 || e.header.Get("Retry-After") != "60" {
		t.Fatalf("second payment within the minute: %d Retry-After %q", e.status, e.header.Get("Retry-After"))
	}
	if s.balance(t).Cmp(paid) != 0 || n.Load() != 1 {
		t.Fatalf("the limited request was charged or served (handler ran %d times)", n.Load())
	}

	// Another payer, through a go402 client, from the same address.
	other := goClient(t, s, 2)
	resp, err := other.HTTPClient().Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another payer: %d", resp.StatusCode)
	}
	afterOther := s.balance(t)

	// The refused payment was not used: accepted once the bucket refills.
	clk.advance(time.Minute)
	if e := do(t, http.MethodGet, srv.URL, "/a", hdr(x402.HeaderPaymentSignature, second)); e.status != 200 {
		t.Fatalf("the refused payment, a minute later: %d %s", e.status, e.body)
	}
	if s.balance(t).Cmp(afterOther) <= 0 {
		t.Fatal("the refused payment did not settle when sent again")
	}
	// The go402 client of the first payer is limited again at once.
	resp, err = goClient(t, s, 0).HTTPClient().Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("payer 0 through the go402 client: %d", resp.StatusCode)
	}
}

// goClient is a go402 client paying from devnet account i.
func goClient(t *testing.T, s *shop, i int) *client.Client {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(s.accts[i].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(s.stack.Networks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(signer, client.Config{Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.01"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRateLimitPerPayerHostile: payments naming a payer with a forged
// signature do not spend that payer's tokens, and concurrent payments of
// one payer over its limit settle exactly once.
func TestRateLimitPerPayerHostile(t *testing.T) {
	s := newShop(t)
	clk := newFakeClock()
	var n atomic.Int64
	_, srv := s.serve(t, x402http.Config{Now: clk.Now, Routes: []x402http.Route{
		{Pattern: "GET /a", Accepts: s.option("$0.001"), RateLimits: x402http.RateLimits{PerPayer: x402http.Limit{Requests: 1, Per: time.Minute}}},
	}}, counter(&n))
	pr := required(t, do(t, http.MethodGet, srv.URL, "/a", nil))

	// Forged: payer 0's authorization with payer 2's signature.
	real, err := s.client.CreatePayload(t.Context(), 2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	forgedBy, err := s.otherPayer(t).client.CreatePayload(t.Context(), 2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]json.RawMessage
	if json.Unmarshal(real, &a) != nil || json.Unmarshal(forgedBy, &b) != nil {
		t.Fatal("payloads are not JSON objects")
	}
	a["signature"] = b["signature"]
	forged, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: 2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: forged})
		if err != nil {
			t.Fatal(err)
		}
		if e := do(t, http.MethodGet, srv.URL, "/a", hdr(x402.HeaderPaymentSignature, h)); e.status != 402 {
			t.Fatalf("forged payment: %d %s", e.status, e.body)
		}
	}

	// Concurrent genuine payments of payer 0: one token, one settlement.
	before := s.balance(t)
	const k = 4
	headers := make([]string, k)
	for i := range headers {
		headers[i] = s.payment(t, pr)
	}
	codes := make([]int, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() {
			codes[i] = do(t, http.MethodGet, srv.URL, "/a", hdr(x402.HeaderPaymentSignature, headers[i])).status
		})
	}
	wg.Wait()
	ok, limited := 0, 0
	for _, c := range codes {
		switch c {
		case 200:
			ok++
		case 429:
			limited++
		}
	}
	if ok != 1 || limited != k-1 || n.Load() != 1 {
		t.Fatalf("statuses %v (handler ran %d times): want one 200 and %d 429s", codes, n.Load(), k-1)
	}
	diff := new(big.Int).Sub(s.balance(t), before)
	if diff.Cmp(big.NewInt(1000)) != 0 {
		t.Fatalf("the payee received %s, want one price (1000)", diff)
	}
}
