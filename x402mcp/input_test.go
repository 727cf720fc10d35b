package x402mcp_test

import (
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A paid tool that asks the client for input (a multi round-trip request:
// the SDK fulfils it and calls again with the answers and the same
// payment) is paid once: the continuation is not verified again, and the
// payment settles with the final result.
func TestToolAskingForInputIsPaidOnce(t *testing.T) {
	m := newMarket(t)
	ps, err := x402mcp.New(x402mcp.Config{Facilitator: m.st.Facilitator, Schemes: evm.ServerSchemes(m.st.Networks)})
	if err != nil {
		t.Fatal(err)
	}
	var ran, asked atomic.Int64
	srv := mcp.NewServer(&mcp.Implementation{Name: "asking", Version: "1"}, nil)
	err = ps.AddTool(srv, &mcp.Tool{Name: "transfer", InputSchema: objectSchema},
		x402mcp.Tool{Accepts: []x402mcp.Option{{Network: m.st.Network, PayTo: m.payee.Hex(), Price: "$0.001"}}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ran.Add(1)
			if len(req.Params.InputResponses) == 0 {
				return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"confirm": &mcp.ElicitParams{
					Mode: "form", Message: "Proceed?", RequestedSchema: json.RawMessage(`{"type":"object","properties":{"ok":{"type":"boolean"}}}`),
				}}}, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	cl := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.Add(1)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	cs, err := cl.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	c, sig := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	before := m.balance(t, m.payee)
	res, receipt, err := x402mcp.NewSession(c, cs, hs.URL).CallTool(t.Context(), &mcp.CallToolParams{Name: "transfer"})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || text(res) != "done" || receipt == nil || receipt.Settlement == nil || !receipt.Settlement.Success {
		t.Fatalf("result %+v receipt %+v", res, receipt)
	}
	if asked.Load() != 1 || sig.n.Load() != 1 {
		t.Errorf("asked %d, signed %d; want 1, 1", asked.Load(), sig.n.Load())
	}
	if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s, want 1000", got)
	}
	t.Logf("the tool ran %d times", ran.Load())
}
