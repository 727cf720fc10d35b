package interop

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpTools are the paid tools of case m and how often each handler ran.
type mcpTools struct {
	url           string
	weather, fail atomic.Int64
}

// goMCPServer serves two tools priced at $0.001 with go402's x402mcp over
// the streamable HTTP transport on loopback, verified and settled by fac:
// "weather" answers "sunny"; "fail" always returns an error result.
func (w *world) goMCPServer(fac x402.Facilitator) *mcpTools {
	t := w.t
	t.Helper()
	sell, err := x402mcp.New(x402mcp.Config{Facilitator: fac, Schemes: evm.ServerSchemes(w.nets)})
	if err != nil {
		t.Fatal(err)
	}
	tools := &mcpTools{}
	paid := x402mcp.Tool{
		Accepts:     []x402mcp.Option{{Network: w.network(), Price: price, PayTo: w.addr(acctPayee).Hex()}},
		Description: "Weather",
	}
	object := json.RawMessage(`{"type":"object"}`)
	srv := mcp.NewServer(&mcp.Implementation{Name: "go402-interop-tools", Version: "1"}, nil)
	err = sell.AddTool(srv, &mcp.Tool{Name: "weather", InputSchema: object}, paid,
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			tools.weather.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	failing := paid
	failing.Description = "Always fails"
	err = sell.AddTool(srv, &mcp.Tool{Name: "fail", InputSchema: object}, failing,
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			tools.fail.Add(1)
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "upstream down"}}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	tools.url = hs.URL
	return tools
}

// mcpToolResult is a tools/call result as the Node client received it.
type mcpToolResult struct {
	IsError bool `json:"isError"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent json.RawMessage            `json:"structuredContent"`
	Meta              map[string]json.RawMessage `json:"_meta"`
}

// mcpClientResult is the JSON line printed by mcp-client.mjs.
type mcpClientResult struct {
	OK                    bool                 `json:"ok"`
	Unpaid                mcpToolResult        `json:"unpaid"`
	TextMatchesStructured bool                 `json:"textMatchesStructured"`
	Result                mcpToolResult        `json:"result"`
	PaymentResponse       *x402.SettleResponse `json:"paymentResponse"`
	Replay                *mcpToolResult       `json:"replay"`
	Payer                 string               `json:"payer"`
	Error                 string               `json:"error"`
}

// runMCPClient runs mcp-client.mjs against tool and returns its result,
// failing the test unless the script ran to the end.
// With replay, the script sends the same signed payment once more.
func (w *world) runMCPClient(url, tool string, replay bool) mcpClientResult {
	t := w.t
	t.Helper()
	env := map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": url, "TOOL": tool, "ARGS": `{"city":"Lisbon"}`}
	if replay {
		env["REPLAY"] = "1"
	}
	p := w.start("mcp-client.mjs", "", env)
	select {
	case <-p.done:
	case <-w.ctx.Done():
		t.Fatalf("mcp-client.mjs: %v", w.ctx.Err())
	}
	out := strings.TrimSpace(p.out.String())
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var r mcpClientResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("mcp-client.mjs: last line is not a result: %q (%v)", out, err)
	}
	if !r.OK {
		t.Fatalf("mcp-client.mjs failed: %s", r.Error)
	}
	return r
}

// checkUnpaid checks the first, unpaid call's result against the
// transport spec: an error result, the PaymentRequired for tool in
// structuredContent and the same JSON in content[0].text, no receipt.
func (w *world) checkUnpaid(r mcpClientResult, tool string) {
	t := w.t
	t.Helper()
	u := r.Unpaid
	if !u.IsError || len(u.Content) == 0 || u.Content[0].Type != "text" || u.Meta[x402mcp.MetaPaymentResponse] != nil {
		t.Fatalf("unpaid result %+v", u)
	}
	if !r.TextMatchesStructured {
		t.Errorf("the client found content[0].text and structuredContent different")
	}
	var fromText, fromStructured any
	if err := json.Unmarshal([]byte(u.Content[0].Text), &fromText); err != nil {
		t.Fatalf("content[0].text is not JSON: %v", err)
	}
	if err := json.Unmarshal(u.StructuredContent, &fromStructured); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromText)
	b, _ := json.Marshal(fromStructured)
	if string(a) != string(b) {
		t.Errorf("content[0].text %s\nstructuredContent %s", a, b)
	}
	var pr x402.PaymentRequired
	if err := json.Unmarshal(u.StructuredContent, &pr); err != nil {
		t.Fatalf("structuredContent is not a PaymentRequired: %v", err)
	}
	if pr.X402Version != 2 || pr.Resource.URL != "mcp://tool/"+tool || len(pr.Accepts) != 1 {
		t.Fatalf("PaymentRequired %s", u.StructuredContent)
	}
	got := pr.Accepts[0]
	if got.Scheme != "exact" || got.Network != w.network() || got.Amount != x402.NewAmount(priceAtoms) ||
		!strings.EqualFold(got.Asset, w.token.Address.Hex()) || !strings.EqualFold(got.PayTo, w.addr(acctPayee).Hex()) {
		t.Errorf("accepts[0] %+v", got)
	}
}

// TestOfficialMCPClientPaysGoTool: the official TypeScript MCP SDK's
// client, with the official x402 client signing, pays a go402 x402mcp tool
// over streamable HTTP, settled by go402's facilitator on the devnet, once
// (the same payment sent again is refused); a tool error result is not
// charged.
func TestOfficialMCPClientPaysGoTool(t *testing.T) {
	w := newWorld(t, 0)
	fac, _ := w.goFacilitator()
	tools := w.goMCPServer(fac)

	t.Run("paid call", func(t *testing.T) {
		w := w.sub(t)
		b := w.snapshot(w.addr(acctNodePayer), w.addr(acctPayee))
		r := w.runMCPClient(tools.url, "weather", true)
		w.checkUnpaid(r, "weather")
		if r.Result.IsError || len(r.Result.Content) != 1 || r.Result.Content[0].Text != "sunny" {
			t.Fatalf("paid result %+v", r.Result)
		}
		// The same payment sent again is refused with a payment-required
		// result: the tool does not run again and nothing more moves.
		rp := r.Replay
		if rp == nil || !rp.IsError || rp.Meta[x402mcp.MetaPaymentResponse] != nil {
			t.Fatalf("replayed payment: %+v", rp)
		}
		var refused x402.PaymentRequired
		if err := json.Unmarshal(rp.StructuredContent, &refused); err != nil || refused.X402Version != 2 || len(refused.Accepts) != 1 ||
			!strings.Contains(refused.Error, "already used") {
			t.Errorf("replay answer %s (%v)", rp.StructuredContent, err)
		}
		if n := tools.weather.Load(); n != 1 {
			t.Errorf("tool ran %d times, want 1", n)
		}
		w.checkSettled(r.PaymentResponse, w.dev.Network())
		if !strings.EqualFold(r.PaymentResponse.Payer, r.Payer) || !strings.EqualFold(r.Payer, w.addr(acctNodePayer).Hex()) {
			t.Errorf("receipt payer %q, client %q, want %s", r.PaymentResponse.Payer, r.Payer, w.addr(acctNodePayer).Hex())
		}
		b.moved(priceAtoms)
		t.Logf("paid %s: tool result %q, receipt %+v", r.Payer, r.Result.Content[0].Text, *r.PaymentResponse)
	})

	t.Run("tool error is not charged", func(t *testing.T) {
		w := w.sub(t)
		payer, payee := w.balance(w.addr(acctNodePayer)), w.balance(w.addr(acctPayee))
		r := w.runMCPClient(tools.url, "fail", false)
		w.checkUnpaid(r, "fail")
		if !r.Result.IsError || len(r.Result.Content) != 1 || r.Result.Content[0].Text != "upstream down" {
			t.Fatalf("paid result %+v", r.Result)
		}
		if r.PaymentResponse != nil || r.Result.Meta[x402mcp.MetaPaymentResponse] != nil {
			t.Errorf("error result carries a receipt: %+v", r.PaymentResponse)
		}
		if n := tools.fail.Load(); n != 1 {
			t.Errorf("tool ran %d times, want 1", n)
		}
		if p, q := w.balance(w.addr(acctNodePayer)), w.balance(w.addr(acctPayee)); p.Cmp(payer) != 0 || q.Cmp(payee) != 0 {
			t.Errorf("balances moved: payer %s -> %s, payee %s -> %s", payer, p, payee, q)
		}
	})
}
