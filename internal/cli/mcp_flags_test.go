package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestMCPUsageErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"maxx": "$1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"mcp", "extra"},
		{"mcp", "--listen", "0.0.0.0:8403"},
		{"mcp", "--approve-above", "abc"},
		{"mcp", "--budget-file", "b.json"},
		{"mcp", "--max-body", "0"},
		{"mcp", "--timeout", "0s"},
		{"mcp", "--max", "lots"},
		{"mcp", "--budget-per-host", "lots"},
		{"mcp", "--allow-network", "not a network"},
		{"mcp", "--key-env", "K", "--keystore", "k.json"},
		{"mcp", "--config", bad},
	} {
		code, stdout, stderr := run(t, args...)
		if code != ExitUsage || stdout != "" || stderr == "" {
			t.Errorf("go402 %s: exit %d, stdout %q, stderr %q; want exit 2", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// TestMCPConfigFile: the --config file gives the settings that no flag
// gives.
func TestMCPConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp.json")
	cfg := `{"max": "$0.05", "budget": "$1", "budgetFile": "b.json", "budgetPerHost": "$0.5", "approveAbove": "$0.01",
	  "allowNetworks": ["eip155:8453"], "allowHosts": ["api.example.com"], "allowPayTo": ["0x000000000000000000000000000000000000dEaD"], "maxBody": 1024}`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parseMCPFlags(env{stdout: io.Discard, stderr: io.Discard}, []string{"--config", path, "--max", "$0.02", "--allow-host", "other.example"})
	if err != nil {
		t.Fatal(err)
	}
	if o.pay.max != "$0.02" || o.pay.budget != "$1" || o.pay.budgetFile != "b.json" || o.budgetPerHost != "$0.5" || o.approveAbove != "$0.01" ||
		len(o.pay.networks) != 1 || !slices.Equal(o.allowHosts, []string{"other.example"}) || len(o.allowPayTo) != 1 || o.maxBody != 1024 {
		t.Errorf("options %+v", o)
	}
}

// TestMCPOverHTTP: with --listen, go402 mcp serves streamable HTTP at
// /mcp; a free URL is quoted and fetched without paying.
func TestMCPOverHTTP(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GO402_PAYER_KEY", fmt.Sprintf("0x%x", crypto.FromECDSA(key)))
	free := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "free lunch") }))
	defer free.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"mcp", "--listen", "127.0.0.1:0", "--allow-host", "127.0.0.1"}, strings.NewReader(""), &stdout, &stderr)
	}()
	re := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+/mcp)`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no listening line: %s", stderr.String())
		}
		m = re.FindStringSubmatch(stderr.String())
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: m[1]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"quote", map[string]any{"url": free.URL}, `"free":true`},
		{"fetch", map[string]any{"url": free.URL}, `"body":"free lunch"`},
		{"budget", nil, `"spent":"0"`},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res.StructuredContent)
		if res.IsError || !strings.Contains(string(b), c.want) || strings.Contains(string(b), `"paid"`) {
			t.Errorf("%s: %s %+v", c.tool, b, res.Content)
		}
	}
	_ = cs.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}
