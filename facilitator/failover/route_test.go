package failover

import (
	"testing"

	"github.com/go402/go402/x402"
)

func TestSupports(t *testing.T) {
	obj := func(s string) x402.Object { return x402.Object(s) }
	kind := func(v int, scheme, network, extra string) x402.SupportedKind {
		k := x402.SupportedKind{X402Version: v, Scheme: scheme, Network: x402.Network(network)}
		if extra != "" {
			k.Extra = obj(extra)
		}
		return k
	}
	v2 := func(scheme, network, extra string) *x402.FacilitatorRequest {
		r := x402.PaymentRequirements{Scheme: scheme, Network: x402.Network(network)}
		if extra != "" {
			r.Extra = obj(extra)
		}
		return x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: r, Payload: obj(`{}`)}, &r)
	}
	v1 := x402.NewFacilitatorRequestV1(&x402.PaymentPayloadV1{X402Version: x402.V1, Scheme: "exact", Network: "base-sepolia", Payload: obj(`{}`)},
		&x402.PaymentRequirementsV1{Scheme: "exact", Network: "base-sepolia"})
	for _, tc := range []struct {
		name string
		kind x402.SupportedKind
		req  *x402.FacilitatorRequest
		want bool
	}{
		{"same", kind(2, "exact", "eip155:1", ""), v2("exact", "eip155:1", ""), true},
		{"other scheme", kind(2, "upto", "eip155:1", ""), v2("exact", "eip155:1", ""), false},
		{"other network", kind(2, "exact", "eip155:2", ""), v2("exact", "eip155:1", ""), false},
		{"other version", kind(1, "exact", "eip155:1", ""), v2("exact", "eip155:1", ""), false},
		{"wildcard", kind(2, "exact", "eip155:*", ""), v2("exact", "eip155:8453", ""), true},
		{"wildcard other namespace", kind(2, "exact", "eip155:*", ""), v2("exact", "solana:abc", ""), false},
		{"v1 legacy name", kind(1, "exact", "base-sepolia", ""), v1, true},
		{"extra agrees ignoring case", kind(2, "upto", "eip155:1", `{"facilitatorAddress":"0xABC"}`), v2("upto", "eip155:1", `{"facilitatorAddress":"0xabc","name":"USDC"}`), true},
		{"extra pins elsewhere", kind(2, "upto", "eip155:1", `{"facilitatorAddress":"0xabc"}`), v2("upto", "eip155:1", `{"facilitatorAddress":"0xdef"}`), false},
		{"extra absent from requirements", kind(2, "upto", "eip155:1", `{"facilitatorAddress":"0xabc"}`), v2("upto", "eip155:1", ""), true},
		{"non-string extra ignored", kind(2, "exact", "eip155:1", `{"n":1}`), v2("exact", "eip155:1", `{"n":2}`), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &x402.SupportedResponse{Kinds: []x402.SupportedKind{tc.kind}}
			if got := supports(s, tc.req); got != tc.want {
				t.Errorf("supports = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPaymentKeyStable(t *testing.T) {
	r := x402.PaymentRequirements{Scheme: "exact", Network: "eip155:1"}
	mk := func(payload string) *x402.FacilitatorRequest {
		return x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: r, Payload: x402.Object(payload)}, &r)
	}
	a, okA := paymentKey(mk(`{"signature":"0x1","authorization":{"nonce":"0x2","value":"10"}}`))
	b, okB := paymentKey(mk(`{"authorization":{"value":"10","nonce":"0x2"},"signature":"0x1"}`))
	c, _ := paymentKey(mk(`{"authorization":{"value":"10","nonce":"0x3"},"signature":"0x1"}`))
	if !okA || !okB || a != b {
		t.Errorf("re-ordered payload: keys %q and %q differ", a, b)
	}
	if a == c {
		t.Errorf("different nonces share a key")
	}
}

func TestPinsBounded(t *testing.T) {
	if _, err := New([]x402.Facilitator{nil}, Options{}); err == nil {
		t.Fatal("a nil member was accepted")
	}
	f := &Facilitator{pins: map[string]pin{}}
	f.opts = Options{MaxPins: 100}
	setDefaults(&f.opts)
	f.now = f.opts.Now
	f.setPin("held", 0, true)
	for i := range 1000 {
		f.setPin(string(rune('a'+i%26))+string(rune(i)), 0, false)
	}
	if len(f.pins) > 100 {
		t.Errorf("%d pins kept, bound 100", len(f.pins))
	}
	if p, ok := f.pin("held"); !ok || !p.held {
		t.Errorf("the held payment was dropped")
	}
}
