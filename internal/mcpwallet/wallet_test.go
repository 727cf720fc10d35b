package mcpwallet

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go402/go402/evm"
)

// connect runs a wallet's server in memory and connects a client to it.
func connect(t *testing.T, cfg Config) *mcp.ClientSession {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Signer, err = evm.NewPrivateKeySignerFromECDSA(key); err != nil {
		t.Fatal(err)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, ct := mcp.NewInMemoryTransports()
	ss, err := w.Server(nil).Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// callJSON calls a tool and returns its structured content as JSON, or
// its error text.
func callJSON(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		return res.Content[0].(*mcp.TextContent).Text, true
	}
	b, _ := json.Marshal(res.StructuredContent)
	return string(b), false
}

// TestFetchFree: bodies are bounded, binary ones in base64, redirects
// returned, payment headers and unsafe quotes refused; nothing is paid.
func TestFetchFree(t *testing.T) {
	var gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, strings.Repeat("a", 100))
		case "/bin":
			w.Write([]byte{0xff, 0xfe, 0x00})
		case "/redirect":
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		case "/echo":
			gotHeader = r.Header.Get("X-Agent")
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, r.Method+" "+string(b))
		}
	}))
	defer srv.Close()
	cs := connect(t, Config{MaxBody: 10})
	for _, c := range []struct {
		args    map[string]any
		want    string
		isError bool
	}{
		{map[string]any{"url": srv.URL + "/big"}, `"body":"aaaaaaaaaa",`, false},
		{map[string]any{"url": srv.URL + "/big"}, `"truncated":true`, false},
		{map[string]any{"url": srv.URL + "/bin"}, `"bodyBase64":"//4A"`, false},
		{map[string]any{"url": srv.URL + "/redirect"}, `"status":302`, false},
		{map[string]any{"url": srv.URL + "/echo", "body": "hi", "headers": map[string]any{"X-Agent": "a"}}, `"body":"POST hi"`, false},
		{map[string]any{"url": srv.URL + "/echo", "headers": map[string]any{"Payment-Signature": "x"}}, "payment headers", true},
		{map[string]any{"url": "ftp://x/"}, "want an absolute http", true},
		{map[string]any{"url": srv.URL, "method": "GE T"}, "not an HTTP method", true},
	} {
		got, isErr := callJSON(t, cs, "fetch", c.args)
		if isErr != c.isError || !strings.Contains(got, c.want) || strings.Contains(got, `"paid"`) {
			t.Errorf("fetch %v: %s (error %v), want %s", c.args, got, isErr, c.want)
		}
	}
	if gotHeader != "a" {
		t.Errorf("header X-Agent %q", gotHeader)
	}
	if got, isErr := callJSON(t, cs, "quote", map[string]any{"url": srv.URL + "/echo", "method": "POST"}); !isErr || !strings.Contains(got, "only GET and HEAD") {
		t.Errorf("quote POST: %s", got)
	}
	if got, isErr := callJSON(t, cs, "budget", nil); isErr || !strings.Contains(got, `"history":[]`) || !strings.Contains(got, `"payments":0`) {
		t.Errorf("budget: %s", got)
	}
}

func TestToolOutputBounded(t *testing.T) {
	w := &Wallet{cfg: Config{MaxBody: 8}}
	var out CallToolOutput
	w.setToolOutput(&out, &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "héllo wörld"}}, StructuredContent: map[string]string{"k": "a long value"}})
	if len(out.Text) > 8 || !out.Truncated || out.Structured != nil || !strings.HasPrefix(out.Text, "héllo") {
		t.Errorf("%+v", out)
	}
	out = CallToolOutput{}
	w.setToolOutput(&out, &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}, StructuredContent: map[string]int{"a": 1}})
	if out.Text != "ok" || out.Truncated || out.Structured == nil {
		t.Errorf("%+v", out)
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no signer accepted")
	}
	key, _ := crypto.GenerateKey()
	s, _ := evm.NewPrivateKeySignerFromECDSA(key)
	for _, cfg := range []Config{{Signer: s, ApproveAbove: "lots"}, {Signer: s, AllowHosts: []string{"a/b"}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
