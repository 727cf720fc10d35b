package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
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
	config := func(price string) string {
		return fmt.Sprintf(`facilitator: {url: https://x402.org/facilitator}
network: eip155:84532
routes:
  - path: /api/*
    upstream: %[1]s
    price: %[2]s
  - path: /free/*
    upstream: %[1]s
`, up.URL, price)
	}
	write(config("$0.001"))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr gwBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"gateway", "--config", cfgPath, "--devnet", "--listen", "127.0.0.1:0"}, strings.NewReader(""), &stdout, &stderr)
	}()
	urlRE := regexp.MustCompile(`URL +(http://\S+)`)
	gwWait(t, "the listen URL", done, func() bool { return urlRE.MatchString(stdout.String()) })
	base := urlRE.FindStringSubmatch(stdout.String())[1]
	out := stdout.String()
	for _, want := range []string{"/api/*", "$0.001 on eip155:31337", "/free/*", "free", "Devnet (DEV ONLY"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}

	if r := gwGet(t, base+"/healthz", nil); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := gwGet(t, base+"/free/a", nil); r.status != http.StatusOK || r.body != "upstream /free/a" {
		t.Fatalf("free: %d %q", r.status, r.body)
	}
	pr := gwRequired(t, gwGet(t, base+"/api/a", nil))
	payTo, _ := devnet.DevAccount(gatewayDevnetPayTo)
	if acc := pr.Accepts[0]; acc.Network != "eip155:31337" || !strings.EqualFold(acc.PayTo, payTo.Address.Hex()) || acc.Amount != x402.NewAmount(1000) {
		t.Fatalf("requirements %+v", acc)
	}
	paid := gwGet(t, base+"/api/a", gwSign(t, pr))
	if paid.status != http.StatusOK || paid.body != "upstream /api/a" || paid.header.Get(x402.HeaderPaymentResponse) == "" {
		t.Fatalf("paid: %d %q %v\n%s", paid.status, paid.body, paid.header, stderr.String())
	}

	// SIGHUP reloads the file.
	amount := func() x402.Amount { return gwRequired(t, gwGet(t, base+"/api/a", nil)).Accepts[0].Amount }
	write(config("$0.002"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	gwWait(t, "the new price", done, func() bool { return amount() == x402.NewAmount(2000) })

	// A bad file is refused, with the line and key logged; the previous
	// configuration keeps serving.
	write(config("$0.003") + "    prise: $1\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	gwWait(t, "the refusal", done, func() bool {
		return strings.Contains(stderr.String(), "gw.yaml:9: routes[1].prise: unknown key (did you mean price?)")
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
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"gateway"}, ExitUsage, "--config FILE is required"},
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
