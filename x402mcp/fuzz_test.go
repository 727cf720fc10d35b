package x402mcp

import (
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// FuzzMeta feeds arbitrary JSON to the readers of the x402 _meta values and
// of payment-required results: they must never panic, and what they
// accept must be valid.
func FuzzMeta(f *testing.F) {
	f.Add([]byte(`{"x402Version":2,"accepted":{"scheme":"exact","network":"eip155:8453","amount":"1","asset":"0x1","payTo":"0x2","maxTimeoutSeconds":60},"payload":{}}`))
	f.Add([]byte(`{"x402Version":2,"error":"x","resource":{"url":"mcp://tool/t"},"accepts":[{"scheme":"exact","network":"eip155:8453","amount":"1","asset":"0x1","payTo":"0x2","maxTimeoutSeconds":60}]}`))
	f.Add([]byte(`{"success":true,"transaction":"0x01","network":"eip155:8453"}`))
	f.Add([]byte(`"text"`))
	f.Add([]byte(`{"a":{"a":{"a":[1,2,{"x402Version":2}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		if p, err := paymentFromMeta(mcp.Meta{MetaPayment: v}); err == nil && p != nil {
			if verr := p.Validate(); verr != nil {
				t.Fatalf("accepted an invalid payment: %v", verr)
			}
		}
		res := &mcp.CallToolResult{IsError: true, StructuredContent: v, Content: []mcp.Content{&mcp.TextContent{Text: string(data)}}, Meta: mcp.Meta{MetaPaymentResponse: v}}
		if pr, ok := PaymentRequiredFromResult(res); ok {
			if err := pr.Validate(); err != nil {
				t.Fatalf("accepted an invalid PaymentRequired: %v", err)
			}
		}
		res.StructuredContent = nil
		if pr, ok := PaymentRequiredFromResult(res); ok {
			if err := pr.Validate(); err != nil {
				t.Fatalf("accepted an invalid PaymentRequired text: %v", err)
			}
		}
		if sr, ok := ReceiptFromResult(res); ok {
			if err := sr.Validate(); err != nil {
				t.Fatalf("accepted an invalid SettleResponse: %v", err)
			}
		}
	})
}
