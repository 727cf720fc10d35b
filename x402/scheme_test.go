package x402_test

import (
	"errors"
	"testing"

	"github.com/go402/go402/x402"
)

type memoKey struct{}

func testRequest(t *testing.T) *x402.FacilitatorRequest {
	t.Helper()
	req := x402.PaymentRequirements{Scheme: "exact", Network: "eip155:8453", Asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", PayTo: "0x2222222222222222222222222222222222222222", Amount: x402.NewAmount(1000), MaxTimeoutSeconds: 60}
	payload := &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: x402.Object(`{"n":1}`)}
	return x402.NewFacilitatorRequest(payload, &req)
}

// TestPaymentDecodedOnce: a request's payment is computed once, and its
// payload decoded once per scheme key, however often it is asked for; a
// copy of the request given another payload gets its own.
func TestPaymentDecodedOnce(t *testing.T) {
	r := testRequest(t)
	calls := 0
	decode := func(o x402.Object) (any, error) { calls++; return string(o), nil }
	for range 3 {
		p, err := r.Payment()
		if err != nil {
			t.Fatal(err)
		}
		if v, err := p.Decoded(memoKey{}, decode); err != nil || v != `{"n":1}` {
			t.Fatalf("decoded %v %v", v, err)
		}
	}
	if calls != 1 {
		t.Errorf("decoded %d times, want once", calls)
	}
	p1, _ := r.Payment()
	p2, _ := r.Payment()
	if p1 != p2 {
		t.Error("Payment computed twice for one request")
	}

	// A copy with another payload: a new view, decoded anew.
	cp := *r
	other := *r.Payload
	other.Payload = x402.Object(`{"n":2}`)
	cp.Payload = &other
	p3, err := cp.Payment()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p3.Decoded(memoKey{}, decode); v != `{"n":2}` || calls != 2 {
		t.Errorf("copy decoded to %v after %d calls", v, calls)
	}
	// A payment whose payload is replaced is decoded again, and errors are
	// remembered like values.
	fail := errors.New("bad")
	p3.Payload = x402.Object(`{"n":3}`)
	bad := func(x402.Object) (any, error) { calls++; return nil, fail }
	for range 2 {
		if _, err := p3.Decoded(memoKey{}, bad); !errors.Is(err, fail) {
			t.Fatalf("err %v", err)
		}
	}
	if calls != 3 {
		t.Errorf("%d decodes, want 3", calls)
	}
	// A Payment built by hand has no memo and decodes every time.
	hand := &x402.Payment{Payload: x402.Object(`{}`)}
	hand.Decoded(memoKey{}, decode)
	hand.Decoded(memoKey{}, decode)
	if calls != 5 {
		t.Errorf("%d decodes, want 5", calls)
	}
}

func TestSettlementKeyString(t *testing.T) {
	k := x402.SettlementKey{Network: "eip155:8453", Asset: "0xABC", Payer: "0xDef", Nonce: "0x0A"}
	if got, want := k.String(), "eip155:8453|0xabc|0xdef|0x0a"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestPaymentIDPays(t *testing.T) {
	req := x402.PaymentRequirements{Asset: "0xAA", PayTo: "0xBB", Amount: x402.NewAmount(5)}
	for _, tt := range []struct {
		id   x402.PaymentID
		pays bool
	}{
		{x402.PaymentID{}, true},
		{x402.PaymentID{PayTo: "0xbb", Asset: "0xaa", Amount: "5"}, true},
		{x402.PaymentID{PayTo: "0xcc"}, false},
		{x402.PaymentID{Asset: "0xcc"}, false},
		{x402.PaymentID{Amount: "6"}, false},
		{x402.PaymentID{Amount: "five"}, false},
	} {
		if got := tt.id.Pays(&req); got != tt.pays {
			t.Errorf("%+v pays: %v, want %v", tt.id, got, tt.pays)
		}
	}
}
