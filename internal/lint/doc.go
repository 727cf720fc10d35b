// Package lint holds repository-wide checks that run as ordinary tests:
// every package has exactly one package doc comment, the package graph
// follows the protocol's roles (TestDependencyRules: x402 imports only the
// standard library; x402http, client and the facilitator meet only through
// x402 and know no other role; evm knows no ledger or facilitator), and
// an error message of a library package that starts with a package prefix
// names its own package path (TestErrorPrefixes). It has no non-test code.
package lint
