package x402mcp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// offerOf is an offer of n options.
func offerOf(n int) *offer {
	off := &offer{res: x402.ResourceInfo{URL: "mcp://tool/t"}}
	for i := range n {
		off.reqs = append(off.reqs, x402.PaymentRequirements{
			Scheme: "exact", Network: "eip155:8453", Amount: x402.NewAmount(uint64(1000 + i)),
			Asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", PayTo: fmt.Sprintf("0x%040x", i+1), MaxTimeoutSeconds: 60,
		})
	}
	return off
}

// The client reads a PaymentRequired from structuredContent, else from
// content[0].text, as the transport says; a result that is not an error
// never is one.
func TestPaymentRequiredFromResult(t *testing.T) {
	off := offerOf(1)
	off.ext = x402.Object(`{"bazaar":{"info":{"input":{"type":"mcp"}}}}`)
	res, err := requiredResult(off, "Payment required", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pr, ok := PaymentRequiredFromResult(res); !ok || !pr.Extensions.Equal(off.ext) {
		t.Fatalf("extensions not carried: %+v", pr)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	var structured map[string]any
	if err := json.Unmarshal([]byte(text), &structured); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		res  *mcp.CallToolResult
		ok   bool
	}{
		{"both", res, true},
		{"decoded structuredContent", &mcp.CallToolResult{IsError: true, StructuredContent: structured}, true},
		{"text only", &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}, true},
		{"invalid structuredContent, valid text", &mcp.CallToolResult{IsError: true, StructuredContent: map[string]any{"x402Version": 2}, Content: []mcp.Content{&mcp.TextContent{Text: text}}}, true},
		{"not an error", &mcp.CallToolResult{StructuredContent: structured, Content: []mcp.Content{&mcp.TextContent{Text: text}}}, false},
		{"plain error", &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "boom"}}}, false},
		{"text not JSON", &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "{"}}}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, ok := PaymentRequiredFromResult(tt.res)
			if ok != tt.ok || ok && (pr.Accepts[0].Amount != x402.NewAmount(1000) || pr.Error != "Payment required") {
				t.Errorf("got %+v %v, want ok=%v", pr, ok, tt.ok)
			}
		})
	}
}

// An offer with many options (beyond what a PAYMENT-REQUIRED HTTP header
// may carry to TypeScript peers) still reaches the go402 client.
func TestLargeOfferReachesTheClient(t *testing.T) {
	res, err := requiredResult(offerOf(40), "Payment required", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Content[0].(*mcp.TextContent).Text); n < x402.MaxPaymentRequiredSize*3/4 {
		t.Fatalf("offer of %d bytes is not large", n)
	}
	pr, ok := PaymentRequiredFromResult(res)
	if !ok || len(pr.Accepts) != 40 {
		t.Fatalf("read %v", ok)
	}
	r, _ := http.NewRequest(http.MethodPost, "mcp://server/tools/t", nil)
	resp, err := answer(r, http.StatusPaymentRequired, pr, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil || len(back.Accepts) != 40 {
		t.Fatalf("client side: %v", err)
	}
}
