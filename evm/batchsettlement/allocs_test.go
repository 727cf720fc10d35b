package batchsettlement

import (
	"testing"

	"github.com/go402/go402/x402"
)

// TestHotPathAllocations guards the allocation budget of the server's hot
// path (target: ≤ 10 per verification): the voucher digest allocates
// nothing, a verification only what the secp256k1 recovery does (2), and
// the decode of a canonical voucher payload once.
func TestHotPathAllocations(t *testing.T) {
	payer := mustSigner(t, payerKey)
	v := NewChannelVerifier(xcheckConfig(payer.Address()), 84532)
	vo := mustVoucher(t, payer, 84532, v.ChannelID(), 1010)
	e := Expectation{Charged: x402.NewAmount(1000), Price: x402.NewAmount(10), Balance: x402.NewAmount(1_000_000)}
	o, err := Object(&VoucherPayload{ChannelConfig: v.Config(), Voucher: vo})
	if err != nil {
		t.Fatal(err)
	}
	sep, id := v.DomainSeparator(), v.ChannelID()
	for _, tc := range []struct {
		name string
		max  float64
		fn   func()
	}{
		{"VoucherDigest", 0, func() { _ = VoucherDigest(sep, id, vo.MaxClaimableAmount) }},
		{"Verify", 2, func() {
			if err := v.Verify(&vo, &e); err != nil {
				t.Fatal(err)
			}
		}},
		{"ParsePayload (canonical voucher)", 1, func() {
			if _, err := ParsePayload(o); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		if got := testing.AllocsPerRun(50, tc.fn); got > tc.max {
			t.Errorf("%s: %v allocations, want ≤ %v", tc.name, got, tc.max)
		}
	}
}
