package batchsettlement

import (
	"encoding/json"
	"testing"

	"github.com/go402/go402/x402"
)

// FuzzParsePayload: ParsePayload never panics, fails only with a typed
// error, and what it accepts re-encodes to an equivalent payload.
func FuzzParsePayload(f *testing.F) {
	for _, p := range samplePayloads(f) {
		o, err := Object(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(o))
	}
	f.Add([]byte(`{"type":"refund"}`))
	f.Add([]byte(`{"type":"claim","claims":[null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o x402.Object
		if o.UnmarshalJSON(b) != nil {
			return
		}
		p, err := ParsePayload(o)
		if err != nil {
			if x402.ReasonOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := Object(p)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", p, err)
		}
		p2, err := ParsePayload(again)
		if err != nil {
			t.Fatalf("re-encoded payload does not parse: %v\n%s", err, again)
		}
		if a, b := mustJSON(t, p), mustJSON(t, p2); a != b {
			t.Fatalf("not stable:\n%s\n%s", a, b)
		}
	})
}

// FuzzVerify: a verifier never panics on a parsed voucher payload, and
// answers nil, ErrNeedsFacilitator or a typed error.
func FuzzVerify(f *testing.F) {
	for _, typ := range []string{TypeVoucher, TypeDeposit, TypeRefund} {
		o, _ := Object(samplePayloads(f)[typ])
		f.Add([]byte(o), uint64(1000), uint64(10))
	}
	payer := mustSigner(f, payerKey)
	v := NewChannelVerifier(xcheckConfig(payer.Address()), 84532)
	f.Fuzz(func(t *testing.T, b []byte, charged, price uint64) {
		cp, err := ParseChannelPayload(x402.Object(b))
		if err != nil {
			return
		}
		e := Expectation{Charged: x402.NewAmount(charged), Price: x402.NewAmount(price), Balance: x402.NewAmount(1 << 40)}
		if err := v.Verify(cp.SignedVoucher(), &e); err != nil && err != ErrNeedsFacilitator && x402.ReasonOf(err) == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzParseExtras: the 402 and PAYMENT-RESPONSE extra parsers never panic
// and fail only with typed errors.
func FuzzParseExtras(f *testing.F) {
	f.Add([]byte(`{"receiverAuthorizer":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","withdrawDelay":900,"name":"USDC","version":"2","minDeposit":"100","channelState":{"balance":"1","refundNonce":2},"voucherState":{"signedMaxClaimable":"1","signature":"0x01"}}`))
	f.Add([]byte(`{"chargedAmount":"10","channelState":{"chargedCumulativeAmount":"40","withdrawRequestedAt":"3"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o x402.Object
		if o.UnmarshalJSON(b) != nil {
			return
		}
		if _, err := ParseRequirementsExtra(o); err != nil && x402.ReasonOf(err) == "" {
			t.Fatalf("requirements extra: untyped error %v", err)
		}
		re, err := ParseResponseExtra(o)
		if err != nil {
			if x402.ReasonOf(err) == "" {
				t.Fatalf("response extra: untyped error %v", err)
			}
			return
		}
		if _, err := json.Marshal(re); err != nil {
			t.Fatalf("re-encoding %+v: %v", re, err)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
