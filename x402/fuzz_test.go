package x402_test

import (
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

// Every decoder of network input has a fuzz target. The invariants: no
// panic; a failure is an *x402.Error (or wraps the parser's sentinel); a
// success re-encodes and decodes back to the same value.
//
// Seeds come from testdata/golden and testdata/fuzz/<target>; the seed
// corpus runs as part of `go test`, `make fuzz` explores further.

func addGoldenSeeds(f *testing.F, suffix string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*"+suffix))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSpace(string(b)))
	}
}

func requireTyped(t *testing.T, err error) {
	t.Helper()
	var xe *x402.Error
	if !errors.As(err, &xe) || xe.Reason == "" || xe.Message == "" {
		t.Fatalf("untyped error %T: %v", err, err)
	}
}

// fuzzHeader runs the shared invariant for one header codec.
func fuzzHeader[T any](t *testing.T, h string, decode func(string) (*T, error), encode func(*T) (string, error)) {
	v, err := decode(h)
	if err != nil {
		requireTyped(t, err)
		return
	}
	out, err := encode(v)
	if err != nil {
		if errors.Is(err, x402.ErrHeaderTooLarge) {
			return // standard padding can push a maximal unpadded header over the bound
		}
		t.Fatalf("decoded value does not re-encode: %v", err)
	}
	back, err := decode(out)
	if err != nil {
		t.Fatalf("re-encoded header does not decode: %v", err)
	}
	if !reflect.DeepEqual(v, back) {
		t.Fatalf("round trip changed the value:\n%#v\n%#v", v, back)
	}
}

func FuzzDecodePaymentSignature(f *testing.F) {
	addGoldenSeeds(f, ".b64")
	f.Fuzz(func(t *testing.T, h string) {
		fuzzHeader(t, h, x402.DecodePaymentSignature, x402.EncodePaymentSignature)
	})
}

func FuzzDecodePaymentRequired(f *testing.F) {
	addGoldenSeeds(f, ".b64")
	f.Fuzz(func(t *testing.T, h string) {
		fuzzHeader(t, h, x402.DecodePaymentRequired, x402.EncodePaymentRequired)
	})
}

func FuzzDecodePaymentResponse(f *testing.F) {
	addGoldenSeeds(f, ".b64")
	f.Fuzz(func(t *testing.T, h string) {
		fuzzHeader(t, h, x402.DecodePaymentResponse, x402.EncodePaymentResponse)
	})
}

func FuzzDecodeXPayment(f *testing.F) {
	addGoldenSeeds(f, ".b64")
	f.Fuzz(func(t *testing.T, h string) {
		fuzzHeader(t, h, x402.DecodeXPayment, x402.EncodeXPayment)
	})
}

func FuzzDecodePayment(f *testing.F) {
	addGoldenSeeds(f, ".b64")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := x402.DecodePayment(h)
		if err != nil {
			requireTyped(t, err)
			return
		}
		if (p.V1 == nil) == (p.V2 == nil) {
			t.Fatalf("exactly one version must be set: %+v", p)
		}
	})
}

func FuzzDecodeFacilitatorRequest(f *testing.F) {
	for _, name := range []string{"v1_facilitator_request.json", "v2_facilitator_request.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := x402.DecodeFacilitatorRequest(body)
		if err != nil {
			requireTyped(t, err)
			return
		}
		if _, err := r.Payment(); err != nil {
			t.Fatalf("a decoded request has no Payment view: %v", err)
		}
	})
}

func FuzzDecodePaymentRequiredV1(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "v1_payment_required_body.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := x402.DecodePaymentRequiredV1(body); err != nil {
			requireTyped(t, err)
		}
	})
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "10000", maxUint256, "1" + maxUint256, "-1", "1e3", "0x1", " 1", "00012"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := x402.ParseAmount(s)
		ref, refOK := new(big.Int).SetString(s, 10)
		digitsOnly := s != "" && strings.Trim(s, "0123456789") == ""
		valid := digitsOnly && refOK && ref.BitLen() <= 256
		if err != nil {
			if valid {
				t.Fatalf("rejected valid %q: %v", s, err)
			}
			if !errors.Is(err, x402.ErrInvalidAmount) {
				t.Fatalf("error does not wrap ErrInvalidAmount: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted invalid %q as %s", s, a)
		}
		if a.String() != ref.String() || a.Big().Cmp(ref) != 0 {
			t.Fatalf("%q parsed as %s, want %s", s, a, ref)
		}
		if back, err := x402.ParseAmount(a.String()); err != nil || back != a {
			t.Fatalf("String does not round trip: %v %v", back, err)
		}
	})
}

func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{"$0.001", "0.001", "0.25 USDC", "$1.50", ".5", "5.", "$0.0000001", "1e-3", "$"} {
		f.Add(s, uint8(6))
	}
	f.Fuzz(func(t *testing.T, s string, decimals uint8) {
		p, err := x402.ParsePrice(s)
		if err != nil {
			if !errors.Is(err, x402.ErrInvalidPrice) {
				t.Fatalf("error does not wrap ErrInvalidPrice: %v", err)
			}
			return
		}
		// The canonical form parses to the same price.
		again, err := x402.ParsePrice(p.String())
		if err != nil || again != p {
			t.Fatalf("canonical form %q does not round trip: %v", p.String(), err)
		}
		a, err := p.Atomic(decimals)
		if err != nil {
			return
		}
		// Cross-check against exact rational arithmetic.
		num := strings.TrimPrefix(strings.Fields(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "$")))[0], "$")
		r, ok := new(big.Rat).SetString(num)
		if !ok {
			t.Fatalf("accepted %q that big.Rat cannot parse", s)
		}
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)))
		if !r.IsInt() || r.Num().Cmp(a.Big()) != 0 {
			t.Fatalf("%q at %d decimals = %s, want %s", s, decimals, a, r.RatString())
		}
	})
}

func FuzzParseNetwork(f *testing.F) {
	for _, s := range []string{"eip155:8453", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "eip155:*", "base", "eip155:01", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := x402.ParseNetwork(s)
		if err != nil {
			if !errors.Is(err, x402.ErrInvalidNetwork) {
				t.Fatalf("error does not wrap ErrInvalidNetwork: %v", err)
			}
			return
		}
		if string(n) != s || n.IsPattern() || n.Namespace() == "" || n.Reference() == "" {
			t.Fatalf("accepted %q as %q", s, n)
		}
		if n.Namespace() == x402.NamespaceEIP155 {
			id, err := n.ChainID()
			if err != nil || x402.EIP155(id) != n {
				t.Fatalf("chain id of %q: %d %v", s, id, err)
			}
		}
		if !n.Matches(x402.Network(n.Namespace()+":*")) || !n.Matches("*") {
			t.Fatalf("%q does not match its namespace pattern", s)
		}
	})
}

// addGoldenJSONSeeds adds the decoded JSON of every golden header.
func addGoldenJSONSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"x402Version":2,"accepted":{"scheme":"exact","network":"eip155:1","amount":"1","AMOUNT":"2","asset":"a","payTo":"p","maxTimeoutSeconds":1},"payload":{}}`))
	f.Add([]byte(`{"x402Version":2,"accepted":{"scheme":"exact","network":"eip155:1","amount":"1","asset":"a","payTo":"p","maxTimeoutSeconds":1},"payload":{"\u0061":1,"a":2}}`))
}

// The JSON targets reach the JSON decoder directly: the fuzzer mutates the
// document and the target base64-encodes it.

func FuzzPaymentSignatureJSON(f *testing.F) {
	addGoldenJSONSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		fuzzHeader(t, base64.StdEncoding.EncodeToString(doc), x402.DecodePaymentSignature, x402.EncodePaymentSignature)
	})
}

func FuzzPaymentRequiredJSON(f *testing.F) {
	addGoldenJSONSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		fuzzHeader(t, base64.StdEncoding.EncodeToString(doc), x402.DecodePaymentRequired, x402.EncodePaymentRequired)
	})
}

func FuzzPaymentResponseJSON(f *testing.F) {
	addGoldenJSONSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		fuzzHeader(t, base64.StdEncoding.EncodeToString(doc), x402.DecodePaymentResponse, x402.EncodePaymentResponse)
	})
}

func FuzzXPaymentJSON(f *testing.F) {
	addGoldenJSONSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		fuzzHeader(t, base64.StdEncoding.EncodeToString(doc), x402.DecodeXPayment, x402.EncodeXPayment)
	})
}
