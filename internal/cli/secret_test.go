package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

// faultyRPC is a loopback JSON-RPC endpoint that forwards to a devnet in
// mode "ok" and fails in every other mode.
type faultyRPC struct {
	target string
	mode   atomic.Value // string
	srv    *httptest.Server
	stop   chan struct{}
}

func newFaultyRPC(t *testing.T, target string) *faultyRPC {
	f := &faultyRPC{target: target, stop: make(chan struct{})}
	f.mode.Store("ok")
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.stop); f.srv.Close() })
	return f
}

func (f *faultyRPC) set(mode string) { f.mode.Store(mode) }

func (f *faultyRPC) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch f.mode.Load().(string) {
	case "ok":
		resp, err := http.Post(f.target, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	case "500":
		http.Error(w, "internal server error", http.StatusInternalServerError)
	case "401":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid project id"}`)
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":`)
	case "rpcerror":
		w.Header().Set("Content-Type", "application/json")
		answer := func(id json.RawMessage) string {
			return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32005,"message":"daily request count exceeded"}}`, id)
		}
		var batch []struct{ ID json.RawMessage }
		if json.Unmarshal(body, &batch) == nil {
			parts := make([]string, len(batch))
			for i, c := range batch {
				parts[i] = answer(c.ID)
			}
			_, _ = io.WriteString(w, "["+strings.Join(parts, ",")+"]")
			return
		}
		var one struct{ ID json.RawMessage }
		_ = json.Unmarshal(body, &one)
		_, _ = io.WriteString(w, answer(one.ID))
	case "reset":
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
	case "timeout":
		select {
		case <-r.Context().Done():
		case <-f.stop:
		}
	}
}

// secretWait is how long the test waits for a component talking to a
// hanging RPC (the "timeout" mode) before it moves on: long enough for the
// component's own request to be under way, short enough that the many
// hanging cases do not make the test slow.
const secretWait = 1500 * time.Millisecond

// secretOutput collects everything the components under test show: logs,
// errors, HTTP answers (headers decoded from base64 too).
type secretOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *secretOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *secretOutput) add(format string, args ...any) { fmt.Fprintf(o, format+"\n", args...) }

func (o *secretOutput) addResponse(what string, resp *http.Response, err error) {
	if err != nil {
		o.add("%s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	o.add("%s: %d %s", what, resp.StatusCode, b)
	for k, vs := range resp.Header {
		for _, v := range vs {
			o.add("%s: %s: %s", what, k, v)
			if d, err := base64.StdEncoding.DecodeString(v); err == nil {
				o.add("%s: %s (decoded): %s", what, k, d)
			}
		}
	}
}

func (o *secretOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// secretRPCURLs are RPC URLs with a secret in each position a provider
// puts one, on the faulty endpoint at host.
func secretRPCURLs(host string) map[string]string {
	return map[string]string{
		"userinfo":      "http://user:SECRETPW1@" + host + "/",
		"password only": "http://:SECRETPW2@" + host + "/",
		"path v2":       "http://" + host + "/v2/SECRETKEY3",
		"path v3":       "http://" + host + "/v3/SECRETID4",
		"query":         "http://" + host + "/?apikey=SECRETKEY5",
	}
}

var failureModes = []string{"500", "401", "garbage", "rpcerror", "reset", "timeout"}

// No secret of an RPC URL shows in the output of the facilitator, the
// gateway in front of it or go402 wallet balance, whatever way the RPC
// endpoint fails: at start-up, on verify and settle, on balance reads.
func TestSecretsNeverShow(t *testing.T) {
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 3, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	refusedHost := closedPort(t)
	out := &secretOutput{}
	signerKey := hex.EncodeToString(crypto.FromECDSA(d.Accounts()[2].PrivateKey))
	t.Setenv("GO402_TEST_SECRET_SIGNER", signerKey)

	// Each case has its own faulty endpoint and runs in parallel with the
	// others: most of the time goes into waiting on hanging RPCs.
	t.Run("cases", func(t *testing.T) {
		for name := range secretRPCURLs("") {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rpc := newFaultyRPC(t, d.RPCURL())
				host := strings.TrimPrefix(rpc.srv.URL, "http://")
				secretRPCCase(t, d, rpc, secretRPCURLs(host)[name], strings.Replace(secretRPCURLs(host)[name], host, refusedHost, 1), name, out)
			})
		}
		// A gateway whose (remote) facilitator URL carries a key in its
		// path, with the facilitator down, failing and hanging.
		for _, mode := range []string{"refused", "500", "garbage", "timeout"} {
			t.Run("gateway facilitator "+mode, func(t *testing.T) {
				t.Parallel()
				rpc := newFaultyRPC(t, d.RPCURL())
				facURL := "http://" + refusedHost + "/v2/SECRETFAC6"
				if mode != "refused" {
					rpc.set(mode)
					facURL = rpc.srv.URL + "/v2/SECRETFAC6"
				}
				gw := startSecretGateway(t, d, facURL, out)
				secretPayments(t, d, "", gw, out, "gateway, facilitator "+mode)
			})
		}
	})
	all := out.String()
	for _, secret := range []string{"SECRETPW1", "SECRETPW2", "SECRETKEY3", "SECRETID4", "SECRETKEY5", "SECRETFAC6"} {
		low := strings.ToLower(all)
		if i := strings.Index(low, strings.ToLower(secret)); i >= 0 {
			start := strings.LastIndexByte(low[:i], '\n') + 1
			end := i + strings.IndexByte(low[i:]+"\n", '\n')
			t.Errorf("the secret %s shows: %s", secret, low[start:end])
		}
	}
	// The failures were exercised: the output has them.
	for _, want := range []string{"connection refused", "500", "401", "rpcerror", "EOF", ", ready: 503 "} {
		if !strings.Contains(all, want) {
			t.Errorf("the output has no %q: the failure was not exercised", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", all)
	}
}

// secretRPCCase runs a facilitator, the gateway in front of it and go402
// wallet balance against the RPC URL rpcURL (on the faulty endpoint rpc)
// in every failure mode, and refusedURL (the same URL on a closed port).
func secretRPCCase(t *testing.T, d *devnet.Devnet, rpc *faultyRPC, rpcURL, refusedURL, name string, out *secretOutput) {
	// Start-up fails.
	for _, mode := range append(failureModes, "refused") {
		u := rpcURL
		if mode == "refused" {
			u = refusedURL
		}
		rpc.set(mode)
		ctx, cancel := context.WithTimeout(t.Context(), secretWait)
		svc, err := startSecretFacilitator(ctx, t, d, u, out)
		cancel()
		out.add("%s, start-up, %s: %v", name, mode, err)
		if err == nil {
			_ = svc.Close()
		}
		walletBalance(t, d, u, out, name+", wallet, "+mode)
	}
	// Verify, settle and the gateway's payments fail.
	rpc.set("ok")
	svc, err := startSecretFacilitator(t.Context(), t, d, rpcURL, out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	facURL := httptest.NewServer(svc.Handler())
	defer facURL.Close()
	defer func() { _ = svc.Close() }()
	gw := startSecretGateway(t, d, facURL.URL, out)
	for _, mode := range failureModes {
		rpc.set(mode)
		secretPayments(t, d, facURL.URL, gw, out, name+", "+mode)
	}
	rpc.set("ok")
}

// closedPort returns a loopback host:port nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func startSecretFacilitator(ctx context.Context, t *testing.T, d *devnet.Devnet, rpcURL string, out *secretOutput) (*service.Service, error) {
	tok := d.Token()
	yaml := fmt.Sprintf(`signer: {privateKeyEnv: GO402_TEST_SECRET_SIGNER}
database: {sqlite: %s/f.db}
settleTimeout: 3s
logLevel: debug
networks:
  - network: %s
    chainId: %d
    rpcUrls: [%q]
    assets: [{address: %s, name: %q, version: %q, decimals: %d, symbol: USDC, transferMethod: eip3009}]
`, t.TempDir(), d.Network(), d.ChainID().Uint64(), rpcURL, tok.Address.Hex(), tok.Name, tok.Version, tok.Decimals)
	cfg, err := config.Parse("facilitator.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// The command's logger, as go402 facilitator builds it.
	log := newLogger(out, cfg)
	return service.New(ctx, cfg, service.Deps{Logger: log})
}

func startSecretGateway(t *testing.T, d *devnet.Devnet, facURL string, out *secretOutput) string {
	yaml := fmt.Sprintf("facilitator: {url: %s}\nnetwork: %s\npayTo: %s\nlogLevel: debug\nroutes:\n  - {path: /paid, upstream: http://127.0.0.1:9, price: $0.01}\n",
		facURL, d.Network(), d.Accounts()[1].Address.Hex())
	cfg, err := gateway.Parse("gw.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := gatewayLogger(out, cfg)
	gw, err := gateway.New(t.Context(), cfg, gateway.Deps{Logger: log, Networks: []evm.NetworkConfig{d.NetworkConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

// secretPayments drives a verify and a settle on the facilitator, and a
// paid request through the gateway, recording every answer.
func secretPayments(t *testing.T, d *devnet.Devnet, facURL, gwURL string, out *secretOutput, what string) {
	client := &http.Client{Timeout: secretWait}
	tok := d.Token()
	asset := evm.Asset{Address: tok.Address, Name: tok.Name, Version: tok.Version, Decimals: tok.Decimals, Symbol: "USDC"}
	key := hex.EncodeToString(crypto.FromECDSA(d.Accounts()[0].PrivateKey))
	for _, op := range []string{"verify", "settle"} {
		if facURL == "" {
			break
		}
		p := signPayment(t, t.Context(), key, x402.Network(d.Network()), asset, d.Accounts()[1].Address, 1000)
		resp, err := client.Post(facURL+"/"+op, "application/json", bytes.NewReader(p.body))
		out.addResponse(what+", "+op, resp, err)
	}
	// The readiness reports name the failing RPC endpoint or facilitator,
	// never its key.
	for _, base := range []string{facURL, gwURL} {
		if base == "" {
			continue
		}
		resp, err := client.Get(base + "/ready")
		out.addResponse(what+", ready", resp, err)
	}
	resp, err := client.Get(gwURL + "/paid")
	if err != nil || resp.StatusCode != http.StatusPaymentRequired {
		out.addResponse(what+", gateway 402", resp, err)
		return
	}
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := ec.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	header, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, gwURL+"/paid", nil)
	req.Header.Set(x402.HeaderPaymentSignature, header)
	resp, err = client.Do(req)
	out.addResponse(what+", gateway paid", resp, err)
}

// walletBalance runs go402 wallet balance against rpcURL.
func walletBalance(t *testing.T, d *devnet.Devnet, rpcURL string, out *secretOutput, what string) {
	ctx, cancel := context.WithTimeout(t.Context(), secretWait)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"wallet", "balance", "--rpc", rpcURL, "--network", d.Network(), "--asset", d.Token().Address.Hex(),
		"--address", d.Accounts()[0].Address.Hex()}, strings.NewReader(""), &stdout, &stderr)
	out.add("%s: exit %d\n%s%s", what, code, stdout.String(), stderr.String())
}

// gatewayLogger is the logger go402 gateway builds for cfg.
func gatewayLogger(w io.Writer, cfg *gateway.Config) *slog.Logger { return newGatewayLogger(w, cfg) }
