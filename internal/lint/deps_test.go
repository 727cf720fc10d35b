package lint

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/go402/go402"

// depRules is the package graph as the protocol's roles draw it: the
// protocol core at the bottom, one package per scheme, and client, server
// and facilitator as peers that meet only through x402. Each rule names a
// package and the module packages it must not depend on, directly or
// through others (a forbidden path also forbids everything below it).
var depRules = []struct {
	pkg       string
	forbidden []string
	stdOnly   bool
}{
	{pkg: "x402", stdOnly: true},
	// The one URL scrubber and redacting logger every component uses.
	{pkg: "internal/redact", stdOnly: true},
	{pkg: "x402http", forbidden: []string{"evm", "ledger", "facilitator", "gateway", "client", "devnet"}},
	{pkg: "x402http/paywall", forbidden: []string{"evm", "ledger", "facilitator", "gateway", "client", "devnet"}},
	{pkg: "client", forbidden: []string{"x402http", "facilitator", "ledger", "gateway", "devnet"}},
	{pkg: "facilitator", forbidden: []string{"evm", "devnet", "x402http", "gateway", "client", "channels"}},
	{pkg: "facilitator/remote", forbidden: []string{"evm", "ledger", "devnet", "x402http", "gateway", "client"}},
	{pkg: "evm", forbidden: []string{"ledger", "facilitator", "x402http", "gateway", "client", "devnet"}},
	{pkg: "ledger", forbidden: []string{"evm", "facilitator", "x402http", "gateway", "client", "devnet"}},
	// Paid MCP tools: a seller meets the facilitator only through
	// x402.Facilitator; a buyer pays through the client.
	{pkg: "x402mcp", forbidden: []string{"ledger", "facilitator", "x402http", "gateway", "devnet"}},
	// The resource server's channel record: no scheme, no facilitator.
	{pkg: "channels", forbidden: []string{"evm", "ledger", "facilitator", "x402http", "gateway", "client", "devnet"}},
}

// TestDependencyRules fails when a package depends on one its role must not
// know: go list -deps of each package against the table above.
func TestDependencyRules(t *testing.T) {
	root := repoRoot(t)
	for _, rule := range depRules {
		t.Run(rule.pkg, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard", "./"+rule.pkg)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list %s: %v", rule.pkg, err)
			}
			dec := json.NewDecoder(strings.NewReader(string(out)))
			self := module + "/" + rule.pkg
			n := 0
			for dec.More() {
				var p struct {
					ImportPath string
					Standard   bool
				}
				if err := dec.Decode(&p); err != nil {
					t.Fatal(err)
				}
				n++
				if p.Standard || p.ImportPath == self {
					continue
				}
				if rule.stdOnly {
					t.Errorf("%s depends on %s: it may import only the standard library", rule.pkg, p.ImportPath)
					continue
				}
				for _, f := range rule.forbidden {
					if full := module + "/" + f; p.ImportPath == full || strings.HasPrefix(p.ImportPath, full+"/") {
						t.Errorf("%s depends on %s", rule.pkg, p.ImportPath)
					}
				}
			}
			if n < 2 {
				t.Fatalf("go list %s listed %d packages; the rule checks nothing", rule.pkg, n)
			}
		})
	}
}
