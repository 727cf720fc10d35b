package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go402/go402/devnet"
)

// TestGatewayDevnetUpto: `go402 gateway --devnet` serves an upto route
// metered by its upstream's X-Usage header, its info file names the
// scheme, and `go402 pay` pays it from a payer account (approved for
// Permit2 at start-up), charged what the upstream reported.
func TestGatewayDevnetUpto(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Usage", "1234")
		fmt.Fprint(w, "generated")
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	cfgPath, infoPath := filepath.Join(dir, "gw.yaml"), filepath.Join(dir, "gw.json")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("facilitator: {url: https://x402.org/facilitator}\nnetwork: eip155:84532\nroutes:\n  - {path: GET /llm, upstream: %s, price: $0.01, scheme: upto}\n", up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr gwBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"gateway", "--config", cfgPath, "--devnet", "--listen", "127.0.0.1:0", "--info-file", infoPath}, strings.NewReader(""), &stdout, &stderr)
	}()
	gwWait(t, "the info file", done, func() bool { _, err := os.Stat(infoPath); return err == nil })
	info := readGatewayInfo(t, infoPath)
	if len(info.Endpoints) != 1 || info.Endpoints[0].Scheme != "upto" || info.Endpoints[0].Price != "$0.01" {
		t.Fatalf("endpoints %+v", info.Endpoints)
	}
	payer, _ := devnet.DevAccount(2)
	t.Setenv("GO402_PAYER_KEY", hexKey(payer))
	var out, errOut bytes.Buffer
	if code := Run(ctx, []string{"pay", "--devnet-info", infoPath, info.Endpoints[0].URL}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("pay: exit %d: %s\n%s", code, errOut.String(), stderr.String())
	}
	if out.String() != "generated" || !strings.Contains(errOut.String(), "paid 0.001234 USDC (authorized up to 0.01 USDC) on eip155:31337") {
		t.Fatalf("pay: %q / %q", out.String(), errOut.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("gateway exit %d: %s", code, stderr.String())
	}
}
