package x402mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Parallel paid calls from one client share its budget: exactly as many
// are paid as the budget allows, the others are refused before signing.
func TestConcurrentCallsShareTheBudget(t *testing.T) {
	m := newMarket(t)
	conn := m.overHTTP(t)
	c, sig := m.wallet(t, client.Policy{MaxPerRequest: "$0.01", Budget: "$0.005"})
	s := x402mcp.NewSession(c, conn.cs, conn.server)
	before := m.balance(t, m.payee)
	var paid, refused atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			res, receipt, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"})
			var pe *client.PolicyError
			switch {
			case errors.As(err, &pe) && pe.Rule == client.RuleBudget:
				refused.Add(1)
			case err == nil && text(res) == "sunny" && receipt != nil && receipt.Settlement != nil && receipt.Settlement.Success:
				paid.Add(1)
			default:
				t.Errorf("call: %+v %+v %v", res, receipt, err)
			}
		})
	}
	wg.Wait()
	if paid.Load() != 5 || refused.Load() != 5 || sig.n.Load() != 5 {
		t.Errorf("paid %d, refused %d, signed %d; want 5, 5, 5", paid.Load(), refused.Load(), sig.n.Load())
	}
	if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(5000)) != 0 {
		t.Errorf("payee received %s, want 5000", got)
	}
	if got := calls(t, conn.cs)["weather"]; got != 5 {
		t.Errorf("the tool ran %d times", got)
	}
}

// A hostile server that asks for payment again after being paid gets one
// payment attempt: the client does not sign a second time, and reports
// the refusal.
func TestServerAskingAgainIsPaidOnce(t *testing.T) {
	m := newMarket(t)
	price, err := x402.ParsePrice("$0.001")
	if err != nil {
		t.Fatal(err)
	}
	req, err := m.st.Networks.Requirements(m.st.Network, price, m.payee, 60)
	if err != nil {
		t.Fatal(err)
	}
	pr := &x402.PaymentRequired{X402Version: 2, Error: "Payment required", Resource: x402.ResourceInfo{URL: "mcp://tool/greedy"}, Accepts: []x402.PaymentRequirements{req}}
	body := mustJSON(t, pr)
	var ran, withPayment atomic.Int64
	srv := mcp.NewServer(&mcp.Implementation{Name: "greedy", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "greedy", InputSchema: objectSchema}, func(_ context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ran.Add(1)
		if r.Params.Meta[x402mcp.MetaPayment] != nil {
			withPayment.Add(1)
		}
		return &mcp.CallToolResult{IsError: true, StructuredContent: json.RawMessage(body), Content: []mcp.Content{&mcp.TextContent{Text: body}}}, nil
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := newClient(nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	c, sig := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	res, receipt, err := x402mcp.NewSession(c, cs, "greedy").CallTool(t.Context(), &mcp.CallToolParams{Name: "greedy"})
	var pe *client.PaymentError
	if !errors.As(err, &pe) || receipt != nil {
		t.Fatalf("err %v receipt %+v, want a PaymentError", err, receipt)
	}
	if _, ok := x402mcp.PaymentRequiredFromResult(res); !ok {
		t.Errorf("the server's last answer is not returned: %+v", res)
	}
	if ran.Load() != 2 || withPayment.Load() != 1 || sig.n.Load() != 1 {
		t.Errorf("calls %d (paid %d), signatures %d; want 2 (1), 1", ran.Load(), withPayment.Load(), sig.n.Load())
	}
}

// One go402 client, with x402mcp.Transport as its base, pays for URLs and
// tools from the same budget.
func TestOneBudgetForURLsAndTools(t *testing.T) {
	m := newMarket(t)
	_, web := m.st.Serve(t, x402http.Config{Routes: []x402http.Route{{Pattern: "GET /report", Accepts: []x402http.PaymentOption{m.st.Option("$0.001", m.payee.Hex())}}}},
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "report") }))
	conn := m.overHTTP(t)
	c, sig := m.wallet(t, client.Policy{Budget: "$0.0015"})
	resp, err := c.HTTPClient().Get(web.URL + "/report")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if r, ok := client.ReceiptFromResponse(resp); resp.StatusCode != 200 || !ok || r.Settlement == nil || !r.Settlement.Success {
		t.Fatalf("URL: %d %+v", resp.StatusCode, r)
	}
	_, _, err = x402mcp.NewSession(c, conn.cs, conn.server).CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"})
	var pe *client.PolicyError
	if !errors.As(err, &pe) || pe.Rule != client.RuleBudget || sig.n.Load() != 1 {
		t.Fatalf("tool after the URL spent the budget: %v (signatures %d)", err, sig.n.Load())
	}
	sp, err := c.Spending(t.Context())
	if err != nil || sp.Spent != "0.001" || sp.Payments != 1 {
		t.Errorf("spending %+v %v", sp, err)
	}
}
