package attack_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/ledger/postgres"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// price is what the attacked routes charge: $0.01, 10000 atomic units of
// the devnet's 6-decimal token.
const (
	price       = "$0.01"
	priceAtomic = 10_000
)

// chain is an embedded devnet with its networks. The last account settles
// (facilitators may take others), account 1 is the seller.
type chain struct {
	dev     *devnet.Devnet
	nets    *evm.Networks
	accts   []devnet.Account
	network x402.Network
	payee   common.Address
}

func newChain(t testing.TB, cfg devnet.Config) *chain {
	t.Helper()
	d, err := devnet.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("starting the devnet: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	nets := &evm.Networks{}
	if err := d.Register(nets); err != nil {
		t.Fatal(err)
	}
	accts := d.Accounts()
	return &chain{dev: d, nets: nets, accts: accts, network: x402.Network(d.Network()), payee: accts[1].Address}
}

// payer is an attacker's wallet: a fresh key holding exactly the amount
// minted to it (and no ETH: the payer needs none).
type payer struct {
	key    *ecdsa.PrivateKey
	addr   common.Address
	client *evm.ExactClient
}

func (c *chain) newPayer(t testing.TB, atomic int64) *payer {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := payerFromKey(t, key)
	if atomic > 0 {
		if err := c.dev.Mint(t.Context(), p.addr, big.NewInt(atomic)); err != nil {
			t.Fatalf("minting: %v", err)
		}
	}
	return p
}

func payerFromKey(t testing.TB, key *ecdsa.PrivateKey) *payer {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	return &payer{key: key, addr: signer.Address(), client: ec}
}

// sign signs a new authorization (a fresh random nonce) for the first
// option of pr, as a v2 PAYMENT-SIGNATURE value.
func (p *payer) sign(t testing.TB, pr *x402.PaymentRequired) string {
	t.Helper()
	obj, err := p.client.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// requirements are the devnet's terms for amount atomic units paid to
// payTo, as a v2 facilitator request would carry them.
func (c *chain) requirements(amount uint64, payTo common.Address) x402.PaymentRequirements {
	tok := c.dev.NetworkConfig().Assets[0]
	return x402.PaymentRequirements{
		Scheme: evm.SchemeExact, Network: c.network, Amount: x402.NewAmount(amount),
		Asset: tok.Address.Hex(), PayTo: payTo.Hex(), MaxTimeoutSeconds: 300, Extra: tok.Extra(),
	}
}

func (c *chain) balance(t testing.TB, who common.Address) *big.Int {
	t.Helper()
	b, err := c.dev.BalanceOf(t.Context(), who)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// txCount is how many transactions account has sent (its pending nonce):
// for a facilitator's signer, the settlements it broadcast.
func (c *chain) txCount(t testing.TB, account common.Address) uint64 {
	t.Helper()
	n, err := c.dev.Client().PendingNonceAt(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ledgerKind names the database of a facilitator's ledger.
type ledgerKind string

const (
	onSQLite   ledgerKind = "sqlite"
	onPostgres ledgerKind = "postgres"
)

var ledgers = []ledgerKind{onSQLite, onPostgres}

// facOptions configure a facilitator of the suite.
type facOptions struct {
	ledger   ledgerKind
	schema   string // PostgreSQL schema; "" means a new one
	signer   int    // devnet account index; 0 means the last
	instance string
	backend  evm.ChainBackend // nil means the devnet's client
	// sqlitePath is the SQLite ledger's file; "" means a new one.
	sqlitePath string
}

// facilitator runs a facilitator service on c with the default
// configuration and the ledger of opts; it is shut down when the test
// ends.
func (c *chain) facilitator(t testing.TB, opts facOptions) *service.Service {
	t.Helper()
	i := opts.signer
	if i == 0 {
		i = len(c.accts) - 1
	}
	so := stacktest.Options{Instance: opts.instance, Backend: opts.backend, SQLitePath: opts.sqlitePath, PollInterval: 20 * time.Millisecond}
	if opts.ledger == onPostgres {
		schema := opts.schema
		if schema == "" {
			schema = newSchema(t)
		}
		st, err := postgres.Open(t.Context(), postgres.Config{URL: postgresURL(), Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatalf("opening the PostgreSQL ledger: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() })
		so.Store = st
	}
	return stacktest.FacilitatorOn(t, c.dev, c.accts[i], so)
}

// serveHTTP serves h on loopback until the test ends.
func serveHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// remoteFacilitator is a facilitator/remote client of svc served over
// HTTP on loopback.
func remoteFacilitator(t testing.TB, svc *service.Service) x402.Facilitator {
	t.Helper()
	rc, err := remote.New(remote.Config{URL: serveHTTP(t, svc.Handler())})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// openQueue opens the sqlitequeue at path (a new file in the test's
// directory if path is "").
func openQueue(t testing.TB, path string) *sqlitequeue.Queue {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "queue.db")
	}
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: path, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// counted is a handler that counts its executions and answers 200.
type counted struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(w http.ResponseWriter, r *http.Request) // nil: "paid content"
}

func (h *counted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.calls == nil {
		h.calls = map[string]int{}
	}
	h.calls[r.URL.Path]++
	h.mu.Unlock()
	if h.fn != nil {
		h.fn(w, r)
		return
	}
	io.WriteString(w, "paid content")
}

func (h *counted) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.calls {
		n += c
	}
	return n
}

// server puts next behind the x402http middleware with the given
// facilitator, routes and queue (nil for none), default everything else.
func (c *chain) server(t testing.TB, fac x402.Facilitator, q x402http.Queue, next http.Handler, routes ...x402http.Route) (*x402http.Middleware, string) {
	t.Helper()
	cfg := x402http.Config{Facilitator: fac, Schemes: evm.ServerSchemes(c.nets), Routes: routes}
	if q != nil {
		cfg.Queue = q
	}
	mw, err := x402http.New(cfg)
	if err != nil {
		t.Fatalf("building the middleware: %v", err)
	}
	return mw, serveHTTP(t, mw.Handler(next))
}

// route is a priced GET route for pattern, paid to the chain's payee.
func (c *chain) route(pattern string, policy x402http.Policy) x402http.Route {
	return x402http.Route{
		Pattern: pattern, Policy: policy, MaxTimeoutSeconds: 300,
		Accepts: []x402http.PaymentOption{{Network: c.network, Price: price, PayTo: c.payee.Hex()}},
	}
}

// answer is a finished HTTP exchange.
type answer struct {
	status int
	header http.Header
	body   string
	err    error
}

// get sends GET url with an optional PAYMENT-SIGNATURE.
func get(ctx context.Context, url, payment string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return answer{err: err}
	}
	if payment != "" {
		req.Header.Set(x402.HeaderPaymentSignature, payment)
	}
	return do(req)
}

func do(req *http.Request) answer {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// offer fetches url unpaid and decodes its 402.
func offer(t testing.TB, url string) *x402.PaymentRequired {
	t.Helper()
	a := get(t.Context(), url, "")
	if a.err != nil || a.status != http.StatusPaymentRequired {
		t.Fatalf("%s unpaid: %d %v", url, a.status, a.err)
	}
	pr, err := x402.DecodePaymentRequired(a.header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// attempt is one request of a burst: a URL and the payment it carries.
type attempt struct{ url, payment string }

// burst sends every attempt at once (released together) and returns the
// answers in order.
func burst(t testing.TB, attempts []attempt) []answer {
	t.Helper()
	out := make([]answer, len(attempts))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Go(func() {
			<-start
			out[i] = get(t.Context(), a.url, a.payment)
		})
	}
	close(start)
	wg.Wait()
	for i, a := range out {
		if a.err != nil {
			t.Fatalf("request %d: %v", i, a.err)
		}
	}
	return out
}

// served counts the 200 answers.
func served(as []answer) int {
	n := 0
	for _, a := range as {
		if a.status == http.StatusOK {
			n++
		}
	}
	return n
}

func statuses(as []answer) []int {
	s := make([]int, len(as))
	for i, a := range as {
		s[i] = a.status
	}
	return s
}

// paidServer is a server behind the x402http middleware with the default
// configuration and a sqlitequeue of its own (or shared through its path).
type paidServer struct {
	mw  *x402http.Middleware
	q   *sqlitequeue.Queue
	url string
}

// paidServer serves next behind the middleware with fac, routes and a
// queue at queuePath ("" for a new file).
func (c *chain) paidServer(t testing.TB, fac x402.Facilitator, queuePath string, next http.Handler, routes ...x402http.Route) *paidServer {
	t.Helper()
	q := openQueue(t, queuePath)
	mw, url := c.server(t, fac, q, next, routes...)
	return &paidServer{mw: mw, q: q, url: url}
}

// sent is how many transactions the signers sent in all.
func (c *chain) sent(t testing.TB, signers []common.Address) uint64 {
	t.Helper()
	var n uint64
	for _, s := range signers {
		n += c.txCount(t, s)
	}
	return n
}

// drain runs the server's settlement worker until its queue holds no
// queued item (every settlement done or failed), or fails the test after
// deadline. It returns the done and failed counts.
func (s *paidServer) drain(t testing.TB, deadline time.Duration) (done, failed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- s.mw.RunSettlements(ctx) }()
	defer func() { cancel(); <-stopped }()
	for {
		queued, ok, bad, err := s.q.Counts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			return ok, bad
		}
		select {
		case <-ctx.Done():
			t.Fatalf("settlements not finished after %v: %d queued, %d done, %d failed", deadline, queued, ok, bad)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// postgresURL is the test server, as in the ledger/postgres tests.
func postgresURL() string {
	if u := os.Getenv("GO402_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://root@127.0.0.1:5432/test?sslmode=disable"
}

// newSchema creates a PostgreSQL schema of the test's own, dropped when it
// ends. It skips the test when no server answers, and fails it under CI
// (CI set), where the PostgreSQL tests must run.
func newSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresURL())
	if err == nil {
		err = conn.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is not reachable (%v); CI must run the PostgreSQL tests", err)
		}
		t.Skipf("PostgreSQL is not reachable (%v); set GO402_TEST_POSTGRES_URL to run this test", err)
	}
	defer conn.Close(context.Background())
	schema := fmt.Sprintf("attack_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, postgresURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}
