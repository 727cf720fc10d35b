package permit2_test

import (
	"errors"
	"os"
	"testing"

	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// FuzzParsePayload: the parser never panics, fails only with ErrMalformed,
// and what it accepts encodes back to a payload it accepts again with the
// same meaning.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(goodExact), false)
	if b, err := os.ReadFile("testdata/vectors.json"); err == nil {
		f.Add(b, false)
	}
	v := loadVectors(f)
	f.Add([]byte(v.Exact2), false)
	f.Add([]byte(v.Upto2), true)
	f.Fuzz(func(t *testing.T, b []byte, upto bool) {
		kind := permit2.KindExact
		if upto {
			kind = permit2.KindUpto
		}
		var o x402.Object
		if o.UnmarshalJSON(b) != nil || o.IsNull() {
			return
		}
		s, err := permit2.ParsePayload(o, kind)
		if err != nil {
			if !errors.Is(err, permit2.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		wire, err := permit2.Encode(s.From, &s.Permit, s.Signature)
		if err != nil {
			t.Fatalf("accepted payload does not encode: %v", err)
		}
		o2, err := x402.NewObject(wire)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := permit2.ParsePayload(o2, kind)
		if err != nil {
			t.Fatalf("re-encoded payload refused: %v", err)
		}
		d1, err1 := s.Permit.Digest(1)
		d2, err2 := s2.Permit.Digest(1)
		if err1 != nil || err2 != nil || d1 != d2 || s.From != s2.From {
			t.Fatalf("round trip changed the message: %v %v", err1, err2)
		}
	})
}

// FuzzParseGasSponsoring: never panics, fails only with ErrMalformed, and
// round-trips what it accepts.
func FuzzParseGasSponsoring(f *testing.F) {
	v := loadVectors(f)
	f.Add([]byte(`{"eip2612GasSponsoring":{"info":{"from":"` + v.Owner.Hex() + `","asset":"` + v.Token.Hex() + `","spender":"` + permit2.AddressHex + `","amount":"5","nonce":"0","deadline":"9","signature":"` + v.EIP2612.Signature.String() + `","version":"1"}}}`))
	f.Add([]byte(`{"eip2612GasSponsoring":{"info":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o x402.Object
		if o.UnmarshalJSON(b) != nil {
			return
		}
		g, err := permit2.ParseGasSponsoring(o)
		if err != nil {
			if !errors.Is(err, permit2.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if g == nil {
			return
		}
		ext, err := g.Extension()
		if err != nil {
			t.Fatal(err)
		}
		g2, err := permit2.ParseGasSponsoring(ext)
		if err != nil || g2 == nil || g2.Signature != g.Signature || g2.Permit.Value.Cmp(g.Permit.Value) != 0 || g2.Version != g.Version {
			t.Fatalf("round trip: %v", err)
		}
	})
}
