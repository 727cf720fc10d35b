package x402

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchHeader reads a golden header value (a real payment header).
func benchHeader(b *testing.B, name string) string {
	b.Helper()
	h, err := os.ReadFile(filepath.Join("testdata", "golden", name+".b64"))
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(string(h))
}

// BenchmarkCheckJSON is the key walk over a v2 PAYMENT-SIGNATURE payload.
func BenchmarkCheckJSON(b *testing.B) {
	data, err := decodeBase64(benchHeader(b, "v2_payment_signature"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := checkJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePayment decodes a payment header of each version, as the
// middleware does for every paid request.
func BenchmarkDecodePayment(b *testing.B) {
	for _, name := range []string{"v2_payment_signature", "v1_x_payment"} {
		h := benchHeader(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodePayment(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeFacilitatorRequest decodes a /verify body, as the
// facilitator does for every verify and settle.
func BenchmarkDecodeFacilitatorRequest(b *testing.B) {
	payload, err := decodeBase64(benchHeader(b, "v2_payment_signature"))
	if err != nil {
		b.Fatal(err)
	}
	var p struct {
		Accepted json.RawMessage `json:"accepted"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"x402Version":2,"paymentPayload":` + string(payload) + `,"paymentRequirements":` + string(p.Accepted) + `}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFacilitatorRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
