package x402mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestPaidTools runs the paid-tool scenarios against the same tools over
// the streamable HTTP transport on loopback and over stdio (a child
// process), on the devnet with real EIP-3009 signatures.
func TestPaidTools(t *testing.T) {
	m := newMarket(t)
	transports := []struct {
		name    string
		connect func(testing.TB, ...mcp.Middleware) connected
	}{
		{"streamable-http", m.overHTTP},
		{"stdio", m.overStdio},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			conn := tr.connect(t)
			t.Run("unpaid call is answered with PaymentRequired", func(t *testing.T) { unpaidCall(t, m, conn) })
			t.Run("paid call", func(t *testing.T) { paidCall(t, m, conn) })
			t.Run("tool error is never charged", func(t *testing.T) { toolErrorNotCharged(t, m, conn) })
			t.Run("policy refusal signs nothing", func(t *testing.T) { policyRefusal(t, m, conn) })
			t.Run("price from arguments", func(t *testing.T) { priceFromArguments(t, m, conn) })
			t.Run("replayed payment is refused", func(t *testing.T) { replayRefused(t, m, tr.connect) })
		})
	}
}

func unpaidCall(t *testing.T, m *market, conn connected) {
	res, err := conn.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || res.Meta[x402mcp.MetaPaymentResponse] != nil {
		t.Fatalf("unpaid result %+v", res)
	}
	// structuredContent and content[0].text hold the same PaymentRequired.
	structured, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(structured, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(text(res)), &b); err != nil {
		t.Fatalf("content[0].text is not JSON: %v", err)
	}
	if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
		t.Errorf("structuredContent %s\ncontent[0].text %s", ja, jb)
	}
	pr, ok := x402mcp.PaymentRequiredFromResult(res)
	if !ok {
		t.Fatal("no PaymentRequired")
	}
	want := x402.PaymentRequirements{Scheme: "exact", Network: m.st.Network, Amount: x402.NewAmount(1000), Asset: m.st.Devnet.Token().Address.Hex(), PayTo: m.payee.Hex(), MaxTimeoutSeconds: x402mcp.DefaultMaxTimeoutSeconds}
	if pr.X402Version != 2 || pr.Resource.URL != "mcp://tool/weather" || pr.Resource.Description != "Weather" || len(pr.Accepts) != 1 {
		t.Fatalf("PaymentRequired %+v", pr)
	}
	got := pr.Accepts[0]
	if got.Scheme != want.Scheme || got.Network != want.Network || got.Amount != want.Amount || !strings.EqualFold(got.Asset, want.Asset) ||
		got.PayTo != want.PayTo || got.MaxTimeoutSeconds != want.MaxTimeoutSeconds || got.Extra.IsNull() {
		t.Errorf("accepts[0] %+v, want %+v", got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func paidCall(t *testing.T, m *market, conn connected) {
	c, sig := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	s := x402mcp.NewSession(c, conn.cs, conn.server)
	before, ran := m.balance(t, m.payee), calls(t, conn.cs)["weather"]
	res, receipt, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather", Arguments: map[string]any{"city": "Lisbon"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || text(res) != "sunny" {
		t.Fatalf("result %+v %q", res, text(res))
	}
	if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s, want 1000", got)
	}
	if receipt == nil || receipt.Settlement == nil || !receipt.Settlement.Success || !strings.HasPrefix(receipt.Settlement.Transaction, "0x") {
		t.Fatalf("receipt %+v", receipt)
	}
	if receipt.Payer != m.payer.Address.Hex() || receipt.Option.Price != "0.001 USDC" {
		t.Errorf("receipt %+v", receipt)
	}
	sr, ok := x402mcp.ReceiptFromResult(res)
	if !ok || sr.Transaction != receipt.Settlement.Transaction || sr.Network != m.st.Network {
		t.Errorf("result _meta receipt %+v", sr)
	}
	if n := sig.n.Load(); n != 1 {
		t.Errorf("%d signatures, want 1", n)
	}
	if got := calls(t, conn.cs)["weather"] - ran; got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
	sp, err := c.Spending(t.Context())
	if err != nil || sp.Spent != "0.001" || sp.Payments != 1 || len(sp.Hosts) != 1 {
		t.Errorf("spending %+v %v", sp, err)
	}
}

func toolErrorNotCharged(t *testing.T, m *market, conn connected) {
	c, sig := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	s := x402mcp.NewSession(c, conn.cs, conn.server)
	before, ran := m.balance(t, m.payee), calls(t, conn.cs)["fail"]
	res, receipt, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "fail"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || text(res) != "upstream down" {
		t.Fatalf("result %+v", res)
	}
	if _, ok := x402mcp.PaymentRequiredFromResult(res); ok {
		t.Error("the tool's error result was replaced by a payment-required one")
	}
	if _, ok := x402mcp.ReceiptFromResult(res); ok || receipt == nil || receipt.Settlement != nil {
		t.Errorf("an error result carries a settlement: %+v", receipt)
	}
	if sig.n.Load() != 1 || calls(t, conn.cs)["fail"]-ran != 1 {
		t.Errorf("signatures %d, handler runs %d", sig.n.Load(), calls(t, conn.cs)["fail"]-ran)
	}
	if got := m.balance(t, m.payee); got.Cmp(before) != 0 {
		t.Errorf("payee balance moved from %s to %s for an error result", before, got)
	}
}

func policyRefusal(t *testing.T, m *market, conn connected) {
	c, sig := m.wallet(t, client.Policy{MaxPerRequest: "$0.0005"})
	s := x402mcp.NewSession(c, conn.cs, conn.server)
	before, ran := m.balance(t, m.payee), calls(t, conn.cs)["weather"]
	res, receipt, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"})
	var pe *client.PolicyError
	if !errors.As(err, &pe) || pe.Rule != client.RuleMaxPerRequest {
		t.Fatalf("err %v, want a max-per-request PolicyError", err)
	}
	if res != nil || receipt != nil {
		t.Errorf("result %+v receipt %+v with a refusal", res, receipt)
	}
	if sig.n.Load() != 0 {
		t.Errorf("%d signatures after a policy refusal", sig.n.Load())
	}
	if calls(t, conn.cs)["weather"] != ran || m.balance(t, m.payee).Cmp(before) != 0 {
		t.Error("the tool ran or funds moved after a policy refusal")
	}
	// A Quote tells the same without signing.
	q, _, err := s.Quote(t.Context(), &mcp.CallToolParams{Name: "weather"})
	if err != nil || q.Free || q.Option == nil || q.Option.Price != "0.001 USDC" || !errors.As(q.Refusal, &pe) || sig.n.Load() != 0 {
		t.Errorf("quote %+v %v", q, err)
	}
}

func priceFromArguments(t *testing.T, m *market, conn connected) {
	c, sig := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	s := x402mcp.NewSession(c, conn.cs, conn.server)
	// Unpaid: the price follows the arguments.
	res, err := conn.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "compute", Arguments: map[string]any{"units": 3}})
	if err != nil {
		t.Fatal(err)
	}
	pr, ok := x402mcp.PaymentRequiredFromResult(res)
	if !ok || pr.Accepts[0].Amount != x402.NewAmount(3000) {
		t.Fatalf("compute(3) asks %+v", pr)
	}
	before := m.balance(t, m.payee)
	res, receipt, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "compute", Arguments: map[string]any{"units": 3}})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Result int }
	if err := json.Unmarshal([]byte(mustJSON(t, res.StructuredContent)), &out); err != nil || out.Result != 6 || res.IsError {
		t.Fatalf("compute(3) = %+v %v", res, err)
	}
	if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(3000)) != 0 || receipt == nil || receipt.Option.Price != "0.003 USDC" {
		t.Errorf("payee received %s, receipt %+v", got, receipt)
	}
	// Zero units is free: no payment, no receipt.
	res, receipt, err = s.CallTool(t.Context(), &mcp.CallToolParams{Name: "compute", Arguments: map[string]any{"units": 0}})
	if err != nil || res.IsError || receipt != nil || sig.n.Load() != 1 {
		t.Errorf("free compute: %+v %+v %v (signatures %d)", res, receipt, err, sig.n.Load())
	}
	// Arguments the price cannot be computed from are an error result,
	// never a charge.
	res, _, err = s.CallTool(t.Context(), &mcp.CallToolParams{Name: "compute", Arguments: map[string]any{"units": 5000}})
	if err != nil || !res.IsError || sig.n.Load() != 1 {
		t.Errorf("compute(5000): %+v %v", res, err)
	}
}

// captured is an MCP client middleware that keeps the payment of the
// first paid tools/call and does not send it.
type captured struct {
	mu      sync.Mutex
	payment any
}

func (c *captured) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if p, ok := req.GetParams().(*mcp.CallToolParams); ok && p.Meta[x402mcp.MetaPayment] != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.payment == nil {
				c.payment = p.Meta[x402mcp.MetaPayment]
			}
			return nil, errors.New("captured")
		}
		return next(ctx, method, req)
	}
}

// replayRefused signs one payment (kept from the wire by a client
// middleware), sends it on two parallel calls, then once more: one result,
// one transfer.
func replayRefused(t *testing.T, m *market, connect func(testing.TB, ...mcp.Middleware) connected) {
	capture := &captured{}
	thief := connect(t, capture.middleware)
	c, _ := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	if _, _, err := x402mcp.NewSession(c, thief.cs, thief.server).CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"}); err == nil {
		t.Fatal("the captured call succeeded")
	}
	if capture.payment == nil {
		t.Fatal("no payment captured")
	}
	conn := connect(t)
	before, ran := m.balance(t, m.payee), calls(t, conn.cs)["weather"]
	send := func() *mcp.CallToolResult {
		res, err := conn.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather", Meta: mcp.Meta{x402mcp.MetaPayment: capture.payment}})
		if err != nil {
			t.Error(err)
		}
		return res
	}
	results := make([]*mcp.CallToolResult, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = send() })
	}
	wg.Wait()
	results = append(results, send())
	served := 0
	for _, res := range results {
		if res != nil && !res.IsError && text(res) == "sunny" {
			served++
			if _, ok := x402mcp.ReceiptFromResult(res); !ok {
				t.Error("served without a receipt")
			}
			continue
		}
		pr, ok := x402mcp.PaymentRequiredFromResult(res)
		if !ok || pr.Error != "payment already used for another request" {
			t.Errorf("copy answered %+v", res)
		}
	}
	if served != 1 {
		t.Errorf("%d results for one payment", served)
	}
	if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s, want 1000", got)
	}
	if got := calls(t, conn.cs)["weather"] - ran; got != 1 {
		t.Errorf("handler ran %d times for one payment", got)
	}
}
