package service_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/health"
	"github.com/go402/go402/ledger/sqlite"
)

// readySecret is in the RPC URL's query, where providers put API keys:
// /ready must never show it.
const readySecret = "READYSECRET42"

// readyService starts a facilitator on d's RPC endpoint, reached through a
// proxy the test can close, with the extra YAML given.
func readyService(t *testing.T, d *devnet.Devnet, extra string, deps service.Deps) (*service.Service, *httptest.Server, *httptest.Server) {
	t.Helper()
	target, err := url.Parse(d.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(proxy.Close)
	tok := d.Token()
	yaml := fmt.Sprintf(`signer: {privateKeyEnv: READY_KEY}
database: {sqlite: %s}
networks:
  - network: %s
    chainId: %d
    rpcUrls: [%q]
    assets: [{address: %s, name: %q, version: %q, decimals: %d, symbol: USDC, transferMethod: eip3009}]
%s`, filepath.Join(t.TempDir(), "l.db"), d.Network(), d.ChainID().Uint64(), proxy.URL+"/?apikey="+readySecret,
		tok.Address.Hex(), tok.Name, tok.Version, tok.Decimals, extra)
	cfg, err := config.Parse("ready.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key := hex.EncodeToString(crypto.FromECDSA(d.Accounts()[len(d.Accounts())-1].PrivateKey))
	deps.Getenv = func(string) string { return key }
	svc, err := service.New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return svc, srv, proxy
}

// getReady fetches /ready and decodes it, checking that no secret shows.
func getReady(t *testing.T, base string) (int, health.Report) {
	t.Helper()
	resp, err := http.Get(base + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(string(b)), strings.ToLower(readySecret)) {
		t.Errorf("/ready shows the RPC URL's secret: %s", b)
	}
	var rep health.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("/ready body %q: %v", b, err)
	}
	return resp.StatusCode, rep
}

func failedNames(rep health.Report) []string {
	var out []string
	for _, c := range rep.Failed() {
		out = append(out, c.Name+": "+c.Detail)
	}
	return out
}

func TestReadiness(t *testing.T) {
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 3, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	net := d.Network()

	t.Run("healthy", func(t *testing.T) {
		_, srv, _ := readyService(t, d, "", service.Deps{})
		status, rep := getReady(t, srv.URL)
		t.Logf("%+v", rep)
		if status != http.StatusOK || !rep.OK() {
			t.Fatalf("status %d, failed %v", status, failedNames(rep))
		}
		want := []string{"ledger", "rpc " + net, "gas " + net}
		if len(rep.Checks) != len(want) {
			t.Fatalf("checks %+v, want %v", rep.Checks, want)
		}
		for i, c := range rep.Checks {
			if c.Name != want[i] || !c.OK || c.Detail == "" {
				t.Errorf("check %d: %+v, want %s ok with a detail", i, c, want[i])
			}
		}
		// Liveness answers too.
		resp, err := http.Get(srv.URL + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/health: %d", resp.StatusCode)
		}
	})
	t.Run("rpc down", func(t *testing.T) {
		_, srv, proxy := readyService(t, d, "", service.Deps{})
		proxy.Close() // the endpoint's port is closed now
		status, rep := getReady(t, srv.URL)
		if status != http.StatusServiceUnavailable || rep.OK() {
			t.Fatalf("status %d, report %+v", status, rep)
		}
		failed := failedNames(rep)
		t.Logf("%q", failed)
		if len(failed) == 0 || !strings.HasPrefix(failed[0], "rpc "+net+": ") || !strings.Contains(strings.Join(failed, "\n"), "refused") {
			t.Errorf("failed checks %q: want rpc %s, connection refused", failed, net)
		}
		for _, c := range rep.Checks {
			if c.Name == "ledger" && !c.OK {
				t.Errorf("the ledger failed too: %+v", c)
			}
		}
	})
	t.Run("signer below floor", func(t *testing.T) {
		_, srv, _ := readyService(t, d, "readiness: {minGasBalance: \"1000000000000000000000000000\"}\n", service.Deps{})
		status, rep := getReady(t, srv.URL)
		failed := failedNames(rep)
		if status != http.StatusServiceUnavailable || len(failed) != 1 || !strings.HasPrefix(failed[0], "gas "+net+": ") ||
			!strings.Contains(failed[0], "below the floor") {
			t.Fatalf("status %d, failed %q: want 503 and the gas check failing", status, failed)
		}
	})
	t.Run("ledger closed", func(t *testing.T) {
		st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "host.db")})
		if err != nil {
			t.Fatal(err)
		}
		_, srv, _ := readyService(t, d, "", service.Deps{Store: st})
		// Closed before the first probe (reports are cached for a second).
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		status, rep := getReady(t, srv.URL)
		failed := failedNames(rep)
		if status != http.StatusServiceUnavailable || len(failed) != 1 || !strings.HasPrefix(failed[0], "ledger: ") {
			t.Fatalf("status %d, failed %q: want 503 and the ledger failing", status, failed)
		}
	})
}
