package x402mcp_test

import (
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkPaidToolCall measures one paid tool call end to end over the
// streamable HTTP transport on loopback: the unpaid call, the policy and
// signature, the paid call, verify, the tool, and the settlement mined on
// the devnet (the in-process go402 facilitator). Run it with
// -benchtime 8x: every settlement mines a block one second after the last,
// and the devnet lets block time run at most 10 s ahead of the clock, so
// longer runs measure the devnet's one block a second.
func BenchmarkPaidToolCall(b *testing.B) {
	m := newMarket(b)
	conn := m.overHTTP(b)
	c, _ := m.wallet(b, client.Policy{})
	s := x402mcp.NewSession(c, conn.cs, conn.server)
	for b.Loop() {
		res, receipt, err := s.CallTool(b.Context(), &mcp.CallToolParams{Name: "weather"})
		if err != nil || res.IsError || receipt == nil || receipt.Settlement == nil || !receipt.Settlement.Success {
			b.Fatalf("%+v %+v %v", res, receipt, err)
		}
	}
}
