// Package interop proves that go402 interoperates with the official x402
// TypeScript packages (@x402/* 2.x and the legacy x402-* 1.x packages) on the
// go402 devnet.
//
// The package has no library code: its tests start a devnet with JSON-RPC,
// run small Node scripts of our own under js/ (an official v2 client, server
// and facilitator, and the legacy v1 client and server) against go402's
// client, x402http middleware, gateway, paid MCP tools (x402mcp, called by the
// official TypeScript MCP client) and facilitator, and check that every
// payment moves the devnet token balances by exactly the price, once.
//
// The Node packages are pinned in package.json and package-lock.json and
// installed with `make interop` (npm ci). Without node or node_modules the
// tests skip, unless the CI environment variable is set, in which case they
// fail. docs/architecture.md lists the differences from the reference
// implementation observed by these tests.
package interop
