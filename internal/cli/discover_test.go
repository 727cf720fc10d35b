package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402mcp"
)

// TestDevDiscover: after one paid call to each endpoint of go402 dev,
// go402 discover lists them, from the facilitator go402 dev runs.
func TestDevDiscover(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	info := filepath.Join(t.TempDir(), "dev.json")
	var out, errOut devOutput
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"dev", "--info-file", info}, strings.NewReader(""), &out, &errOut) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Press Ctrl-C"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("go402 dev did not start:\n%s\n%s", out.String(), errOut.String())
		}
	}
	di := readDevInfo(t, info)

	// Nothing is listed before a payment.
	if items := discoverJSON(t, ctx, "--devnet-info", info); len(items) != 0 {
		t.Fatalf("listed %d resources before any payment", len(items))
	}
	channels := filepath.Join(t.TempDir(), "channels.json")
	for i, ep := range di.Endpoints {
		args := []string{"pay", "--devnet-info", info, "--max", "$1", ep.URL}
		payer := di.Accounts[0]
		switch {
		case ep.Scheme == "batch-settlement":
			args = []string{"pay", "--devnet-info", info, "--channel-file", channels, "--max", "$2", ep.URL}
		case strings.HasSuffix(ep.URL, stackPermit2Path):
			args = []string{"pay", "--devnet-info", info, "--max", "0.01 TPD", ep.URL}
			payer = di.Accounts[1]
		}
		t.Setenv("GO402_PAYER_KEY", payer.PrivateKey)
		var pout, perr bytes.Buffer
		if code := Run(ctx, args, strings.NewReader(""), &pout, &perr); code != 0 {
			t.Fatalf("endpoint %d: pay exit %d: %s", i, code, perr.String())
		}
	}

	// One paid call to each MCP tool of go402 dev.
	if di.MCP == nil || len(di.MCP.Tools) == 0 {
		t.Fatalf("go402 dev announces no MCP tools: %+v", di.MCP)
	}
	session := devMCPSession(t, info, di)
	for _, tool := range di.MCP.Tools {
		res, receipt, err := session.CallTool(ctx, &mcp.CallToolParams{Name: tool.Name, Arguments: map[string]any{"city": "Porto"}})
		if err != nil || res.IsError || receipt == nil {
			t.Fatalf("tool %s: %+v %+v %v", tool.Name, res, receipt, err)
		}
	}

	// The serve-then-settle route is settled after it was served: wait.
	var items []bazaar.Resource
	want := len(di.Endpoints) + len(di.MCP.Tools)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		items = discoverJSON(t, ctx, "--devnet-info", info)
		if len(items) >= want || time.Now().After(deadline) {
			break
		}
	}
	listed := map[string]bazaar.Resource{}
	for _, it := range items {
		listed[it.Resource] = it
	}
	for _, ep := range di.Endpoints {
		it, ok := listed[ep.URL]
		if !ok {
			t.Errorf("%s is not listed; listed: %v", ep.URL, keysOf(listed))
			continue
		}
		if it.Declaration() == nil || it.Metadata == nil || len(it.Metadata.Prices) != 1 || it.Metadata.Prices[0].Units == "" {
			t.Errorf("%s listed as %+v", ep.URL, it)
		}
	}
	tools := map[string]bool{}
	for _, it := range items {
		if ext := it.Declaration(); it.Type == bazaar.TypeMCP && ext != nil && it.Metadata != nil && len(it.Metadata.Prices) == 1 && it.Metadata.Prices[0].Units != "" {
			tools[ext.Info.Input.ToolName] = true
		}
	}
	for _, tool := range di.MCP.Tools {
		if !tools[tool.Name] {
			t.Errorf("tool %s is not listed (mcp tools listed: %v)", tool.Name, tools)
		}
	}
	if got := discoverJSON(t, ctx, "--devnet-info", info, "--type", "mcp"); len(got) != len(di.MCP.Tools) {
		t.Errorf("--type mcp listed %d, want %d", len(got), len(di.MCP.Tools))
	}
	if w := listed[di.Endpoints[0].URL]; w.Metadata == nil || w.Metadata.Prices[0].Units != "0.001" || w.Metadata.Prices[0].Symbol != "USDC" {
		t.Errorf("weather's price %+v", w.Metadata)
	}

	// --max filters on the price in units; the table shows it.
	if got := discoverJSON(t, ctx, "--devnet-info", info, "--max", "$0.01"); len(got) != len(items)-2 {
		t.Errorf("--max $0.01 kept %d of %d (the $0.05 report route and tool are above)", len(got), len(items))
	}
	if got := discoverJSON(t, ctx, "--facilitator", di.FacilitatorURL, "--network", "eip155:1"); len(got) != 0 {
		t.Errorf("--network eip155:1 listed %d", len(got))
	}
	var tout, terr bytes.Buffer
	if code := Run(ctx, []string{"discover", "--devnet-info", info}, strings.NewReader(""), &tout, &terr); code != 0 {
		t.Fatalf("discover exit %d: %s", code, terr.String())
	}
	if !strings.Contains(tout.String(), "0.05 USDC") || !strings.Contains(tout.String(), "/weather") || !strings.Contains(tout.String(), "GET") {
		t.Errorf("discover table:\n%s", tout.String())
	}
	cancel()
	<-done
}

func readDevInfo(t *testing.T, path string) devInfo {
	t.Helper()
	var di devInfo
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &di); err != nil {
		t.Fatal(err)
	}
	return di
}

func discoverJSON(t *testing.T, ctx context.Context, args ...string) []bazaar.Resource {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := Run(ctx, append([]string{"discover", "--json"}, args...), strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("discover %v: exit %d: %s", args, code, errOut.String())
	}
	lr, err := bazaar.DecodeList(out.Bytes())
	if err != nil {
		t.Fatalf("discover --json: %v\n%s", err, out.String())
	}
	return lr.Items
}

// devMCPSession is a paying MCP session with the MCP endpoint of go402
// dev, paying from its second account.
func devMCPSession(t *testing.T, info string, di devInfo) *x402mcp.Session {
	t.Helper()
	key, err := evm.NewPrivateKeySigner(di.Accounts[1].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	assets := client.DefaultAssets()
	nc, err := loadDevnetNetwork(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := assets.Add(client.EVMAssets(nc)...); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(key, client.Config{Base: x402mcp.Transport(nil), Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: di.MCP.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return x402mcp.NewSession(c, cs, di.MCP.URL)
}

func keysOf(m map[string]bazaar.Resource) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDiscoverUsage(t *testing.T) {
	t.Setenv("GO402_FACILITATOR_URL", "")
	for _, args := range [][]string{
		{"discover"},
		{"discover", "--facilitator", "http://127.0.0.1:1", "--max", "abc"},
		{"discover", "--facilitator", "http://127.0.0.1:1", "--type", "ftp"},
		{"discover", "--facilitator", "http://127.0.0.1:1", "--limit", "0"},
		{"discover", "--facilitator", "http://127.0.0.1:1", "extra"},
	} {
		if code, _, _ := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}

func TestOneLineStripsControls(t *testing.T) {
	if got := oneLine("a\x1b[31mred\nb\u009bc", 100); strings.ContainsAny(got, "\x1b\n\u009b") {
		t.Errorf("oneLine kept control characters: %q", got)
	}
}
