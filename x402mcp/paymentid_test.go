package x402mcp_test

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// idemTool serves "weather" ($0.001) declaring the payment-identifier
// extension, in memory.
func (m *market) idemTool(t *testing.T, ran *atomic.Int64) *mcp.ClientSession {
	t.Helper()
	ps, err := x402mcp.New(x402mcp.Config{Facilitator: m.st.Facilitator, Schemes: evm.ServerSchemes(m.st.Networks)})
	if err != nil {
		t.Fatal(err)
	}
	exts, err := x402.NewObject(map[string]x402.Object{x402.ExtensionPaymentIdentifier: x402.DeclarePaymentIdentifier(false)})
	if err != nil {
		t.Fatal(err)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "mem", Version: "1"}, nil)
	err = ps.AddTool(srv, &mcp.Tool{Name: "weather", InputSchema: objectSchema},
		x402mcp.Tool{Accepts: []x402mcp.Option{{Network: m.st.Network, PayTo: m.payee.Hex(), Price: "$0.001"}}, Extensions: exts},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			n := ran.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny " + big.NewInt(n).String()}}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
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
	return cs
}

func TestToolPaymentIdentifier(t *testing.T) {
	m := newMarket(t)
	var ran atomic.Int64
	cs := m.idemTool(t, &ran)
	before := m.balance(t, m.payee)
	withID := func(id string) *x402.PaymentPayload {
		p := m.sign(t, cs)
		p.Extensions = x402.Object(`{"payment-identifier":{"info":{"required":false,"id":"` + id + `"}}}`)
		return p
	}
	id := x402.NewPaymentID()
	first := withID(id)
	r1 := callWith(t, cs, first)
	if r1.IsError || text(r1) != "sunny 1" {
		t.Fatalf("first call: %+v", r1)
	}
	// The same payment again (its result lost): the first result and
	// receipt, the tool not run, nothing settled again.
	r2 := callWith(t, cs, first)
	m1, _ := json.Marshal(r1.Meta)
	m2, _ := json.Marshal(r2.Meta)
	if r2.IsError || text(r2) != "sunny 1" || string(m1) != string(m2) || !strings.Contains(string(m1), x402mcp.MetaPaymentResponse) {
		t.Errorf("resend: %+v (meta %s, first %s)", r2, m2, m1)
	}
	requiredWith(t, callWith(t, cs, withID(id)), string(x402.ReasonPaymentIDConflict))
	requiredWith(t, callWith(t, cs, withID("short")), string(x402.ReasonInvalidPaymentID))
	if ran.Load() != 1 {
		t.Errorf("tool ran %d times", ran.Load())
	}
	if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s, want 1000", got)
	}

	// The paying Session sends an id to a tool that declares the
	// extension.
	c, _ := m.wallet(t, client.Policy{})
	res, rc, err := x402mcp.NewSession(c, cs, "mem").CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"})
	if err != nil || res.IsError || rc == nil || !x402.ValidPaymentID(rc.PaymentID) {
		t.Fatalf("session: %+v %+v %v", res, rc, err)
	}
}
