package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Every reason code the x402 package defines is a known label value.
func TestReasonsComplete(t *testing.T) {
	files, err := filepath.Glob("../x402/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("x402 sources: %v %v", files, err)
	}
	re := regexp.MustCompile(`Reason[A-Za-z0-9]* +Reason = "([a-z0-9_]+)"`)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			n++
			if !knownReason(string(m[1])) {
				t.Errorf("reason %q (%s) is not in reasons.go: regenerate it", m[1], filepath.Base(f))
			}
		}
	}
	if n < 50 {
		t.Errorf("found %d reason constants; the pattern no longer matches the sources", n)
	}
}

func TestReasonBounded(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"insufficient_funds", "insufficient_funds"},
		{"invalid_exact_evm_payload_signature", "invalid_exact_evm_payload_signature"},
		{"made_up_by_a_peer", Other},
		{"0xabc0000000000000000000000000000000000000", Other},
	} {
		if got := reason(c.in); got != c.want {
			t.Errorf("reason(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
