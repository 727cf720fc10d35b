package facilitator_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/postgres"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
	"github.com/jackc/pgx/v5"
)

// env is a devnet, a SQLite ledger and go402 facilitators on them.
// Accounts: 0 and 2 pay, 1 is paid, 3 and 4 are facilitator keys.
type env struct {
	net   *devnet.Devnet
	req   x402.PaymentRequirements
	payee common.Address
	// open returns a new handle on the test's one ledger database, as a
	// separate facilitator process would have.
	open func(t *testing.T) ledger.Store
	// backdate makes the settlement of key look last changed d earlier,
	// as an abandoned one would (writing the database directly).
	backdate func(t *testing.T, key x402.SettlementKey, d time.Duration)
}

// sqliteLedger points e at a SQLite ledger file in a temporary directory.
func (e *env) sqliteLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	e.open = func(t *testing.T) ledger.Store {
		t.Helper()
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e.backdate = func(t *testing.T, key x402.SettlementKey, d time.Duration) {
		t.Helper()
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		res, err := db.ExecContext(t.Context(), `UPDATE settlements SET updated_at = updated_at - ? WHERE payer = ? AND nonce = ?`,
			d.Microseconds(), key.Payer, key.Nonce)
		if n, _ := rowsAffected(res, err); n != 1 {
			t.Fatalf("backdating %v: %d rows, %v", key, n, err)
		}
	}
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// stores runs f once per ledger implementation.
func stores(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		e := newEnv(t)
		e.sqliteLedger(t)
		f(t, e)
	})
	t.Run("postgres", func(t *testing.T) {
		url := postgresURL(t)
		e := newEnv(t)
		schema := fmt.Sprintf("facilitator_test_%d_%d", os.Getpid(), time.Now().UnixNano())
		t.Cleanup(func() {
			if conn, err := pgx.Connect(context.Background(), url); err == nil {
				_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
				_ = conn.Close(context.Background())
			}
		})
		e.open = func(t *testing.T) ledger.Store {
			t.Helper()
			s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		e.backdate = func(t *testing.T, key x402.SettlementKey, d time.Duration) {
			t.Helper()
			conn, err := pgx.Connect(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			tag, err := conn.Exec(t.Context(), `UPDATE `+pgx.Identifier{schema, "settlements"}.Sanitize()+
				` SET updated_at = updated_at - make_interval(secs => $1) WHERE payer = $2 AND nonce = $3`,
				d.Seconds(), key.Payer, key.Nonce)
			if err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("backdating %v: %v %v", key, tag, err)
			}
		}
		f(t, e)
	})
}

// postgresURL returns the test server's URL, skipping (outside CI) or
// failing (in CI) when no server answers.
func postgresURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("GO402_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL not reachable at %s (%v); CI must run the PostgreSQL tests", url, err)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v); set GO402_TEST_POSTGRES_URL to run these tests", url, err)
	}
	_ = conn.Close(ctx)
	return url
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, devnet.Config{Accounts: 5})
}

// newEnvWith is newEnv on a devnet configured by dc.
func newEnvWith(t *testing.T, dc devnet.Config) *env {
	t.Helper()
	net, err := devnet.Start(t.Context(), dc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = net.Close() })
	nets := &evm.Networks{}
	if err := net.Register(nets); err != nil {
		t.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.001")
	e := &env{net: net, payee: net.Accounts()[1].Address}
	if e.req, err = nets.Requirements(x402.Network(net.Network()), price, e.payee, 60); err != nil {
		t.Fatal(err)
	}
	return e
}

// sqliteEnv is an env on a devnet configured by dc, with a SQLite ledger.
func sqliteEnv(t *testing.T, dc devnet.Config) *env {
	t.Helper()
	e := newEnvWith(t, dc)
	e.sqliteLedger(t)
	return e
}

// facilitator builds a facilitator instance with its own store handle on
// the shared ledger database and its own settlement key.
func (e *env) facilitator(t *testing.T, keyIndex int) (*facilitator.Facilitator, ledger.Store) {
	t.Helper()
	return e.facilitatorWith(t, keyIndex, nil, nil)
}

// facilitatorWith is facilitator with the scheme reading the chain through
// backend (if not nil) and the Config adjusted by adjust (if not nil).
func (e *env) facilitatorWith(t *testing.T, keyIndex int, backend evm.ChainBackend, adjust func(*facilitator.Config)) (*facilitator.Facilitator, ledger.Store) {
	t.Helper()
	ctx := t.Context()
	store := e.open(t)
	t.Cleanup(func() { _ = store.Close() })
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: e.net.Client(), Key: e.net.Accounts()[keyIndex].PrivateKey, ChainID: e.net.ChainID(), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if backend == nil {
		backend = e.net.Client()
	}
	network := x402.Network(e.net.Network())
	scheme, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: network, Backend: backend, Sender: sender, Assets: e.net.NetworkConfig().Assets})
	if err != nil {
		t.Fatal(err)
	}
	cfg := facilitator.Config{Store: store}
	if adjust != nil {
		adjust(&cfg)
	}
	fac, err := facilitator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{x402.V1, x402.V2} {
		if err := fac.Register(v, network, scheme); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = fac.Shutdown(context.Background()) })
	return fac, store
}

func (e *env) sign(t *testing.T, key *ecdsa.PrivateKey, req x402.PaymentRequirements) *x402.FacilitatorRequest {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.CreatePayload(t.Context(), x402.V2, req)
	if err != nil {
		t.Fatal(err)
	}
	return x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj,
		Resource: &x402.ResourceInfo{URL: "https://api.example.com/weather"}}, &req)
}

// nonces returns the pending nonces of accounts.
func (e *env) nonces(t *testing.T, accounts []common.Address) []uint64 {
	t.Helper()
	out := make([]uint64, len(accounts))
	for i, a := range accounts {
		n, err := e.net.Client().PendingNonceAt(t.Context(), a)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = n
	}
	return out
}

// sentSince returns how many transactions accounts sent since their
// nonces were before.
func (e *env) sentSince(t *testing.T, accounts []common.Address, before []uint64) uint64 {
	t.Helper()
	var n uint64
	for i, after := range e.nonces(t, accounts) {
		n += after - before[i]
	}
	return n
}

func (e *env) balance(t *testing.T, who common.Address) *big.Int {
	t.Helper()
	b, err := e.net.BalanceOf(t.Context(), who)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url string, body []byte, header http.Header) (int, map[string]any) {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: status %d, body not JSON: %q", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHTTPEndpoints(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		fac, _ := e.facilitator(t, 3)
		h, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		payer := e.net.Accounts()[0]

		good := mustJSON(t, e.sign(t, payer.PrivateKey, e.req))
		tampered := strings.ReplaceAll(string(good), `"amount":"1000"`, `"amount":"999"`) // in accepted and in the requirements
		upto := e.req
		upto.Scheme = "upto"
		elsewhere := e.req
		elsewhere.Network = "eip155:1"
		tests := []struct {
			name, path, body string
			status           int
			field            string // isValid / success
			want             any
			reason           string
			contentType      string // "" for application/json
		}{
			{"verify valid", "/verify", string(good), 200, "isValid", true, "", ""},
			{"verify tampered amount", "/verify", tampered, 200, "isValid", false, string(x402.ReasonExactEVMValueMismatch), ""},
			{"verify malformed JSON", "/verify", `{"x402Version":2,`, 400, "isValid", false, string(x402.ReasonInvalidPayload), ""},
			{"verify unknown version", "/verify", strings.ReplaceAll(string(good), `"x402Version":2`, `"x402Version":3`), 400, "isValid", false, string(x402.ReasonInvalidX402Version), ""},
			{"verify unsupported scheme", "/verify", string(mustJSON(t, x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: 2, Accepted: upto, Payload: x402.Object(`{}`)}, &upto))), 200, "isValid", false, string(x402.ReasonUnsupportedScheme), ""},
			{"verify unsupported network", "/verify", string(mustJSON(t, x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: 2, Accepted: elsewhere, Payload: x402.Object(`{}`)}, &elsewhere))), 200, "isValid", false, string(x402.ReasonInvalidNetwork), ""},
			{"settle malformed", "/settle", `[]`, 400, "success", false, string(x402.ReasonInvalidPayload), ""},
			{"settle tampered", "/settle", tampered, 200, "success", false, string(x402.ReasonExactEVMValueMismatch), ""},
			// A browser may send text/plain cross-site without a preflight:
			// such a body is refused before it is read, and settles nothing.
			{"settle as text/plain", "/settle", string(good), 415, "success", false, string(x402.ReasonInvalidPayload), "text/plain"},
			{"settle as form", "/settle", string(good), 415, "success", false, string(x402.ReasonInvalidPayload), "application/x-www-form-urlencoded"},
			{"verify without a content type", "/verify", string(good), 415, "isValid", false, string(x402.ReasonInvalidPayload), "-"},
			{"verify as JSON with a charset", "/verify", string(good), 200, "isValid", true, "", "Application/JSON; charset=utf-8"},
			{"settle valid", "/settle", string(good), 200, "success", true, "", ""},
			{"settle again is idempotent", "/settle", string(good), 200, "success", true, "", ""},
			{"verify after settlement", "/verify", string(good), 200, "isValid", false, string(x402.ReasonExactEVMNonceAlreadyUsed), ""},
		}
		var firstTx any
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var header http.Header
				switch tt.contentType {
				case "":
				case "-":
					header = http.Header{"Content-Type": nil}
				default:
					header = http.Header{"Content-Type": {tt.contentType}}
				}
				status, m := post(t, srv.URL+tt.path, []byte(tt.body), header)
				if status != tt.status || m[tt.field] != tt.want {
					t.Fatalf("status %d body %v; want %d %s=%v", status, m, tt.status, tt.field, tt.want)
				}
				reasonField := "invalidReason"
				if tt.field == "success" {
					reasonField = "errorReason"
				}
				if got, _ := m[reasonField].(string); got != tt.reason {
					t.Errorf("%s %q, want %q (%v)", reasonField, got, tt.reason, m)
				}
				if tt.reason != "" && m["invalidMessage"] == nil && m["errorMessage"] == nil {
					t.Errorf("no human message: %v", m)
				}
				if tt.path == "/settle" && tt.want == true {
					if firstTx == nil {
						firstTx = m["transaction"]
					} else if m["transaction"] != firstTx {
						t.Errorf("idempotent settle returned %v, first was %v", m["transaction"], firstTx)
					}
				}
			})
		}

		t.Run("oversized body", func(t *testing.T) {
			status, m := post(t, srv.URL+"/verify", bytes.Repeat([]byte(" "), x402.MaxJSONSize+1), nil)
			if status != http.StatusRequestEntityTooLarge || m["isValid"] != false {
				t.Errorf("%d %v", status, m)
			}
		})
		t.Run("supported", func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/supported")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var s x402.SupportedResponse
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
				t.Fatal(err)
			}
			versions := map[int]bool{}
			for _, k := range s.Kinds {
				if k.Scheme == "exact" && k.Network == x402.Network(e.net.Network()) {
					versions[k.X402Version] = true
				}
			}
			if !versions[1] || !versions[2] || len(s.Signers["eip155:*"]) != 1 || s.Signers["eip155:*"][0] != e.net.Accounts()[3].Address.Hex() {
				t.Errorf("%+v", s)
			}
			// The exact scheme accepts the EIP-2612 gas-sponsoring
			// extension (Permit2 payments), listed once.
			if !slices.Equal(s.Extensions, []string{"eip2612GasSponsoring"}) {
				t.Errorf("extensions %q", s.Extensions)
			}
		})
		t.Run("health and methods", func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/health")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%v %v", resp, err)
			}
			resp.Body.Close()
			resp, err = http.Get(srv.URL + "/verify")
			if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("GET /verify: %v %v", resp, err)
			}
			resp.Body.Close()
		})
	})
}

func TestHTTPAuth(t *testing.T) {
	e := newEnv(t)
	e.open = func(t *testing.T) ledger.Store {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fac, _ := e.facilitator(t, 3)
	h, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{APIKeyHashes: []string{facilitator.HashAPIKey("s3cret-token")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := mustJSON(t, e.sign(t, e.net.Accounts()[0].PrivateKey, e.req))
	for name, hdr := range map[string]string{"missing": "", "wrong": "Bearer nope", "no scheme": "s3cret-token"} {
		header := http.Header{}
		if hdr != "" {
			header.Set("Authorization", hdr)
		}
		if status, _ := post(t, srv.URL+"/verify", body, header); status != http.StatusUnauthorized {
			t.Errorf("%s token: status %d", name, status)
		}
	}
	if status, m := post(t, srv.URL+"/verify", body, http.Header{"Authorization": {"Bearer s3cret-token"}}); status != 200 || m["isValid"] != true {
		t.Errorf("right token: %d %v", status, m)
	}
	if _, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{APIKeyHashes: []string{"not-hex"}}); err == nil {
		t.Error("bad key hash accepted")
	}
	resp, err := http.Get(srv.URL + "/supported")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("supported needs no key: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestSettleOnceUnderConcurrency(t *testing.T) {
	// 100 requests for one authorization, spread over two facilitator
	// instances (separate stores on one database, separate keys): exactly
	// one transfer, 100 identical answers.
	stores(t, func(t *testing.T, e *env) {
		facA, store := e.facilitator(t, 3)
		facB, _ := e.facilitator(t, 4)
		req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		before := e.balance(t, e.payee)
		// The token would refuse a second transfer of the authorization
		// anyway; what the facilitator must not do is send a second
		// transaction for it (and pay its gas).
		keys := []common.Address{e.net.Accounts()[3].Address, e.net.Accounts()[4].Address}
		noncesBefore := e.nonces(t, keys)

		const n = 100
		results := make([]*x402.SettleResponse, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			fac := facA
			if i%2 == 1 {
				fac = facB
			}
			wg.Go(func() { results[i], errs[i] = fac.Settle(t.Context(), req) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			if !results[i].Success || !reflect.DeepEqual(results[i], results[0]) {
				t.Fatalf("request %d answered %+v, request 0 %+v", i, results[i], results[0])
			}
		}
		if got := new(big.Int).Sub(e.balance(t, e.payee), before); got.Cmp(e.req.Amount.Big()) != 0 {
			t.Errorf("payee received %s, want exactly %s", got, e.req.Amount)
		}
		if sent := e.sentSince(t, keys, noncesBefore); sent != 1 {
			t.Errorf("the facilitator keys sent %d transactions for one authorization, want exactly 1", sent)
		}
		key, _, err := evmIdentify(t, e, req)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := store.Get(t.Context(), key)
		if err != nil || rec.Status != ledger.StatusSettled || rec.TxHash != results[0].Transaction {
			t.Errorf("ledger: %+v %v", rec, err)
		}
		// Every one of the 100 answers is in the ledger, all settled with
		// the one transaction.
		events, err := store.Events(t.Context(), ledger.EventFilter{Kind: ledger.EventSettle, Limit: 200})
		if err != nil || len(events) != n {
			t.Fatalf("events: %d %v", len(events), err)
		}
		for _, ev := range events {
			if ev.Status != "settled" || ev.TxHash != results[0].Transaction || ev.Amount != "1000" || ev.PayTo != e.payee.Hex() {
				t.Fatalf("event %+v", ev)
			}
		}
	})
}

// evmIdentify computes the ledger key of a request the way the facilitator does.
func evmIdentify(t *testing.T, e *env, req *x402.FacilitatorRequest) (x402.SettlementKey, string, error) {
	t.Helper()
	scheme, err := evm.NewExactFacilitator(t.Context(), evm.ExactFacilitatorConfig{Network: x402.Network(e.net.Network()), Backend: e.net.Client()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := req.Payment()
	if err != nil {
		t.Fatal(err)
	}
	return scheme.Identify(p)
}

func TestSettleSameNonceDifferentPayment(t *testing.T) {
	// A payer reuses one nonce for two different payments: the second never
	// gets the first one's success.
	stores(t, func(t *testing.T, e *env) {
		fac, _ := e.facilitator(t, 3)
		first := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		s1, err := fac.Settle(t.Context(), first)
		if err != nil || !s1.Success {
			t.Fatalf("%+v %v", s1, err)
		}
		// Same payload and nonce, but the server now requires payment to another
		// address: a different payment under the same key.
		second := *first
		reqs := *first.Requirements
		reqs.PayTo = e.net.Accounts()[2].Address.Hex()
		second.Requirements = &reqs
		s2, err := fac.Settle(t.Context(), &second)
		if err != nil || s2.Success || s2.ErrorReason != x402.ReasonDuplicateSettlement || s2.Transaction != "" {
			t.Errorf("second payment with a reused nonce: %+v %v", s2, err)
		}
	})
}

func TestRejectedSettleReleasesKey(t *testing.T) {
	// A settlement rejected before broadcast (payer has no funds) leaves the
	// key free: after a top-up the same payment settles.
	stores(t, func(t *testing.T, e *env) {
		fac, _ := e.facilitator(t, 3)
		poor, err := devnet.DevAccount(900) // derived but never funded by this devnet
		if err != nil {
			t.Fatal(err)
		}
		req := e.sign(t, poor.PrivateKey, e.req)
		s, err := fac.Settle(t.Context(), req)
		if err != nil || s.Success || s.ErrorReason != x402.ReasonExactEVMInsufficientBalance {
			t.Fatalf("unfunded: %+v %v", s, err)
		}
		if err := e.net.Mint(t.Context(), poor.Address, big.NewInt(1_000_000)); err != nil {
			t.Fatal(err)
		}
		s, err = fac.Settle(t.Context(), req)
		if err != nil || !s.Success {
			t.Fatalf("after top-up: %+v %v", s, err)
		}
	})
}

func TestRemoteClientAgainstHandler(t *testing.T) {
	// go402's HTTP facilitator client and server understand each other,
	// verdicts and errors included.
	e := newEnv(t)
	e.open = func(t *testing.T) ledger.Store {
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fac, _ := e.facilitator(t, 3)
	h, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{APIKeyHashes: []string{facilitator.HashAPIKey("k")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client, err := remote.New(remote.Config{URL: srv.URL + "/", Headers: func(context.Context, string) (http.Header, error) {
		return http.Header{"Authorization": {"Bearer k"}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	var _ x402.Facilitator = client
	ctx := t.Context()
	req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
	v, err := client.Verify(ctx, req)
	if err != nil || !v.IsValid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	bad := *req
	reqs := *req.Requirements
	reqs.Amount = x402.NewAmount(1)
	bad.Requirements = &reqs
	if v, err := client.Verify(ctx, &bad); err != nil || v.IsValid || v.InvalidReason != x402.ReasonExactEVMValueMismatch {
		t.Errorf("invalid payment through the client: %+v %v", v, err)
	}
	s, err := client.Settle(ctx, req)
	if err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	again, err := client.Settle(ctx, req)
	if err != nil || !reflect.DeepEqual(again, s) {
		t.Errorf("repeated settle: %+v %v, first %+v", again, err, s)
	}
	sup, err := client.Supported(ctx)
	if err != nil || len(sup.Kinds) != 2 {
		t.Errorf("supported: %+v %v", sup, err)
	}
}

// crashedClaim leaves the ledger as a facilitator that crashed mid-settle
// would: a claim in status settling with the recorded transaction hash.
func crashedClaim(t *testing.T, store ledger.Store, e *env, req *x402.FacilitatorRequest, tx, owner string) x402.SettlementKey {
	t.Helper()
	key, fp, err := evmIdentify(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	body := mustJSON(t, req)
	if _, claimed, err := store.Claim(t.Context(), &ledger.Settlement{Key: key, Fingerprint: fp, Request: body, Scheme: "exact", Version: 2, Owner: owner}); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := store.Update(t.Context(), key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: tx}); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestReconcileAtStartup(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		_, store := e.facilitator(t, 3)

		// (a) Broadcast, then the process died before recording the receipt.
		sent := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		tx := e.sendAuthorization(t, sent, 4)
		host, _ := os.Hostname() // the facilitator's default instance name
		keyA := crashedClaim(t, store, e, sent, tx.Hex(), host)

		// (b) The hash was recorded but the transaction never left the process.
		unsent := e.sign(t, e.net.Accounts()[2].PrivateKey, e.req)
		keyB := crashedClaim(t, store, e, unsent, common.HexToHash("0xdead").Hex(), host)

		// (c) A fresh claim of another, live instance: not this one's to touch.
		live := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		keyC := crashedClaim(t, store, e, live, common.HexToHash("0xbeef").Hex(), "other-instance")

		// A new facilitator on the same ledger reconciles before serving.
		fac, _ := e.facilitator(t, 3)
		balance := e.balance(t, e.payee)
		n, err := fac.Reconcile(ctx)
		if err != nil || n != 2 {
			t.Fatalf("reconciled %d: %v", n, err)
		}
		recA, err := store.Get(ctx, keyA)
		if err != nil || recA.Status != ledger.StatusSettled || recA.TxHash != tx.Hex() || !recA.Response.Success {
			t.Errorf("broadcast settlement: %+v %v", recA, err)
		}
		if _, err := store.Get(ctx, keyB); err == nil {
			t.Error("unsent settlement still claimed")
		}
		if rec, err := store.Get(ctx, keyC); err != nil || rec.Status != ledger.StatusSettling {
			t.Errorf("another instance's live claim was touched: %+v %v", rec, err)
		}
		// The reconciled payment answers with its transaction, without a new one.
		s, err := fac.Settle(ctx, sent)
		if err != nil || !s.Success || s.Transaction != tx.Hex() {
			t.Errorf("settle after reconcile: %+v %v", s, err)
		}
		if e.balance(t, e.payee).Cmp(balance) != 0 {
			t.Error("funds moved again for a reconciled settlement")
		}
		// The released one settles normally.
		s, err = fac.Settle(ctx, unsent)
		if err != nil || !s.Success {
			t.Errorf("settle after release: %+v %v", s, err)
		}
	})
}

func authFromPayload(t *testing.T, ep *evm.ExactPayload) (*evm.Authorization, evm.Signature) {
	t.Helper()
	sig, err := evm.ParseSignature(ep.Signature)
	if err != nil {
		t.Fatal(err)
	}
	num := func(s string) *big.Int {
		v, ok := new(big.Int).SetString(s, 10)
		if !ok {
			t.Fatalf("bad number %q", s)
		}
		return v
	}
	a := &evm.Authorization{
		From: common.HexToAddress(ep.Authorization.From), To: common.HexToAddress(ep.Authorization.To),
		Value: num(ep.Authorization.Value), ValidAfter: num(ep.Authorization.ValidAfter), ValidBefore: num(ep.Authorization.ValidBefore),
		Nonce: [32]byte(common.FromHex(ep.Authorization.Nonce)),
	}
	return a, sig
}
