package evm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// FuzzDecodeWalletSignature: the payload decoder never panics on a
// signature of any shape; a signature it keeps for the chain (a smart
// wallet's) is not 65 bytes, is bounded, and is what the payload said.
func FuzzDecodeWalletSignature(f *testing.F) {
	auth := `"authorization":{"from":"0x` + strings.Repeat("1", 40) + `","to":"0x` + strings.Repeat("2", 40) +
		`","value":"1","validAfter":"0","validBefore":"9","nonce":"0x` + strings.Repeat("ab", 32) + `"}`
	f.Add(auth, "0x"+strings.Repeat("ab", 100))
	f.Add(auth, "0x"+strings.Repeat("ab", 65))
	f.Add(auth, strings.Repeat("6492", 16))
	f.Add(auth, "0x")
	f.Fuzz(func(t *testing.T, auth, sig string) {
		obj := x402.Object(`{` + auth + `,"signature":` + strconvQuote(sig) + `}`)
		d, err := decodeExactObject(obj)
		if err != nil || d.wsig == nil {
			return
		}
		if len(d.wsig) == SignatureLength || len(d.wsig) == 0 || len(d.wsig) > MaxSmartWalletSignature {
			t.Fatalf("kept a %d-byte wallet signature", len(d.wsig))
		}
		if d.sigErr != nil {
			t.Fatal("a wallet signature with a signature error")
		}
		want, err := hexutil.Decode("0x" + strings.TrimPrefix(strings.TrimPrefix(sig, "0x"), "0X"))
		if err != nil || !bytes.Equal(want, d.wsig) {
			t.Fatalf("kept %x for %q", d.wsig, sig)
		}
	})
}

// strconvQuote is a JSON string for s (ASCII escapes only).
func strconvQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
