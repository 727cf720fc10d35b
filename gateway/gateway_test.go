package gateway_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
)

// env is a devnet with an in-process facilitator on it. Account 0 pays,
// account 1 is paid, account 2 settles.
type env struct {
	dev     *devnet.Devnet
	fac     *facilitator.Facilitator
	payer   *ecdsa.PrivateKey
	payTo   common.Address
	network x402.Network
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3}})
	dev, accounts, fac, network := st.Devnet, st.Accounts, st.Facilitator, st.Network
	return &env{dev: dev, fac: fac, payer: accounts[0].PrivateKey, payTo: accounts[1].Address, network: network}
}

func (e *env) deps() gateway.Deps {
	return gateway.Deps{Facilitator: e.fac, Networks: []evm.NetworkConfig{e.dev.NetworkConfig()}}
}

// config parses a configuration: the facilitator, network and payTo of the
// environment, then body.
func (e *env) config(t *testing.T, body string) *gateway.Config {
	t.Helper()
	text := fmt.Sprintf("facilitator: {embedded: {devnet: true}}\nnetwork: %s\npayTo: %s\n%s", e.network, e.payTo.Hex(), body)
	c, err := gateway.Parse("gw.yaml", []byte(text), nil)
	if err != nil {
		t.Fatalf("parse:\n%v\n%s", err, text)
	}
	return c
}

// start serves a gateway for cfg.
func (e *env) start(t *testing.T, cfg *gateway.Config) (*gateway.Gateway, *httptest.Server) {
	t.Helper()
	g, err := gateway.New(t.Context(), cfg, e.deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (e *env) balance(t *testing.T, who common.Address) *big.Int {
	t.Helper()
	b, err := e.dev.BalanceOf(t.Context(), who)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) payerAddress() common.Address { return e.dev.Accounts()[0].Address }

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   string
}

// send sends a request; a rawPath, if set, is written as is on the
// request line.
func send(t *testing.T, method, base, rawPath string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = rawPath
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func get(t *testing.T, base, path string) response {
	t.Helper()
	return send(t, http.MethodGet, base, path, nil)
}

// required decodes the PAYMENT-REQUIRED header of a 402.
func required(t *testing.T, r response) *x402.PaymentRequired {
	t.Helper()
	if r.status != http.StatusPaymentRequired {
		t.Fatalf("status %d, want 402; body %s", r.status, r.body)
	}
	pr, err := x402.DecodePaymentRequired(r.header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatalf("PAYMENT-REQUIRED: %v", err)
	}
	return pr
}

// sign builds a PAYMENT-SIGNATURE paying the first option of pr.
func (e *env) sign(t *testing.T, pr *x402.PaymentRequired) http.Header {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(e.payer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	req := pr.Accepts[0]
	obj, err := c.CreatePayload(t.Context(), x402.V2, req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: req, Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{x402.HeaderPaymentSignature: {h}}
}

// pay requests path, expects 402, pays it and returns the paid response
// and the requirements paid.
func (e *env) pay(t *testing.T, base, path string) (response, x402.PaymentRequirements) {
	t.Helper()
	pr := required(t, get(t, base, path))
	return send(t, http.MethodGet, base, path, e.sign(t, pr)), pr.Accepts[0]
}

func settlement(t *testing.T, r response) *x402.SettleResponse {
	t.Helper()
	h := r.header.Get(x402.HeaderPaymentResponse)
	if h == "" {
		t.Fatalf("no PAYMENT-RESPONSE (status %d, body %s)", r.status, r.body)
	}
	s, err := x402.DecodePaymentResponse(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upstream is a test upstream recording the requests it gets.
type upstream struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	last  *http.Request
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"query":%q}`, r.URL.Path, r.URL.RawQuery)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func TestUpstreamRoute(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	_, srv := e.start(t, e.config(t, fmt.Sprintf(`
routes:
  - path: /api/*
    upstream: %[1]s
    price: $0.001
    description: Weather API
  - path: /v1/*
    upstream: %[1]s/base
    stripPrefix: true
  - path: /free/*
    upstream: %[1]s
`, up.URL)))

	// Without payment: 402, and the upstream is never called.
	r := get(t, srv.URL, "/api/weather?city=Paris")
	pr := required(t, r)
	if up.calls.Load() != 0 {
		t.Fatalf("upstream called %d times before payment", up.calls.Load())
	}
	acc := pr.Accepts[0]
	if acc.Amount != x402.NewAmount(1000) || !strings.EqualFold(acc.PayTo, e.payTo.Hex()) || acc.Network != e.network {
		t.Fatalf("requirements %+v", acc)
	}
	if pr.Resource.Description != "Weather API" {
		t.Errorf("resource %+v", pr.Resource)
	}

	before := e.balance(t, e.payTo)
	paid := send(t, http.MethodGet, srv.URL, "/api/weather?city=Paris", e.sign(t, pr))
	if paid.status != http.StatusOK || paid.body != `{"path":"/api/weather","query":"city=Paris"}` {
		t.Fatalf("paid: %d %s", paid.status, paid.body)
	}
	if s := settlement(t, paid); !s.Success || s.Transaction == "" {
		t.Fatalf("settlement %+v", s)
	}
	if got := new(big.Int).Sub(e.balance(t, e.payTo), before); got.Int64() != 1000 {
		t.Fatalf("payee received %s, want 1000", got)
	}
	in := up.lastRequest()
	if in.Header.Get(x402.HeaderPaymentSignature) != "" {
		t.Error("the payment header was forwarded upstream")
	}
	if in.Header.Get("X-Forwarded-For") == "" || in.Header.Get("X-Forwarded-Host") == "" {
		t.Errorf("X-Forwarded-* missing: %v", in.Header)
	}
	if in.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("upstream Host %q", in.Host)
	}

	// A free route proxies without payment; stripPrefix drops the prefix.
	calls := up.calls.Load()
	if r := get(t, srv.URL, "/free/x"); r.status != http.StatusOK || r.body != `{"path":"/free/x","query":""}` {
		t.Fatalf("free: %d %s", r.status, r.body)
	}
	if r := get(t, srv.URL, "/V1/a//b/"); r.status != http.StatusOK || r.body != `{"path":"/base/a/b/","query":""}` {
		t.Fatalf("stripPrefix: %d %s", r.status, r.body)
	}
	if up.calls.Load() != calls+2 {
		t.Fatal("free routes did not reach the upstream")
	}
	if r := get(t, srv.URL, "/nowhere"); r.status != http.StatusNotFound {
		t.Fatalf("unrouted: %d", r.status)
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	_, srv := e.start(t, e.config(t, fmt.Sprintf(`
healthPath: /healthz
routes:
  - path: /*
    upstream: %s
    price: $1
`, up.URL)))
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		if r := send(t, m, srv.URL, "/healthz", nil); r.status != http.StatusOK {
			t.Fatalf("%s /healthz: %d %s", m, r.status, r.body)
		}
	}
	if r := get(t, srv.URL, "/HealthZ/"); r.status != http.StatusOK {
		t.Fatalf("/HealthZ/: %d", r.status)
	}
	required(t, get(t, srv.URL, "/healthz/x"))
	if up.calls.Load() != 0 {
		t.Fatal("upstream called")
	}
}

// files creates root/reports (priced), root/public (free) and a secret
// beside them.
func files(t *testing.T) (root string, pdf []byte) {
	t.Helper()
	root = t.TempDir()
	pdf = []byte("%PDF-1.4\nquarterly numbers\n%%EOF\n")
	write := func(name, content string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("reports/q1.pdf", string(pdf))
	write("reports/.env", "SECRET=reports-dotfile")
	write("reports/sub/notes.txt", "notes")
	write("reports/.git/config", "SECRET=git")
	write("public/hello.txt", "hello")
	write("public/.hidden", "SECRET=public-dotfile")
	write("public/docs/index.html", "<h1>docs</h1>")
	write("public/sub/a.txt", "a")
	write("secret.txt", "SECRET=outside")
	if err := os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(root, "reports", "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(root, "public", "up")); err != nil {
		t.Fatal(err)
	}
	return root, pdf
}

func dirConfig(root string) string {
	return fmt.Sprintf(`
routes:
  - path: /reports/*
    dir: %[1]s/reports
    price: $0.05
    mimeType: application/pdf
  - path: /public/*
    dir: %[1]s/public
    listing: true
  - path: /unlisted/*
    dir: %[1]s/public
`, root)
}

func TestDirRoute(t *testing.T) {
	e := newEnv(t)
	root, pdf := files(t)
	_, srv := e.start(t, e.config(t, dirConfig(root)))

	before := e.balance(t, e.payTo)
	r, acc := e.pay(t, srv.URL, "/reports/q1.pdf")
	if r.status != http.StatusOK || r.body != string(pdf) {
		t.Fatalf("paid file: %d %q", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if acc.Amount != x402.NewAmount(50000) {
		t.Errorf("amount %v", acc.Amount)
	}
	if s := settlement(t, r); !s.Success {
		t.Fatalf("settlement %+v", s)
	}
	if got := new(big.Int).Sub(e.balance(t, e.payTo), before); got.Int64() != 50000 {
		t.Fatalf("payee received %s", got)
	}

	// Free directory with a listing: no dotfiles in it.
	if r := get(t, srv.URL, "/public/hello.txt"); r.status != http.StatusOK || r.body != "hello" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("free file: %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
	}
	r = get(t, srv.URL, "/public/")
	if r.status != http.StatusOK || !strings.Contains(r.body, `href="/public/hello.txt"`) || !strings.Contains(r.body, `href="/public/sub/"`) || strings.Contains(r.body, ".hidden") {
		t.Fatalf("listing: %d %s", r.status, r.body)
	}
	if r := get(t, srv.URL, "/public/docs/"); r.status != http.StatusOK || r.body != "<h1>docs</h1>" {
		t.Fatalf("index.html: %d %q", r.status, r.body)
	}
	// Listings are off unless enabled; index.html is still served.
	if r := get(t, srv.URL, "/unlisted/"); r.status != http.StatusNotFound {
		t.Fatalf("unlisted directory: %d %s", r.status, r.body)
	}
	if r := get(t, srv.URL, "/unlisted/sub"); r.status != http.StatusNotFound {
		t.Fatalf("unlisted directory: %d %s", r.status, r.body)
	}
	if r := get(t, srv.URL, "/unlisted/docs/"); r.status != http.StatusOK {
		t.Fatalf("unlisted index.html: %d %s", r.status, r.body)
	}
	// Only reads, refused before any payment.
	if r := send(t, http.MethodPost, srv.URL, "/reports/q1.pdf", nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", r.status)
	}
}

func TestPathTraversal(t *testing.T) {
	e := newEnv(t)
	root, _ := files(t)
	_, srv := e.start(t, e.config(t, dirConfig(root)))
	payer := e.balance(t, e.payerAddress())

	// Nothing outside the directories, and no dotfile, is ever served; a
	// priced file is never reached without payment. 402 means the path was
	// priced as a file of /reports.
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/reports/../secret.txt", http.StatusNotFound},
		{"/reports/%2e%2e/secret.txt", http.StatusNotFound},
		{"/reports/%2E%2E/secret.txt", http.StatusNotFound},
		{"/reports/..%2fsecret.txt", http.StatusNotFound},
		{"/reports/%2e%2e%2fsecret.txt", http.StatusNotFound},
		{"/reports/..%5csecret.txt", http.StatusNotFound},
		{"/reports/..\\secret.txt", http.StatusNotFound},
		{"/reports/sub/../../secret.txt", http.StatusNotFound},
		{"/public/../secret.txt", http.StatusNotFound},
		{"/public/%2e%2e/secret.txt", http.StatusNotFound},
		{"/public/..%2f..%2fsecret.txt", http.StatusNotFound},
		{"/public/up/secret.txt", http.StatusNotFound},
		{"/public/up/reports/q1.pdf", http.StatusNotFound},
		{"/public/.hidden", http.StatusNotFound},
		{"/public/%2ehidden", http.StatusNotFound},
		{"/public/sub/../.hidden", http.StatusNotFound},
		{"/unlisted/.hidden", http.StatusNotFound},
		{"//public/../reports/q1.pdf", http.StatusPaymentRequired},
		{"/public/../reports/q1.pdf", http.StatusPaymentRequired},
		{"/public/%2e%2e/reports/q1.pdf", http.StatusPaymentRequired},
		{"/public/..%2freports%2fq1.pdf", http.StatusPaymentRequired},
		{"/public/..%5creports%5cq1.pdf", http.StatusPaymentRequired},
		{"/public/./../REPORTS/q1.pdf", http.StatusPaymentRequired},
		{"/REPORTS/q1.pdf", http.StatusPaymentRequired},
		{"/reports//q1.pdf", http.StatusPaymentRequired},
		{"/reports/q1.pdf/", http.StatusPaymentRequired},
		{"/reports/.env", http.StatusPaymentRequired},
		{"/reports/.git/config", http.StatusPaymentRequired},
		{"/reports/link.txt", http.StatusPaymentRequired},
	} {
		p := tc.path
		r := get(t, srv.URL, p)
		if strings.Contains(r.body, "SECRET") || strings.Contains(r.body, "quarterly") {
			t.Errorf("%s: leaked: %d %q", p, r.status, r.body)
		}
		if r.status != tc.want {
			t.Errorf("%s: status %d, want %d", p, r.status, tc.want)
		}
		// Paying for a priced path still never reaches outside or a
		// dotfile; the failed answer is not charged.
		if r.status == http.StatusPaymentRequired && !strings.Contains(p, "q1.pdf") {
			paid := send(t, http.MethodGet, srv.URL, p, e.sign(t, required(t, r)))
			if paid.status != http.StatusNotFound || strings.Contains(paid.body, "SECRET") {
				t.Errorf("%s paid: %d %q", p, paid.status, paid.body)
			}
		}
	}
	if got := e.balance(t, e.payerAddress()); got.Cmp(payer) != 0 {
		t.Fatalf("payer charged %s for refused files", new(big.Int).Sub(payer, got))
	}
}

func TestUpstreamDownNotCharged(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	_, srv := e.start(t, e.config(t, fmt.Sprintf(`
routes:
  - path: /api/*
    upstream: %s
    price: $0.001
`, dead)))
	payer, payee := e.balance(t, e.payerAddress()), e.balance(t, e.payTo)
	r, _ := e.pay(t, srv.URL, "/api/x")
	if r.status != http.StatusBadGateway || !strings.Contains(r.body, "upstream unavailable") || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("upstream down: %d %q", r.status, r.body)
	}
	if r.header.Get(x402.HeaderPaymentResponse) != "" {
		t.Error("PAYMENT-RESPONSE on a failed request")
	}
	if e.balance(t, e.payerAddress()).Cmp(payer) != 0 || e.balance(t, e.payTo).Cmp(payee) != 0 {
		t.Fatal("the payment was settled although the upstream was down")
	}
}

func TestStreaming(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "data: second\n\n")
	}))
	t.Cleanup(up.Close)
	defer close(release)
	_, srv := e.start(t, e.config(t, fmt.Sprintf("routes:\n  - path: /events\n    upstream: %s\n", up.URL)))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q %v (not streamed?)", line, err)
	}
}

func TestServeThenSettle(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, fmt.Sprintf(`
queue: {sqlite: %s}
routes:
  - path: /stream/*
    upstream: %s
    price: $0.002
    policy: serve-then-settle
`, filepath.Join(t.TempDir(), "queue.db"), up.URL))
	g, srv := e.start(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.RunSettlements(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	before := e.balance(t, e.payTo)
	r, _ := e.pay(t, srv.URL, "/stream/x")
	if r.status != http.StatusOK || up.calls.Load() != 1 {
		t.Fatalf("paid: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for new(big.Int).Sub(e.balance(t, e.payTo), before).Int64() != 2000 {
		if time.Now().After(deadline) {
			t.Fatal("the queued payment was not settled")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReload(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	routes := func(price string) string {
		return fmt.Sprintf("routes:\n  - path: /api/*\n    upstream: %s\n    price: %s\n", up.URL, price)
	}
	g, srv := e.start(t, e.config(t, routes("$0.001")))
	amount := func() x402.Amount { return required(t, get(t, srv.URL, "/api/x")).Accepts[0].Amount }
	if a := amount(); a != x402.NewAmount(1000) {
		t.Fatalf("amount %v", a)
	}

	if err := g.Reload(t.Context(), e.config(t, routes("$0.002")+"  - path: /new/*\n    upstream: "+up.URL+"\n")); err != nil {
		t.Fatal(err)
	}
	if a := amount(); a != x402.NewAmount(2000) {
		t.Fatalf("after reload: amount %v", a)
	}
	if r := get(t, srv.URL, "/new/x"); r.status != http.StatusOK {
		t.Fatalf("added route: %d", r.status)
	}

	// A configuration that does not build is refused, naming the key and
	// its line; the old one keeps serving.
	bad := e.config(t, routes("$0.005")+"  - path: /other/*\n    upstream: "+up.URL+"\n    price: $0.001\n    network: eip155:999999\n")
	err := g.Reload(t.Context(), bad)
	var fe *gateway.FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "gw.yaml:11: routes[1].network: eip155:999999 is not a known network") {
		t.Fatalf("bad reload: %v", err)
	}
	if err := g.Reload(t.Context(), &gateway.Config{}); err == nil {
		t.Fatal("empty configuration accepted")
	}
	if a := amount(); a != x402.NewAmount(2000) {
		t.Fatalf("after a refused reload: amount %v", a)
	}
	if g.Config().Routes[0].Price != "$0.002" {
		t.Fatalf("Config() = %+v", g.Config().Routes)
	}
}

func TestReloadConcurrent(t *testing.T) {
	e := newEnv(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(slow.Close)
	cfgs := []*gateway.Config{
		e.config(t, fmt.Sprintf("routes:\n  - path: /free/*\n    upstream: %[1]s\n  - path: /api/*\n    upstream: %[1]s\n    price: $0.001\n", slow.URL)),
		e.config(t, fmt.Sprintf("routes:\n  - path: /api/*\n    upstream: %[1]s\n    price: $0.003\n  - path: /free/*\n    upstream: %[1]s\n", slow.URL)),
	}
	g, srv := e.start(t, cfgs[0])

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var requests atomic.Int64
	errs := make(chan error, 100)
	for i := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				p, want := "/free/x", http.StatusOK
				if i%2 == 1 {
					p, want = "/api/x", http.StatusPaymentRequired
				}
				resp, err := http.Get(srv.URL + p)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					errs <- fmt.Errorf("%s: %d", p, resp.StatusCode)
					return
				}
				requests.Add(1)
			}
		})
	}
	for i := range 30 {
		if err := g.Reload(t.Context(), cfgs[i%2]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if requests.Load() == 0 {
		t.Fatal("no request completed")
	}
}
