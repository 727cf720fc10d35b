// Package mcpwallet is the MCP server of `go402 mcp`: it gives an agent
// (any MCP client) a wallet with limits. Its tools are
//
//   - fetch: make an HTTP request and pay its 402 with x402 within the
//     policy; returns the status, headers, a bounded body (text, or base64
//     when it is not UTF-8) and what was paid, with the receipt;
//   - quote: the price of a URL without paying or signing anything;
//   - call_tool: call a tool of another MCP server (streamable HTTP),
//     paying its payment-required result through an x402mcp.Session;
//   - budget: the limits, what was spent and the history of payments.
//
// Every payment goes through one go402 client.Client, so its
// client.Policy (per-payment maximum, budgets, budget file, allowed
// networks, assets and recipients) holds for URLs and tools alike. Two
// rules are the wallet's own: an allowlist of hosts, checked before any
// request is sent, and an approval threshold. A payment priced above the
// threshold is not signed: the tool answers "needs approval" with a
// one-time confirmation token bound to that request and that exact
// option (scheme, network, asset, amount, payTo), and pays only when
// called again with the same arguments and confirm set to the token.
//
// The payer key never leaves the signer: no tool result or log carries
// it.
package mcpwallet
