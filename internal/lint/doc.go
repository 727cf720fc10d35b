// Package lint holds repository-wide checks that run as ordinary tests:
// every package has exactly one package doc comment, and the protocol core
// stays free of chain code. It has no non-test code.
package lint
