// Package attack holds go402's attack suite: black-box tests in which a
// hostile payer, server or environment tries to get a response without
// paying, to be charged more than once, to overspend a client's budget or
// to read a secret. Each test runs the real stack over HTTP on loopback:
// the embedded devnet (real EIP-3009 authorizations signed with its
// accounts), the facilitator service on SQLite and PostgreSQL, remote
// facilitators, the x402http middleware, the gateway and the client. The
// tests use the default configuration of every part, so that they prove
// the defaults safe. docs/security.md lists the tests, one line each.
//
// The package has no exported API; everything is in its _test files.
package attack
