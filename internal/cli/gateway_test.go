package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// gwBuffer is a bytes.Buffer for one writer and one reader goroutine.
type gwBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *gwBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *gwBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gwWait polls cond until it holds, failing after 30s or if the command
// exited.
func gwWait(t *testing.T, what string, done <-chan int, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case code := <-done:
			t.Fatalf("waiting for %s: the command exited with %d", what, code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type gwResponse struct {
	status int
	header http.Header
	body   string
}

func gwGet(t *testing.T, url string, header http.Header) gwResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return gwResponse{resp.StatusCode, resp.Header, string(b)}
}

func gwRequired(t *testing.T, r gwResponse) *x402.PaymentRequired {
	t.Helper()
	if r.status != http.StatusPaymentRequired {
		t.Fatalf("status %d, want 402: %s", r.status, r.body)
	}
	pr, err := x402.DecodePaymentRequired(r.header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// gwSign pays the first option of pr from devnet account 0.
func gwSign(t *testing.T, pr *x402.PaymentRequired) http.Header {
	t.Helper()
	acct, err := devnet.DevAccount(0)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(acct.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{x402.HeaderPaymentSignature: {h}}
}

func TestGatewayDevnet(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	t.Cleanup(up.Close)
	cfgPath := filepath.Join(t.TempDir(), "gw.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The report costs more than go402 pay's default --max.
	config := func(price, report string) string {
		return fmt.Sprintf(`facilitator: {url: https://x402.org/facilitator}
network: eip155:84532
routes:
  - path: GET /report
    upstream: %[1]s
    price: %[3]s
  - path: /api/*
    upstream: %[1]s
    price: %[2]s
  - path: /free/*
    upstream: %[1]s
`, up.URL, price, report)
	}
	write(config("$0.001", "$0.25"))
	infoPath := filepath.Join(t.TempDir(), "gateway.json")
	// The metrics on a second address too (metricsListen).
	t.Setenv("GO402_METRICS_LISTEN", "127.0.0.1:0")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr gwBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"gateway", "--config", cfgPath, "--devnet", "--listen", "127.0.0.1:0", "--info-file", infoPath}, strings.NewReader(""), &stdout, &stderr)
	}()
	// The ready-made lines come last.
	payRE := regexp.MustCompile(`(?m)^  GO402_PAYER_KEY=(0x[0-9a-f]{64}) ` + regexp.QuoteMeta(selfCommand(os.Args[0])) + ` pay (.+)$`)
	gwWait(t, "the pay line", done, func() bool { return payRE.MatchString(stdout.String()) })
	out := stdout.String()
	base := regexp.MustCompile(`URL +(http://\S+)`).FindStringSubmatch(out)[1]
	for _, want := range []string{"/api/*", "$0.001 on eip155:31337", "/free/*", "free", "Devnet (DEV ONLY",
		"Payers     accounts 0-7 (keys in the info file; these keys are public, DEV ONLY)",
		"Info file  " + infoPath + " (deleted on exit)",
		"curl -i " + base + "/report\n",
		"pay --max '$0.25' --devnet-info " + infoPath + " " + base + "/report\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}

	// The info file: the devnet, the gateway, its payers and the
	// endpoint it can list (not /api/*: a wildcard to an upstream).
	payTo, _ := devnet.DevAccount(gatewayDevnetPayTo)
	signer, _ := devnet.DevAccount(gatewayDevnetSigner)
	info := readGatewayInfo(t, infoPath)
	if info.GatewayURL != base || info.ChainID != devnet.DefaultChainID || info.Network != "eip155:31337" || !strings.HasPrefix(info.RPCURL, "http://127.0.0.1:") ||
		info.Token.Decimals != 6 || len(info.Accounts) != devnet.DefaultAccounts || info.Payers != gatewayDevnetPayTo ||
		!strings.Contains(info.Facilitator, signer.Address.Hex()) {
		t.Errorf("info file: %+v", info)
	}
	checkGatewayMetricsListen(t, info)
	for i, a := range info.Accounts {
		want, _ := devnet.DevAccount(i)
		if a.Address != want.Address.Hex() || a.PrivateKey != hexKey(want) {
			t.Errorf("accounts[%d]: %+v", i, a)
		}
	}
	if want := []devEndpoint{{URL: base + "/report", Method: "GET", Price: "$0.25", PayTo: payTo.Address.Hex(), Scheme: "exact", Policy: "settle-before-serve"}}; !slices.Equal(info.Endpoints, want) {
		t.Errorf("endpoints %+v, want %+v", info.Endpoints, want)
	}

	// The printed line pays, from the first payer, through go402 pay
	// reading the info file.
	m := payRE.FindStringSubmatch(out)
	if acct0, _ := devnet.DevAccount(0); m[1] != hexKey(acct0) {
		t.Errorf("the pay line pays from %s, not account 0", m[1])
	}
	t.Setenv("GO402_PAYER_KEY", m[1])
	var payOut, payErr bytes.Buffer
	if code := Run(t.Context(), append([]string{"pay"}, shellWords(t, m[2])...), strings.NewReader(""), &payOut, &payErr); code != ExitOK || payOut.String() != "upstream /report" {
		t.Fatalf("the printed pay line: exit %d, %q\n%s", code, payOut.String(), payErr.String())
	}

	if r := gwGet(t, base+"/healthz", nil); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := gwGet(t, base+"/free/a", nil); r.status != http.StatusOK || r.body != "upstream /free/a" {
		t.Fatalf("free: %d %q", r.status, r.body)
	}
	pr := gwRequired(t, gwGet(t, base+"/api/a", nil))
	if acc := pr.Accepts[0]; acc.Network != "eip155:31337" || !strings.EqualFold(acc.PayTo, payTo.Address.Hex()) || acc.Amount != x402.NewAmount(1000) {
		t.Fatalf("requirements %+v", acc)
	}
	paid := gwGet(t, base+"/api/a", gwSign(t, pr))
	if paid.status != http.StatusOK || paid.body != "upstream /api/a" || paid.header.Get(x402.HeaderPaymentResponse) == "" {
		t.Fatalf("paid: %d %q %v\n%s", paid.status, paid.body, paid.header, stderr.String())
	}

	// SIGHUP reloads the file.
	amount := func() x402.Amount { return gwRequired(t, gwGet(t, base+"/api/a", nil)).Accepts[0].Amount }
	write(config("$0.002", "$0.5"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	gwWait(t, "the new price", done, func() bool { return amount() == x402.NewAmount(2000) })
	// and rewrites the info file.
	gwWait(t, "the info file's new price", done, func() bool {
		eps := readGatewayInfo(t, infoPath).Endpoints
		return len(eps) == 1 && eps[0].Price == "$0.5"
	})

	// A bad file is refused, with the line and key logged; the previous
	// configuration keeps serving.
	write(config("$0.003", "$0.5") + "    prise: $1\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	gwWait(t, "the refusal", done, func() bool {
		return strings.Contains(stderr.String(), "gw.yaml:12: routes[2].prise: unknown key (did you mean price?)")
	})
	if a := amount(); a != x402.NewAmount(2000) {
		t.Fatalf("after a refused reload: %v", a)
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway did not stop")
	}
	if _, err := os.Stat(infoPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the info file outlived the gateway: %v", err)
	}
}

// readGatewayInfo reads the --info-file of go402 gateway, which must be
// private (0600).
func readGatewayInfo(t *testing.T, path string) gatewayInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("info file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var info gatewayInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// shellWords splits a line of words, some quoted by shellQuote.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			w.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

func TestGatewayUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("facilitator: {url: https://f.example}\nnetwork: eip155:84532\nroutes:\n  - path: /a\n    upstream: http://u\n    price: $1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("facilitator: {url: https://f.example}\nnetwork: eip155:999\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nroutes: [{path: /a, upstream: http://u, price: $1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(dir, "remote.yaml")
	if err := os.WriteFile(remote, []byte("facilitator: {url: https://f.example}\nnetwork: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nroutes: [{path: /a, upstream: http://u, price: $1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"gateway"}, ExitUsage, "--config FILE is required"},
		{[]string{"gateway", "--config", remote, "--info-file", filepath.Join(dir, "info.json")}, ExitUsage, "--info-file only applies with --devnet"},
		{[]string{"gateway", "--config", bad, "extra"}, ExitUsage, "unexpected arguments"},
		{[]string{"gateway", "--config", bad}, ExitUsage, "bad.yaml:4: routes[0].payTo: required"},
		{[]string{"gateway", "--config", bad, "--listen", "nowhere"}, ExitUsage, "listen (from --listen): must be host:port"},
		{[]string{"gateway", "--config", unknown}, ExitUsage, "unknown.yaml:2: network: eip155:999 is not a known network"},
		{[]string{"gateway", "--config", filepath.Join(dir, "missing.yaml")}, ExitError, "reading the configuration"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), tc.args, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

// The info file lists the URLs a payer can pay on the devnet: literal
// priced routes (with their method) and the files of priced dir routes,
// but not what an earlier route takes, routes with parameters, upstream
// wildcards, free routes or routes on other networks. Every URL listed
// answers 402 with its price and payTo, and payers stops at the first
// account a route is paid to.
func TestGatewayInfoEndpoints(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"reports/q3.txt": "q3", "reports/sub/q4.txt": "q4", "reports/Q 1.txt": "q1",
		"reports/.secret": "no", "reports/.hidden/x.txt": "no",
	}
	for i := range gatewayMaxDirEndpoints + 5 {
		files[fmt.Sprintf("big/f%03d", i)] = "f"
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("q3.txt", filepath.Join(dir, "reports", "link")); err != nil {
		t.Fatal(err)
	}
	acct3, _ := devnet.DevAccount(3)
	payTo, _ := devnet.DevAccount(gatewayDevnetPayTo)
	cfgPath := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(cfgPath, []byte(`facilitator: {embedded: {devnet: true}}
queue: {sqlite: queue.db}
routes:
  - path: GET /weather
    upstream: http://127.0.0.1:9
    price: $0.001
  - path: POST /submit
    upstream: http://127.0.0.1:9
    price: $0.002
    payTo: `+acct3.Address.Hex()+`
    policy: serve-then-settle
  - path: /items/{id}
    upstream: http://127.0.0.1:9
    price: $0.003
  - path: /api/*
    upstream: http://127.0.0.1:9
    price: $0.004
  - path: /api/special
    upstream: http://127.0.0.1:9
    price: $0.5
  - path: /elsewhere
    upstream: http://127.0.0.1:9
    price: $0.006
    network: eip155:84532
  - path: /free
    upstream: http://127.0.0.1:9
  - path: /reports/*
    dir: reports
    price: $0.01
  - path: /big/*
    dir: big
    price: $0.02
`), 0o600); err != nil {
		t.Fatal(err)
	}
	infoPath := filepath.Join(dir, "info.json")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr gwBuffer
	done := make(chan int, 1)
	go func() {
		// The configuration enables the devnet: no --devnet needed.
		done <- Run(ctx, []string{"gateway", "--config", cfgPath, "--listen", "127.0.0.1:0", "--info-file", infoPath}, strings.NewReader(""), &stdout, &stderr)
	}()
	gwWait(t, "the info file", done, func() bool { _, err := os.Stat(infoPath); return err == nil })
	info := readGatewayInfo(t, infoPath)
	base := info.GatewayURL
	if info.Payers != 3 {
		t.Errorf("payers %d, want 3 (account 3 is paid by POST /submit)", info.Payers)
	}
	want := []devEndpoint{
		{URL: base + "/weather", Method: "GET", Price: "$0.001", PayTo: payTo.Address.Hex(), Scheme: "exact", Policy: "settle-before-serve"},
		{URL: base + "/submit", Method: "POST", Price: "$0.002", PayTo: acct3.Address.Hex(), Scheme: "exact", Policy: "serve-then-settle"},
		{URL: base + "/reports/Q%201.txt", Method: "GET", Price: "$0.01", PayTo: payTo.Address.Hex(), Scheme: "exact", Policy: "settle-before-serve"},
		{URL: base + "/reports/q3.txt", Method: "GET", Price: "$0.01", PayTo: payTo.Address.Hex(), Scheme: "exact", Policy: "settle-before-serve"},
		{URL: base + "/reports/sub/q4.txt", Method: "GET", Price: "$0.01", PayTo: payTo.Address.Hex(), Scheme: "exact", Policy: "settle-before-serve"},
	}
	for i := range gatewayMaxDirEndpoints {
		want = append(want, devEndpoint{URL: fmt.Sprintf("%s/big/f%03d", base, i), Method: "GET", Price: "$0.02", PayTo: payTo.Address.Hex(), Scheme: "exact", Policy: "settle-before-serve"})
	}
	if !slices.Equal(info.Endpoints, want) {
		t.Errorf("endpoints:\n%+v\nwant\n%+v", info.Endpoints, want)
	}
	if !strings.Contains(stdout.String(), "Payers     accounts 0-2 ") || !strings.Contains(stdout.String(), "curl -i "+base+"/weather\n") {
		t.Errorf("banner:\n%s", stdout.String())
	}

	// What the gateway answers agrees.
	ask := func(method, url string) x402.PaymentRequirements {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return gwRequired(t, gwResponse{status: resp.StatusCode, header: resp.Header}).Accepts[0]
	}
	for _, ep := range info.Endpoints {
		p, err := x402.ParsePrice(ep.Price)
		if err != nil {
			t.Fatal(err)
		}
		amount, _ := p.Atomic(6)
		if acc := ask(ep.Method, ep.URL); acc.Amount != amount || acc.PayTo != ep.PayTo {
			t.Errorf("%s %s: %s to %s, want %s to %s", ep.Method, ep.URL, acc.Amount, acc.PayTo, amount, ep.PayTo)
		}
	}
	// Left out because /api/* takes it.
	if acc := ask("GET", base+"/api/special"); acc.Amount != x402.NewAmount(4000) {
		t.Errorf("/api/special: %s, want the price of /api/*", acc.Amount)
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway did not stop")
	}
	if _, err := os.Stat(infoPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the info file outlived the gateway: %v", err)
	}
}
