package x402_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly enforces that the protocol core imports nothing
// outside the standard library, and so no chain code.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v: %s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/go402/go402/x402" {
			t.Errorf("x402 depends on %s", p)
		}
	}
}
