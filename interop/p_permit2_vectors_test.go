package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// TestPermit2VectorsAreCurrent regenerates the official Permit2 vectors
// with js/permit2-vectors.mjs and checks that evm/permit2's golden file
// holds the same deterministic values (digests, signatures, calldata), and
// that the payloads the official clients make now still parse and verify
// with go402's parser.
func TestPermit2VectorsAreCurrent(t *testing.T) {
	node := requireNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "js/permit2-vectors.mjs")
	cmd.Stderr = &stderr
	fresh, err := cmd.Output()
	if err != nil {
		t.Fatalf("permit2-vectors.mjs: %v\n%s", err, stderr.String())
	}
	stored, err := os.ReadFile("../evm/permit2/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(fresh, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(stored, &b); err != nil {
		t.Fatal(err)
	}
	for k, v := range a {
		if k == "exactPayload" || k == "uptoPayload" {
			continue // random nonce and time-based deadline
		}
		if !x402.Object(v).Equal(x402.Object(b[k])) && !bytes.Equal(bytes.TrimSpace(v), bytes.TrimSpace(b[k])) {
			t.Errorf("%s differs from the stored vectors; regenerate them (see js/permit2-vectors.mjs)\nfresh:  %s\nstored: %s", k, v, b[k])
		}
	}
	var owner common.Address
	var chainID uint64
	if err := json.Unmarshal(a["owner"], &owner); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a["chainId"], &chainID); err != nil {
		t.Fatal(err)
	}
	for k, kind := range map[string]permit2.Kind{"exactPayload": permit2.KindExact, "uptoPayload": permit2.KindUpto} {
		s, err := permit2.ParsePayload(x402.Object(a[k]), kind)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		d, err := s.Permit.Digest(chainID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := permit2.Recover(d, s.Signature); err != nil || got != owner {
			t.Fatalf("%s: recovered %s, %v; want %s", k, got, err, owner)
		}
	}
}
