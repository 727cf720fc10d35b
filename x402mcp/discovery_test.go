package x402mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestDiscoverableTool: a tool declared discoverable is listed by the
// facilitator that settled its call, as an "mcp" resource with its name
// and input schema; a paid tool not declared is not.
func TestDiscoverableTool(t *testing.T) {
	m := newMarket(t)
	ps, err := x402mcp.New(x402mcp.Config{Facilitator: m.st.Facilitator, Schemes: evm.ServerSchemes(m.st.Networks)})
	if err != nil {
		t.Fatal(err)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "discoverable", Version: "1"}, nil)
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	opt := []x402mcp.Option{{Network: m.st.Network, PayTo: m.payee.Hex(), Price: "$0.002"}}
	ok := func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	}
	forecast := &mcp.Tool{Name: "forecast", Description: "Weather forecast for a city",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}
	pt, err := x402mcp.Discoverable(forecast, x402mcp.Tool{Accepts: opt, Resource: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.AddTool(srv, forecast, pt, ok); err != nil {
		t.Fatal(err)
	}
	if err := ps.AddTool(srv, &mcp.Tool{Name: "private", InputSchema: objectSchema}, x402mcp.Tool{Accepts: opt, Resource: hs.URL}, ok); err != nil {
		t.Fatal(err)
	}
	cs, err := newClient(nil).Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	c, _ := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	s := x402mcp.NewSession(c, cs, hs.URL)
	for _, name := range []string{"forecast", "private"} {
		res, receipt, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{"city": "Oslo"}})
		if err != nil || res.IsError || receipt == nil {
			t.Fatalf("%s: %+v %+v %v", name, res, receipt, err)
		}
	}
	lr, err := m.st.Facilitator.DiscoveryResources(t.Context(), bazaar.ListParams{Type: bazaar.TypeMCP})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Pagination.Total != 1 || len(lr.Items) != 1 {
		t.Fatalf("listed %d mcp resources (total %d), want the discoverable tool", len(lr.Items), lr.Pagination.Total)
	}
	it := lr.Items[0]
	ext := it.Declaration()
	if it.Resource != hs.URL || it.Type != "mcp" || ext == nil || ext.Info.Input.ToolName != "forecast" ||
		!strings.Contains(string(ext.Info.Input.InputSchema), `"city"`) || it.Metadata.ToolName != "forecast" || it.Metadata.Prices[0].Units != "0.002" {
		t.Fatalf("listed %+v (extension %s)", it, it.Extensions)
	}
}
