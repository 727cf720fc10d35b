package x402mcp_test

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// faultyFacilitator injects the faults a live devnet cannot produce on
// demand: an unreachable facilitator (verify) and refused settlements.
type faultyFacilitator struct {
	x402.Facilitator
	verifyDown, settleFails atomic.Bool
	settles                 atomic.Int64
}

func (f *faultyFacilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	if f.verifyDown.Load() {
		return nil, errors.New("connection refused")
	}
	return f.Facilitator.Verify(ctx, req)
}

func (f *faultyFacilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.settles.Add(1)
	if f.settleFails.Load() {
		return &x402.SettleResponse{Success: false, ErrorReason: x402.ReasonUnexpectedSettleError, ErrorMessage: "injected", Network: req.Requirements.Network}, nil
	}
	return f.Facilitator.Settle(ctx, req)
}

// inMemory serves one tool, "weather" ($0.001), from a Server built with
// cfg (its Facilitator and Schemes default to the market's) and connects
// to it in memory. A non-nil gate holds the tool until it is closed.
func (m *market) inMemory(t *testing.T, cfg x402mcp.Config, ran *atomic.Int64, gate <-chan struct{}) *mcp.ClientSession {
	t.Helper()
	if cfg.Facilitator == nil {
		cfg.Facilitator = m.st.Facilitator
	}
	if cfg.Schemes == nil {
		cfg.Schemes = evm.ServerSchemes(m.st.Networks)
	}
	ps, err := x402mcp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "mem", Version: "1"}, nil)
	err = ps.AddTool(srv, &mcp.Tool{Name: "weather", InputSchema: objectSchema},
		x402mcp.Tool{Accepts: []x402mcp.Option{{Network: m.st.Network, PayTo: m.payee.Hex(), Price: "$0.001"}}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ran.Add(1)
			if gate != nil {
				<-gate
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil
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

// sign signs the first option of the tool's payment-required answer with
// the market's payer, as a client would, and returns the payload.
func (m *market) sign(t *testing.T, cs *mcp.ClientSession) *x402.PaymentPayload {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	pr, ok := x402mcp.PaymentRequiredFromResult(res)
	if !ok {
		t.Fatalf("not a payment-required result: %+v", res)
	}
	k, err := evm.NewPrivateKeySignerFromECDSA(m.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := evm.NewExactClient(evm.ExactClientConfig{Signer: k})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := ec.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	return &x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj}
}

func callWith(t *testing.T, cs *mcp.ClientSession, payment any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather", Meta: mcp.Meta{x402mcp.MetaPayment: payment}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// requiredWith asserts a payment-required result with the given error.
func requiredWith(t *testing.T, res *mcp.CallToolResult, msg string) {
	t.Helper()
	pr, ok := x402mcp.PaymentRequiredFromResult(res)
	if !ok || pr.Error != msg {
		t.Errorf("result %+v, want payment required with %q (got %+v)", res, msg, pr)
	}
}

// Payments that cannot pay are answered with PaymentRequired and a
// reason, and never reach the tool.
func TestHostilePayments(t *testing.T) {
	m := newMarket(t)
	var ran atomic.Int64
	cs := m.inMemory(t, x402mcp.Config{}, &ran, nil)
	good := m.sign(t, cs)

	cheaper := *good
	cheaper.Accepted.Amount = x402.NewAmount(1)
	otherPayee := *good
	otherPayee.Accepted.PayTo = m.payer.Address.Hex()
	forged := *good
	forged.Payload = tamper(t, good.Payload)
	tests := []struct {
		name    string
		payment any
		msg     string
	}{
		{"not an object", "a string", string(x402.ReasonInvalidPayload)},
		{"empty object", map[string]any{}, string(x402.ReasonInvalidPayload)},
		{"v1 shape", map[string]any{"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": map[string]any{}}, string(x402.ReasonInvalidPayload)},
		{"lower amount accepted", &cheaper, "No matching payment requirements"},
		{"other payee accepted", &otherPayee, "No matching payment requirements"},
		{"tampered signature", &forged, string(x402.ReasonInvalidPayload)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := callWith(t, cs, tt.payment)
			pr, ok := x402mcp.PaymentRequiredFromResult(res)
			// Unreadable payloads are refused with the reason the scheme
			// gives (invalid_payload or a more precise one).
			if !ok || (pr.Error != tt.msg && tt.msg != string(x402.ReasonInvalidPayload)) || pr.Error == "" || pr.Error == "Payment required" {
				t.Errorf("answer %+v (PaymentRequired %+v), want %q", res, pr, tt.msg)
			}
		})
	}
	if ran.Load() != 0 {
		t.Fatalf("the tool ran %d times for hostile payments", ran.Load())
	}
	// The good payment still works once.
	if res := callWith(t, cs, good); res.IsError || text(res) != "sunny" {
		t.Fatalf("good payment: %+v", res)
	}
	requiredWith(t, callWith(t, cs, good), "payment already used for another request")
}

// An unreachable facilitator refuses the call without running the tool
// and releases the claim: the same payment works once it is back. A
// refused settlement withholds the tool's output and carries the failed
// SettleResponse; the go402 client reports it as a PaymentError.
func TestFacilitatorFaults(t *testing.T) {
	m := newMarket(t)
	fac := &faultyFacilitator{Facilitator: m.st.Facilitator}
	var ran atomic.Int64
	cs := m.inMemory(t, x402mcp.Config{Facilitator: fac}, &ran, nil)
	pay := m.sign(t, cs)
	fac.verifyDown.Store(true)
	res := callWith(t, cs, pay)
	if _, ok := x402mcp.PaymentRequiredFromResult(res); ok || !res.IsError || ran.Load() != 0 {
		t.Fatalf("verify down: %+v, tool ran %d", res, ran.Load())
	}
	fac.verifyDown.Store(false)
	if res := callWith(t, cs, pay); res.IsError || text(res) != "sunny" {
		t.Fatalf("after the facilitator came back: %+v", res)
	}

	fac.settleFails.Store(true)
	before := m.balance(t, m.payee)
	c, _ := m.wallet(t, client.Policy{MaxPerRequest: "$0.01"})
	res, receipt, err := x402mcp.NewSession(c, cs, "mem").CallTool(t.Context(), &mcp.CallToolParams{Name: "weather"})
	var pe *client.PaymentError
	if !errors.As(err, &pe) || pe.Reason != x402.ReasonUnexpectedSettleError || receipt != nil {
		t.Fatalf("settle refused: err %v receipt %+v", err, receipt)
	}
	if text(res) == "sunny" || ran.Load() != 2 {
		t.Errorf("the tool's output went out unpaid: %+v (ran %d)", res, ran.Load())
	}
	if sr, ok := x402mcp.ReceiptFromResult(res); !ok || sr.Success || sr.ErrorReason != x402.ReasonUnexpectedSettleError {
		t.Errorf("failed settlement in _meta: %+v", sr)
	}
	if m.balance(t, m.payee).Cmp(before) != 0 {
		t.Error("funds moved on a refused settlement")
	}
}

// With a durable claim store shared by two servers (an x402http queue in
// SQLite), a payment being used at one is refused at the other (which has
// its own in-process claims, as after a restart, and its own
// facilitator), before it settles.
func TestDurableClaims(t *testing.T) {
	m := newMarket(t)
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: filepath.Join(t.TempDir(), "claims.db"), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	cfg := x402mcp.Config{Claims: q, IsDuplicate: func(err error) bool { return errors.Is(err, x402http.ErrDuplicate) }}
	var ranA, ranB atomic.Int64
	gate := make(chan struct{})
	// B verifies with another facilitator (its own ledger, which has not
	// seen the payment): only the shared claims stand between the copy
	// and a second result.
	other := stacktest.FacilitatorOn(t, m.st.Devnet, m.st.Accounts[2], stacktest.Options{})
	cfgB := cfg
	cfgB.Facilitator = other.Facilitator()
	a, b := m.inMemory(t, cfg, &ranA, gate), m.inMemory(t, cfgB, &ranB, nil)
	pay := m.sign(t, a)
	before := m.balance(t, m.payee)
	first := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := a.CallTool(t.Context(), &mcp.CallToolParams{Name: "weather", Meta: mcp.Meta{x402mcp.MetaPayment: pay}})
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	for ranA.Load() == 0 {
		time.Sleep(5 * time.Millisecond) // until A runs the tool, unsettled
	}
	requiredWith(t, callWith(t, b, pay), "payment already used for another request")
	close(gate)
	if res := <-first; res == nil || res.IsError {
		t.Fatalf("first use: %+v", res)
	}
	if ranA.Load() != 1 || ranB.Load() != 0 {
		t.Errorf("runs %d and %d", ranA.Load(), ranB.Load())
	}
	if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s", got)
	}
}

// tamper changes one hex digit of an EIP-3009 payload's signature.
func tamper(t *testing.T, o x402.Object) x402.Object {
	t.Helper()
	var p map[string]any
	if err := o.Decode(&p); err != nil {
		t.Fatal(err)
	}
	sig := []byte(p["signature"].(string))
	if sig[10] == 'a' {
		sig[10] = 'b'
	} else {
		sig[10] = 'a'
	}
	p["signature"] = string(sig)
	out, err := x402.NewObject(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
