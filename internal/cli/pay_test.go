package cli

import (
	"context"
	"encoding/json"
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
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// payShop is a paid API on a devnet, settled by a go402 facilitator
// started through Run, for go402 pay and go402 wallet to talk to.
type payShop struct {
	info     facilitatorInfo
	infoPath string // the facilitator's --info-file
	url      string // the API's base URL
	eth      *ethclient.Client
	token    common.Address
	payee    common.Address
	payerKey string // devnet account 0 (public dev key)
	payer    common.Address

	mu    sync.Mutex
	posts []string // bodies received by POST /submit

	retried      atomic.Int64 // GET /retried handler runs
	retriedSends atomic.Int64 // paid requests to GET /retried
}

func startPayShop(t *testing.T) *payShop {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "facilitator.json")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"facilitator", "--devnet", "--listen", "127.0.0.1:0", "--info-file", path}, strings.NewReader(""), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("the facilitator did not stop")
		}
		if t.Failed() {
			t.Logf("facilitator stdout:\n%s\nfacilitator stderr:\n%s", stdout.String(), stderr.String())
		}
	})
	exited := func() (string, bool) {
		select {
		case code := <-done:
			done <- code
			return fmt.Sprintf("code %d\nstderr:\n%s", code, stderr.String()), true
		default:
			return "", false
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	s := &payShop{infoPath: path, payee: freshAddress("go402 pay " + t.Name())}
	waitInfo(t, wctx, path, &s.info, exited)
	if s.info.Devnet == nil || len(s.info.Devnet.Accounts) == 0 {
		t.Fatalf("info = %+v", s.info)
	}
	s.payerKey = s.info.Devnet.Accounts[0].PrivateKey
	s.payer = common.HexToAddress(s.info.Devnet.Accounts[0].Address)
	s.token = common.HexToAddress(s.info.Devnet.Token.Address)
	var err error
	if s.eth, err = ethclient.DialContext(ctx, s.info.Devnet.RPCURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.eth.Close)

	fac, err := remote.New(remote.Config{URL: s.info.URL})
	if err != nil {
		t.Fatal(err)
	}
	nets := &evm.Networks{}
	if err := nets.Add(evm.NetworkConfig{Network: x402.Network(s.info.Network), ChainID: s.info.Devnet.ChainID, Assets: []evm.Asset{devnetAsset(s.info)}}); err != nil {
		t.Fatal(err)
	}
	opt := []x402http.PaymentOption{{Network: x402.Network(s.info.Network), Price: "$0.001", PayTo: s.payee.Hex()}}
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(nets),
		Routes: []x402http.Route{
			{Pattern: "GET /paid", Accepts: opt, Description: "a paid greeting"},
			{Pattern: "POST /submit", Accepts: opt},
			{Pattern: "GET /broken", Accepts: opt},
			{Pattern: "GET /bad-gateway", Accepts: opt},
			{Pattern: "GET /lost", Accepts: opt},
			{Pattern: "GET /retried", Accepts: opt, PaymentIdentifier: x402http.PaymentIDOptional},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /paid", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Shop", "go402")
		io.WriteString(w, "hello, paying customer")
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.posts = append(s.posts, string(b))
		s.mu.Unlock()
		fmt.Fprintf(w, "got %s (%s)", b, r.Header.Get("Content-Type"))
	})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusInternalServerError) })
	mux.HandleFunc("GET /bad-gateway", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "upstream down", http.StatusBadGateway) })
	mux.HandleFunc("GET /lost", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "never seen") })
	mux.HandleFunc("GET /retried", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, fmt.Sprintf("order %d", s.retried.Add(1)))
	})
	mux.HandleFunc("GET /free", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "free lunch") })
	paid := mw.Handler(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/retried" && r.Header.Get(x402.HeaderPaymentSignature) != "" && s.retriedSends.Add(1) == 1 {
			// Only the first answer of a paid request is lost.
			paid.ServeHTTP(httptest.NewRecorder(), r)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		if r.URL.Path != "/lost" || r.Header.Get(x402.HeaderPaymentSignature) == "" {
			paid.ServeHTTP(w, r)
			return
		}
		// The paid request is served and settled, and its answer lost:
		// the connection drops.
		paid.ServeHTTP(httptest.NewRecorder(), r)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *payShop) balance(t *testing.T) *big.Int {
	t.Helper()
	return tokenBalance(t, t.Context(), s.eth, s.token, s.payee)
}

// payRun is the outcome of one go402 invocation.
type payRun struct {
	code           int
	stdout, stderr string
}

func payCLI(t *testing.T, stdin string, args ...string) payRun {
	t.Helper()
	var stdout, stderr syncBuffer
	code := Run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
	r := payRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("go402 %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// assertMoved checks that the payee's balance grew by want atomic units.
func (s *payShop) assertMoved(t *testing.T, before *big.Int, want int64) {
	t.Helper()
	got := new(big.Int).Sub(s.balance(t), before)
	if got.Cmp(big.NewInt(want)) != 0 {
		t.Errorf("payee balance moved by %s, want %d", got, want)
	}
}

func TestPay(t *testing.T) {
	s := startPayShop(t)
	t.Setenv(defaultKeyEnv, s.payerKey)
	info := s.infoPath

	t.Run("paid GET", func(t *testing.T) {
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--devnet-info", info, s.url+"/paid")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		if r.stdout != "hello, paying customer" {
			t.Errorf("stdout = %q", r.stdout)
		}
		want := fmt.Sprintf("paid 0.001 USDC on %s from %s tx 0x", s.info.Network, s.payer.Hex())
		if !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, " (settled)\n") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("stderr = %q, want %q... (settled)", r.stderr, want)
		}
		if strings.Contains(r.stdout+r.stderr, strings.TrimPrefix(s.payerKey, "0x")) {
			t.Error("the private key was printed")
		}
		s.assertMoved(t, before, 1000)
	})

	t.Run("json", func(t *testing.T) {
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--json", "-i", s.url+"/paid", "--devnet-info", info)
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		var got map[string]any
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if dec.More() {
			t.Error("more than one JSON value on stdout")
		}
		for _, k := range []string{"url", "status", "paid", "price", "asset", "network", "payTo", "payer", "transaction", "success", "error", "reason", "body", "exitCode", "headers"} {
			if _, ok := got[k]; !ok {
				t.Errorf("no %q in %v", k, got)
			}
		}
		tx, _ := got["transaction"].(string)
		if got["url"] != s.url+"/paid" || got["status"] != 200.0 || got["paid"] != true || got["success"] != true ||
			got["price"] != "0.001 USDC" || !strings.EqualFold(got["asset"].(string), s.token.Hex()) ||
			got["network"] != s.info.Network || !strings.EqualFold(got["payTo"].(string), s.payee.Hex()) ||
			!strings.EqualFold(got["payer"].(string), s.payer.Hex()) || len(tx) != 66 ||
			got["body"] != "hello, paying customer" || got["error"] != "" || got["exitCode"] != 0.0 {
			t.Errorf("json = %v", got)
		}
		if h, _ := got["headers"].(map[string]any); h["X-Shop"] == nil {
			t.Errorf("headers = %v", got["headers"])
		}
		s.assertMoved(t, before, 1000)
	})

	t.Run("dry run", func(t *testing.T) {
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--devnet-info", info, "--dry-run", s.url+"/paid")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		for _, want := range []string{"0.001 USDC", s.info.Network, s.payee.Hex(), s.token.Hex(), "allows"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout has no %q", want)
			}
		}
		if strings.Contains(r.stderr, "paid") {
			t.Errorf("stderr = %q", r.stderr)
		}
		r = payCLI(t, "", "pay", "--devnet-info", info, "--dry-run", "--json", "--max", "$0.0001", s.url+"/paid")
		var got payResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if r.code != ExitPolicy || got.Paid || !got.DryRun || got.Allowed == nil || *got.Allowed || got.Price != "0.001 USDC" ||
			got.ExitCode != ExitPolicy || got.Status != http.StatusPaymentRequired || got.Reason != "policy:max-per-request" {
			t.Errorf("exit %d, json %+v", r.code, got)
		}
		s.assertMoved(t, before, 0)
	})

	t.Run("declared asset", func(t *testing.T) {
		// The devnet's token, declared by the user instead of coming
		// from --devnet-info: not a dollar stablecoin unless it says so.
		tok := s.info.Network + "/" + s.token.Hex()
		asset := tok + ":6,symbol=TOK"
		before := s.balance(t)
		for _, tc := range []struct {
			args  []string
			code  int
			price string
		}{
			// The default --max is in dollars: it does not apply to TOK.
			{[]string{"--asset", asset}, ExitPolicy, ""},
			{[]string{"--asset", asset, "--max", "0.0009"}, ExitPolicy, ""},
			{[]string{"--asset", asset, "--max", "999atomic"}, ExitPolicy, ""},
			{[]string{"--asset", asset, "--max", "0.001 TOK"}, ExitOK, "0.001 TOK"},
			{[]string{"--asset", asset, "--max", "1000atomic"}, ExitOK, "0.001 TOK"},
			{[]string{"--asset", asset + ",usd"}, ExitOK, "0.001 TOK"},
			// Nobody declared it: only a limit in its atomic units lets it
			// be paid.
			{[]string{"--max", "0.5"}, ExitPolicy, ""},
			{[]string{"--max", "1000 atomic " + tok}, ExitOK, "1000 atomic units of token " + s.token.Hex()},
			{[]string{"--max", "999 atomic " + tok}, ExitPolicy, ""},
		} {
			args := append([]string{"pay", "--json", s.url + "/paid"}, tc.args...)
			r := payCLI(t, "", args...)
			var got payResult
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			if r.code != tc.code || (tc.code == ExitOK && (!got.Paid || got.Price != tc.price)) ||
				(tc.code == ExitPolicy && (got.Paid || !strings.HasPrefix(got.Reason, "policy:"))) {
				t.Errorf("%v: exit %d, json %+v", tc.args, r.code, got)
			}
		}
		s.assertMoved(t, before, 4000)
		// An assets file works as --asset does.
		file := filepath.Join(t.TempDir(), "assets.json")
		data := fmt.Sprintf(`{"assets": [{"network": %q, "address": %q, "decimals": 6, "symbol": "TOK"}]}`, s.info.Network, s.token.Hex())
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("GO402_ASSETS", file)
		if r := payCLI(t, "", "pay", "--max", "0.001 TOK", s.url+"/paid"); r.code != ExitOK {
			t.Errorf("assets file: exit %d", r.code)
		}
		if r := payCLI(t, "", "pay", "--assets", "", "--max", "0.001 TOK", s.url+"/paid"); r.code != ExitPolicy {
			t.Errorf("--assets \"\": exit %d", r.code)
		}
		s.assertMoved(t, before, 5000)
	})

	t.Run("max refuses", func(t *testing.T) {
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--devnet-info", info, "--max", "$0.0001", s.url+"/paid")
		if r.code != ExitPolicy {
			t.Errorf("exit %d, want %d", r.code, ExitPolicy)
		}
		if r.stdout != "" || strings.Contains(r.stderr, "paid ") {
			t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
		}
		r = payCLI(t, "", "pay", "--devnet-info", info, "--json", "--max", "$0.0001", s.url+"/paid")
		var got payResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if r.code != ExitPolicy || got.Paid || got.Success || got.ExitCode != ExitPolicy || !strings.HasPrefix(got.Reason, "policy:") || got.Error == "" {
			t.Errorf("exit %d, json %+v", r.code, got)
		}
		s.assertMoved(t, before, 0)
	})

	t.Run("allow network refuses", func(t *testing.T) {
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--devnet-info", info, "--allow-network", "eip155:8453", s.url+"/paid")
		if r.code != ExitPolicy {
			t.Errorf("exit %d, want %d", r.code, ExitPolicy)
		}
		s.assertMoved(t, before, 0)
	})

	t.Run("budget file", func(t *testing.T) {
		before := s.balance(t)
		budget := filepath.Join(t.TempDir(), "spent.json")
		args := []string{"pay", "--devnet-info", info, "--budget", "$0.0015", "--budget-file", budget, s.url + "/paid"}
		if r := payCLI(t, "", args...); r.code != 0 {
			t.Fatalf("first payment: exit %d", r.code)
		}
		r := payCLI(t, "", args...)
		if r.code != ExitPolicy || !strings.Contains(r.stderr, "budget") {
			t.Errorf("second payment: exit %d, want %d", r.code, ExitPolicy)
		}
		s.assertMoved(t, before, 1000)
	})

	t.Run("rejected", func(t *testing.T) {
		// A payer without USDC: the facilitator refuses the payment.
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("GO402_TEST_POOR_KEY", common.Bytes2Hex(crypto.FromECDSA(key)))
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--json", "--key-env", "GO402_TEST_POOR_KEY", "--devnet-info", info, s.url+"/paid")
		var got payResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if r.code != ExitRejected || got.ExitCode != ExitRejected || got.Paid || got.Reason == "" || got.Status != http.StatusPaymentRequired ||
			got.Price != "0.001 USDC" || !strings.EqualFold(got.Payer, crypto.PubkeyToAddress(key.PublicKey).Hex()) {
			t.Errorf("exit %d, json %+v", r.code, got)
		}
		s.assertMoved(t, before, 0)
	})

	t.Run("POST data", func(t *testing.T) {
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--devnet-info", info, "-d", "a=1", "--data", "b=2", s.url+"/submit")
		if r.code != 0 || r.stdout != "got a=1&b=2 (application/x-www-form-urlencoded)" {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}
		file := filepath.Join(t.TempDir(), "body.json")
		if err := os.WriteFile(file, []byte(`{"q":"file"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		r = payCLI(t, "", "pay", "--devnet-info", info, "-X", "POST", "-H", "Content-Type: application/json", "-d", "@"+file, s.url+"/submit")
		if r.code != 0 || r.stdout != `got {"q":"file"} (application/json)` {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}
		r = payCLI(t, `{"q":"stdin"}`, "pay", "--devnet-info", info, "-H", "Content-Type: application/json", "-d", "@-", s.url+"/submit")
		if r.code != 0 || r.stdout != `got {"q":"stdin"} (application/json)` {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}
		s.mu.Lock()
		posts := strings.Join(s.posts, "|")
		s.mu.Unlock()
		if posts != `a=1&b=2|{"q":"file"}|{"q":"stdin"}` {
			t.Errorf("the handler got %q", posts)
		}
		s.assertMoved(t, before, 3000)
	})

	t.Run("output file and headers", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.txt")
		r := payCLI(t, "", "pay", "--devnet-info", info, "-i", "-o", out, s.url+"/paid")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		b, err := os.ReadFile(out)
		if err != nil || string(b) != "hello, paying customer" {
			t.Errorf("file %q %v", b, err)
		}
		if !strings.HasPrefix(r.stdout, "HTTP/1.1 200 OK\r\n") || !strings.Contains(r.stdout, "X-Shop: go402\r\n") ||
			!strings.Contains(r.stdout, "Payment-Response: ") || !strings.HasSuffix(r.stdout, "\r\n\r\n") {
			t.Errorf("stdout = %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "(settled)") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})

	t.Run("free", func(t *testing.T) {
		r := payCLI(t, "", "pay", "--devnet-info", info, s.url+"/free")
		if r.code != 0 || r.stdout != "free lunch" || r.stderr != "" {
			t.Errorf("exit %d", r.code)
		}
	})

	t.Run("HTTP error", func(t *testing.T) {
		before := s.balance(t)
		r := payCLI(t, "", "pay", "--devnet-info", info, s.url+"/broken")
		if r.code != ExitHTTP || !strings.Contains(r.stdout, "broken") || !strings.Contains(r.stderr, "500") {
			t.Errorf("exit %d", r.code)
		}
		r = payCLI(t, "", "pay", "--devnet-info", info, s.url+"/nowhere")
		if r.code != ExitHTTP || !strings.Contains(r.stderr, "404") {
			t.Errorf("exit %d", r.code)
		}
		s.assertMoved(t, before, 0)
	})

	t.Run("dry run sends only safe methods", func(t *testing.T) {
		s.mu.Lock()
		posts := len(s.posts)
		s.mu.Unlock()
		for _, args := range [][]string{
			{"pay", "--dry-run", "-X", "POST", s.url + "/submit"},
			{"pay", "--dry-run", "-d", "a=1", s.url + "/submit"},
			{"pay", "--dry-run", "-X", "DELETE", s.url + "/free"},
		} {
			if r := payCLI(t, "", args...); r.code != ExitUsage || !strings.Contains(r.stderr, "--unsafe-dry-run") {
				t.Errorf("%q: exit %d", args, r.code)
			}
		}
		// With --unsafe-dry-run the unpaid request is sent: the paid route
		// answers 402, and its handler does not run.
		r := payCLI(t, "", "pay", "--devnet-info", info, "--dry-run", "--unsafe-dry-run", "-d", "a=1", s.url+"/submit")
		if r.code != 0 || !strings.Contains(r.stdout, "0.001 USDC") {
			t.Errorf("unsafe dry run: exit %d", r.code)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.posts) != posts {
			t.Errorf("a dry run reached the handler")
		}
	})

	t.Run("outcome unknown", func(t *testing.T) {
		budget := filepath.Join(t.TempDir(), "spent.json")
		for _, path := range []string{"/lost", "/bad-gateway"} {
			before := s.balance(t)
			r := payCLI(t, "", "pay", "--json", "--devnet-info", info, "--budget", "$1", "--budget-file", budget, s.url+path)
			var got payResult
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatal(err)
			}
			if r.code != ExitUnknown || got.ExitCode != ExitUnknown || !got.OutcomeUnknown || got.Paid || got.Price != "0.001 USDC" ||
				!strings.Contains(got.Error, "may have been charged") || !strings.Contains(r.stderr, "outcome unknown") {
				t.Errorf("%s: exit %d, json %+v", path, r.code, got)
			}
			want := int64(0)
			if path == "/lost" {
				want = 1000 // it was settled, and its answer lost
			}
			s.assertMoved(t, before, want)
		}
		// Both count against the budget: the first may have been, and was,
		// charged; the second may still be.
		r := payCLI(t, "", "pay", "--devnet-info", info, "--budget", "$0.0025", "--budget-file", budget, s.url+"/paid")
		if r.code != ExitPolicy {
			t.Errorf("budget after two unknown outcomes: exit %d", r.code)
		}
	})

	t.Run("lost answer resent with its payment identifier", func(t *testing.T) { testPayResent(t, s, info) })

	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		r := payCLI(t, "", "pay", "--devnet-info", info, "http://"+addr+"/paid")
		if r.code != ExitHTTP {
			t.Errorf("exit %d, want %d", r.code, ExitHTTP)
		}
		r = payCLI(t, "", "pay", "--json", "--timeout", "5s", "http://"+addr+"/paid")
		var got payResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if r.code != ExitHTTP || got.ExitCode != ExitHTTP || got.Status != 0 || got.Error == "" {
			t.Errorf("exit %d, json %+v", r.code, got)
		}
	})

	t.Run("no key", func(t *testing.T) {
		r := payCLI(t, "", "pay", "--key-env", "GO402_TEST_UNSET_KEY", "--devnet-info", info, s.url+"/paid")
		if r.code != ExitError || !strings.Contains(r.stderr, "GO402_TEST_UNSET_KEY") {
			t.Errorf("exit %d", r.code)
		}
		// --dry-run needs no key.
		r = payCLI(t, "", "pay", "--dry-run", "--key-env", "GO402_TEST_UNSET_KEY", "--devnet-info", info, s.url+"/paid")
		if r.code != 0 || !strings.Contains(r.stdout, "0.001 USDC") {
			t.Errorf("dry run without a key: exit %d", r.code)
		}
	})
}

func TestPayUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"pay"},
		{"pay", "ftp://example.com/"},
		{"pay", "example.com"},
		{"pay", "http://a/", "http://b/"},
		{"pay", "-H", "no colon", "http://a/"},
		{"pay", "-X", "GE T", "http://a/"},
		{"pay", "--max", "five dollars", "http://a/"},
		{"pay", "--allow-network", "base", "http://a/"},
		{"pay", "--budget-file", "x", "http://a/"},
		{"pay", "--key-env", "A", "--keystore", "b", "http://a/"},
		{"pay", "--password-env", "A", "http://a/"},
		{"pay", "--json", "-o", "-", "http://a/"},
		{"pay", "--nope", "http://a/"},
		{"pay", "--unsafe-dry-run", "http://a/"},
		{"pay", "--dry-run", "-X", "PUT", "http://a/"},
		{"pay", "--asset", "eip155:84532/0x1111111111111111111111111111111111111111", "http://a/"},
		{"pay", "--asset", "eip155:84532/0x11:6", "http://a/"},
		{"pay", "--asset", "eip155:84532/0x1111111111111111111111111111111111111111:78", "http://a/"},
		{"pay", "--asset", "eip155:84532/0x1111111111111111111111111111111111111111:6,colour=red", "http://a/"},
		{"pay", "--max", "5atomic", "http://a/"},
		{"pay", "--max", "1.5atomic", "--asset", "eip155:84532/0x1111111111111111111111111111111111111111:6", "http://a/"},
		{"pay", "--max", "5 atomic eip155:84532/0x12", "http://a/"},
		{"pay", "--budget", "5 atomic nonet/0x1111111111111111111111111111111111111111", "http://a/"},
	} {
		var stdout, stderr syncBuffer
		if code := Run(t.Context(), args, strings.NewReader(""), &stdout, &stderr); code != ExitUsage || stdout.String() != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	o, err := parsePayFlags(e, []string{"-X", "PUT", "http://a/x", "-H", "A: 1", "--", "-not-a-flag"})
	if err == nil {
		t.Fatalf("two positional arguments accepted: %+v", o)
	}
	o, err = parsePayFlags(e, []string{"http://a/x", "-H", "A: 1", "-i", "-H", "Host: example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if o.url.String() != "http://a/x" || o.headers.Get("A") != "1" || !o.include || o.host != "example.com" || o.method != "GET" {
		t.Errorf("%+v", o)
	}
}
