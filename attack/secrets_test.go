package attack_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/x402"
)

// logSink collects a logger's output, safely for concurrent use.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// flakyRPC forwards JSON-RPC to the devnet while healthy, and otherwise
// fails: it drops the connection (the transport error quotes the URL) or
// answers 503.
type flakyRPC struct {
	proxy   *httputil.ReverseProxy
	failing atomic.Bool
	n       atomic.Int64
}

func (f *flakyRPC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !f.failing.Load() {
		f.proxy.ServeHTTP(w, r)
		return
	}
	if f.n.Add(1)%2 == 0 {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// TestSecretsStayInside: the facilitator's RPC URL holds secrets in its
// user information, its path and its query, as provider URLs do. The
// facilitator is started with it while the RPC fails, then while it
// works, then serves while it fails again. Nothing it logs (at debug
// level), returns as an error or answers over HTTP may contain any of the
// secrets, nor its settlement key.
func TestSecretsStayInside(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 3, RPCAddr: "127.0.0.1:0"})
	target, err := url.Parse(c.dev.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	// The devnet serves JSON-RPC at its own path: the provider's path and
	// query (the secrets) are dropped on the way.
	rpc := &flakyRPC{proxy: &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL = &url.URL{Scheme: target.Scheme, Host: target.Host, Path: target.Path}
		pr.Out.Host = target.Host
	}}}
	rpc.failing.Store(true)
	base := strings.TrimPrefix(serveHTTP(t, rpc), "http://")
	secrets := []string{"pw-S3CRET-user", "S3CRET-path-key", "S3CRET-query-key"}
	rpcURL := fmt.Sprintf("http://alice:%s@%s/v2/%s?apikey=%s", secrets[0], base, secrets[1], secrets[2])
	key := c.accts[len(c.accts)-1].PrivateKey
	keyHex := hex.EncodeToString(crypto.FromECDSA(key))
	secrets = append(secrets, keyHex)
	tok := c.dev.NetworkConfig().Assets[0]
	yaml := fmt.Sprintf(`database:
  sqlite: %q
signer:
  privateKeyEnv: ATTACK_FACILITATOR_KEY
networks:
  - network: %s
    rpcUrls: [%q]
    assets:
      - {address: %q, name: %q, version: %q, decimals: %d, symbol: USDC}
logLevel: debug
settleTimeout: 10s
`, filepath.Join(t.TempDir(), "ledger.db"), c.network, rpcURL, tok.Address.Hex(), tok.Name, tok.Version, tok.Decimals)
	cfg, err := config.Parse("facilitator.yaml", []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	logs := &logSink{}
	deps := service.Deps{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Getenv: func(k string) string {
			if k == "ATTACK_FACILITATOR_KEY" {
				return keyHex
			}
			return ""
		},
	}
	var seen strings.Builder // everything the facilitator said
	// Started while the RPC fails: the error.
	if _, err := service.New(t.Context(), cfg, deps); err == nil {
		t.Fatal("the facilitator started on a failing RPC")
	} else {
		seen.WriteString(err.Error() + "\n")
	}
	// Started while it works, then serving while it fails.
	rpc.failing.Store(false)
	svc, err := service.New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatalf("starting the facilitator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = svc.Shutdown(ctx)
		_ = svc.Close()
	})
	rpc.failing.Store(true)
	facURL := serveHTTP(t, svc.Handler())
	p := c.newPayer(t, priceAtomic)
	req := c.requirements(priceAtomic, c.payee)
	obj, err := p.client.CreatePayload(t.Context(), x402.V2, req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}, &req).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct{ method, path string }{
		{http.MethodPost, "/verify"}, {http.MethodPost, "/settle"}, {http.MethodGet, "/supported"}, {http.MethodGet, "/health"},
		{http.MethodPost, "/verify"}, {http.MethodPost, "/settle"},
	} {
		var rd io.Reader
		if call.method == http.MethodPost {
			rd = bytes.NewReader(body)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		r, _ := http.NewRequestWithContext(ctx, call.method, facURL+call.path, rd)
		r.Header.Set("Content-Type", "application/json")
		a := do(r)
		cancel()
		fmt.Fprintf(&seen, "%s %s: %d %v %s\n", call.method, call.path, a.status, a.header, a.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Shutdown(ctx); err != nil {
		seen.WriteString(err.Error() + "\n")
	}
	if err := svc.Close(); err != nil {
		seen.WriteString(err.Error() + "\n")
	}
	all := seen.String() + logs.String()
	if !strings.Contains(all, base) {
		t.Errorf("the RPC endpoint's host is never named; the check would prove nothing:\n%s", all)
	}
	for _, s := range secrets {
		for _, line := range strings.Split(all, "\n") {
			if strings.Contains(line, s) || strings.Contains(line, url.QueryEscape(s)) {
				t.Errorf("secret %q leaked: %s", s[:8]+"…", line)
			}
		}
	}
}
