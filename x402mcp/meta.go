package x402mcp

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go402/go402/x402"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A _meta value or structuredContent arrives as whatever the JSON decoder
// made of it (a map). Each is read by encoding it again and handing the
// bytes to the strict x402 decoders (duplicate keys, depth, size, then
// the message's own validation), through their base64 header form.

// reencode renders v as the base64 of its JSON.
func reencode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// paymentFromMeta returns the PaymentPayload of a tool call's _meta; nil
// and no error if there is none.
func paymentFromMeta(m mcp.Meta) (*x402.PaymentPayload, error) {
	v, ok := m[MetaPayment]
	if !ok || v == nil {
		return nil, nil
	}
	h, err := reencode(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MetaPayment, err)
	}
	return x402.DecodePaymentSignature(h)
}

// ReceiptFromResult returns the SettleResponse a server attached to a tool
// result (result._meta["x402/payment-response"]), if there is a valid one.
func ReceiptFromResult(res *mcp.CallToolResult) (*x402.SettleResponse, bool) {
	if res == nil {
		return nil, false
	}
	v, ok := res.Meta[MetaPaymentResponse]
	if !ok || v == nil {
		return nil, false
	}
	h, err := reencode(v)
	if err != nil {
		return nil, false
	}
	sr, err := x402.DecodePaymentResponse(h)
	return sr, err == nil
}

// PaymentRequiredFromResult returns the PaymentRequired of a
// payment-required tool result: an error result whose structuredContent
// (or, failing that, the JSON text of its first content) is a valid x402
// v2 PaymentRequired. False for any other result.
func PaymentRequiredFromResult(res *mcp.CallToolResult) (*x402.PaymentRequired, bool) {
	if res == nil || !res.IsError {
		return nil, false
	}
	if res.StructuredContent != nil {
		if pr, ok := decodeRequired(res.StructuredContent); ok {
			return pr, true
		}
	}
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(*mcp.TextContent); ok {
			return decodeRequired(json.RawMessage(tc.Text))
		}
	}
	return nil, false
}

// decodeRequired reads a PaymentRequired from a decoded JSON value or raw
// JSON.
func decodeRequired(v any) (*x402.PaymentRequired, bool) {
	if raw, ok := v.(json.RawMessage); ok && !json.Valid(raw) {
		return nil, false
	}
	h, err := reencode(v)
	if err != nil {
		return nil, false
	}
	pr, err := x402.DecodePaymentRequired(h)
	return pr, err == nil
}

// requiredResult is the payment-required tool result: PaymentRequired in
// structuredContent and, as the same JSON, in content[0].text, with the
// SettleResponse of a failed settlement in _meta when there is one.
func requiredResult(off *offer, msg string, sr *x402.SettleResponse) (*mcp.CallToolResult, error) {
	pr := &x402.PaymentRequired{X402Version: x402.V2, Error: msg, Resource: off.res, Accepts: off.reqs, Extensions: off.ext}
	if err := pr.Validate(); err != nil {
		return nil, fmt.Errorf("x402mcp: invalid payment requirements: %w", err)
	}
	b, err := json.Marshal(pr)
	if err != nil {
		return nil, fmt.Errorf("x402mcp: encoding PaymentRequired: %w", err)
	}
	res := &mcp.CallToolResult{
		IsError:           true,
		StructuredContent: json.RawMessage(b),
		Content:           []mcp.Content{&mcp.TextContent{Text: string(b)}},
	}
	if sr != nil {
		res.Meta = mcp.Meta{MetaPaymentResponse: sr}
	}
	return res, nil
}

// errorResult is a tool error result with a message, for failures that are
// not about the payment itself (the facilitator is unreachable).
func errorResult(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}

// withReceipt returns res with sr in its _meta (a copy of the map: the
// handler's own is not modified).
func withReceipt(res *mcp.CallToolResult, sr *x402.SettleResponse) *mcp.CallToolResult {
	out := *res
	m := make(mcp.Meta, len(res.Meta)+1)
	for k, v := range res.Meta {
		m[k] = v
	}
	m[MetaPaymentResponse] = sr
	out.Meta = m
	return &out
}
