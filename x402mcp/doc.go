// Package x402mcp sells and buys MCP tool calls with x402 payments, on the
// official Go MCP SDK (github.com/modelcontextprotocol/go-sdk/mcp), as the
// x402 MCP transport specifies (specs/transports-v2/mcp.md, the tool-result
// binding):
//
//   - A call to a paid tool without a payment gets a tool result with
//     isError true carrying the x402 PaymentRequired object in
//     structuredContent and, as JSON text, in content[0].text.
//   - The client calls again with its PaymentPayload in
//     params._meta["x402/payment"].
//   - The server verifies the payment, runs the tool and, when the tool
//     result is not an error, settles it and returns the tool result with
//     the SettleResponse in result._meta["x402/payment-response"]. A tool
//     error result is never charged; a settlement that fails replaces the
//     tool's output with a payment-required result.
//
// # Selling tools
//
// A [Server] holds what the x402http middleware holds for HTTP routes: the
// facilitator ([x402.Facilitator], in process or remote), the scheme
// servers that price options and read payments, and the claims that make
// one payment buy one tool result (a payment copied onto a second call,
// in parallel or later, is refused while its authorization is valid; with
// Config.Claims a durable store, such as an x402http.Queue, extends this
// across restarts and processes). [Server.AddTool] adds a paid tool to an
// *mcp.Server, [Server.Wrap] wraps a raw mcp.ToolHandler, and
// [Server.Middleware] prices tools added with the SDK's typed mcp.AddTool.
// A [Tool]'s price is static (each [Option]'s Price) or computed from the
// call's arguments (Tool.Price).
//
// A tool result that asks the client for input (InputRequests, the MCP
// multi round-trip requests) is not a result yet: nothing is settled, and
// the call that comes back with the answers and the same payment
// continues without a second verification; the payment settles with the
// final result.
//
// Every scheme of the registry works: "exact" settles the accepted amount;
// a scheme implementing [x402.MeteredScheme] ("upto") settles what the
// tool reports with [ReportUsage] (the whole authorized amount if it
// reports nothing); one implementing [x402.ChargeAdmitter]
// (batch-settlement) is admitted, its charge committed when the tool
// result is not an error and aborted otherwise.
//
// # Buying tools
//
// A [Session] wraps an *mcp.ClientSession and a go402 *client.Client: its
// CallTool answers a payment-required result by choosing an option, signing
// it within the client's Policy (limits, budgets, allowlists, approval) and
// calling once more with the payment, and returns the tool result with the
// *client.Receipt. The client's machinery is used as it is: the client must
// be built with Config.Base set to [Transport], which carries the paid call
// over the MCP session instead of HTTP (other requests go to the next
// transport, so one client and one budget can pay for URLs and tools). A
// policy refusal is a *client.PolicyError and signs nothing.
package x402mcp
