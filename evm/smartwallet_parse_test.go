package evm_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
)

func sample6492() *evm.ERC6492Signature {
	return &evm.ERC6492Signature{
		Factory:         common.HexToAddress("0x6492FAC700000000000000000000000000000001"),
		FactoryCalldata: bytes.Repeat([]byte{0xca}, 68),
		Signature:       bytes.Repeat([]byte{0x5e}, 65),
	}
}

func TestParseERC6492(t *testing.T) {
	good := sample6492().Bytes()
	w, err := evm.ParseERC6492(good)
	if err != nil {
		t.Fatal(err)
	}
	if w.Factory != sample6492().Factory || !bytes.Equal(w.FactoryCalldata, sample6492().FactoryCalldata) || !bytes.Equal(w.Signature, sample6492().Signature) {
		t.Fatalf("round trip: %+v", w)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name string
		sig  []byte
	}{
		{"no suffix", good[:len(good)-32]},
		{"suffix only", []byte(evm.ERC6492MagicSuffix)},
		{"dirty address word", mut(func(b []byte) []byte { b[0] = 1; return b })},
		{"calldata offset not canonical", mut(func(b []byte) []byte { b[63] = 0x80; return b })},
		{"signature offset past the end", mut(func(b []byte) []byte { b[94] = 0xff; return b })},
		{"calldata length past the end", mut(func(b []byte) []byte { b[126] = 0xff; return b })},
		{"dirty padding", mut(func(b []byte) []byte { b[96+32+68] = 1; return b })},
		{"trailing bytes", append(append(append([]byte(nil), good[:len(good)-32]...), make([]byte, 32)...), evm.ERC6492MagicSuffix...)},
		{"too long", append(make([]byte, evm.MaxSmartWalletSignature), evm.ERC6492MagicSuffix...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evm.ParseERC6492(tc.sig)
			if !errors.Is(err, evm.ErrInvalidSignature) || !errors.Is(err, evm.ErrERC6492Encoding) {
				t.Errorf("got %v, want an ERC-6492 encoding error", err)
			}
		})
	}
}

// FuzzParseERC6492: the parser never panics, and whatever it accepts
// re-encodes to the same bytes (it accepts only the canonical encoding).
func FuzzParseERC6492(f *testing.F) {
	f.Add(sample6492().Bytes())
	f.Add((&evm.ERC6492Signature{}).Bytes())
	f.Add([]byte(evm.ERC6492MagicSuffix))
	f.Add([]byte(strings.Repeat("\x00", 96) + evm.ERC6492MagicSuffix))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := evm.ParseERC6492(b)
		if err != nil {
			if w != nil {
				t.Fatal("a value with an error")
			}
			return
		}
		if !evm.IsERC6492(b) {
			t.Fatal("accepted without the magic suffix")
		}
		if got := w.Bytes(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, b)
		}
	})
}
