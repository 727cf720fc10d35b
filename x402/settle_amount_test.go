package x402

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
)

// TestSettleResponseEmptyAmount: the reference batch-settlement scheme's
// "amount":"" decodes as an absent amount, in a body and in the
// PAYMENT-RESPONSE header; other amounts stay strict.
func TestSettleResponseEmptyAmount(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    *Amount
		wantErr bool
	}{
		{body: `{"success":true,"transaction":"0xab","network":"eip155:8453","amount":""}`},
		{body: `{"success":true,"transaction":"0xab","network":"eip155:8453","amount":null}`},
		{body: `{"success":true,"transaction":"0xab","network":"eip155:8453"}`},
		{body: `{"success":true,"transaction":"0xab","network":"eip155:8453","amount":"5"}`, want: &Amount{w: [4]uint64{5}}},
		{body: `{"success":true,"transaction":"0xab","network":"eip155:8453","amount":5}`, wantErr: true},
		{body: `{"success":true,"transaction":"0xab","network":"eip155:8453","amount":" "}`, wantErr: true},
	} {
		var s SettleResponse
		err := json.Unmarshal([]byte(tc.body), &s)
		if tc.wantErr {
			if err == nil || !errors.Is(err, ErrInvalidAmount) {
				t.Errorf("%s: %v, want an invalid amount", tc.body, err)
			}
			continue
		}
		if err != nil || (s.Amount == nil) != (tc.want == nil) || (s.Amount != nil && *s.Amount != *tc.want) || !s.Success || s.Network != "eip155:8453" {
			t.Errorf("%s: %+v %v", tc.body, s, err)
		}
		h, err := DecodePaymentResponse(base64.StdEncoding.EncodeToString([]byte(tc.body)))
		if err != nil || (h.Amount == nil) != (tc.want == nil) {
			t.Errorf("header %s: %+v %v", tc.body, h, err)
		}
	}
}
