package x402_test

import (
	"encoding/base64"
	"testing"

	"github.com/go402/go402/x402"
)

func TestDecodeChannelPaymentResponse(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, json string
		ok         bool
	}{
		{"official voucher answer", `{"success":true,"payer":"0xab","transaction":"","network":"eip155:84532","amount":"","extra":{"chargedAmount":"1000"}}`, true},
		{"strict answer", `{"success":true,"transaction":"0x01","network":"eip155:84532","amount":"5"}`, true},
		{"no network", `{"success":true,"transaction":"","amount":""}`, false},
		{"bad amount", `{"success":true,"transaction":"","network":"eip155:1","amount":"x"}`, false},
		{"not an object", `[1]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr, err := x402.DecodeChannelPaymentResponse(enc(tc.json))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (sr.Network == "" || !sr.Success) {
				t.Fatalf("decoded %+v", sr)
			}
		})
	}
	if _, err := x402.DecodeChannelPaymentResponse(""); err == nil {
		t.Fatal("empty header decoded")
	}
}

func FuzzDecodeChannelPaymentResponse(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"success":true,"transaction":"","network":"eip155:84532","amount":"","extra":{}}`)))
	f.Add("e30=")
	f.Fuzz(func(t *testing.T, h string) {
		sr, err := x402.DecodeChannelPaymentResponse(h)
		if err == nil && sr.Network == "" {
			t.Fatal("decoded a response without a network")
		}
	})
}
