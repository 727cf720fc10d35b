package x402_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

// golden describes one fixture pair in testdata/golden: NAME.b64 (a header
// value, taken from the x402 specification where one exists) and NAME.json.
type golden struct {
	name string
	// decode decodes a header value.
	decode func(string) (any, error)
	// encode encodes what decode returned.
	encode func(any) (string, error)
	// exact: re-encoding reproduces the .b64 byte for byte.
	exact bool
}

func goldens() []golden {
	return []golden{
		{"v2_payment_required", dec(x402.DecodePaymentRequired), enc(x402.EncodePaymentRequired), true},
		{"v2_payment_signature", dec(x402.DecodePaymentSignature), enc(x402.EncodePaymentSignature), true},
		{"v2_payment_response_success", dec(x402.DecodePaymentResponse), enc(x402.EncodePaymentResponse), true},
		// The spec's failure example omits "transaction"; go402 always emits
		// it ("" on failure) because reference clients require the field.
		{"v2_payment_response_failure", dec(x402.DecodePaymentResponse), enc(x402.EncodePaymentResponse), false},
		{"v1_x_payment", dec(x402.DecodeXPayment), enc(x402.EncodeXPayment), true},
		{"v1_x_payment_response_success", dec(x402.DecodePaymentResponse), enc(x402.EncodePaymentResponse), true},
		{"v1_x_payment_response_failure", dec(x402.DecodePaymentResponse), enc(x402.EncodePaymentResponse), true},
		// What the reference "upto" scheme sends for a $0 settlement:
		// success without a transaction (encoded with JSON.stringify).
		{"v2_payment_response_upto_zero", dec(x402.DecodePaymentResponse), enc(x402.EncodePaymentResponse), true},
	}
}

func dec[T any](f func(string) (*T, error)) func(string) (any, error) {
	return func(s string) (any, error) { return f(s) }
}

func enc[T any](f func(*T) (string, error)) func(any) (string, error) {
	return func(v any) (string, error) { return f(v.(*T)) }
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestGoldenHeaders(t *testing.T) {
	for _, g := range goldens() {
		t.Run(g.name, func(t *testing.T) {
			b64 := strings.TrimSpace(string(readGolden(t, g.name+".b64")))
			want := readGolden(t, g.name+".json")

			v, err := g.decode(b64)
			if err != nil {
				t.Fatalf("decode spec header: %v", err)
			}
			// The decoded message must carry every field of the JSON form.
			got, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if g.exact && !jsonEqual(t, got, want) {
				t.Errorf("decoded message differs from fixture\n got: %s\nwant: %s", got, want)
			}

			// The JSON fixture, encoded as a header, decodes to the same value.
			v2, err := g.decode(base64.StdEncoding.EncodeToString(compact(t, want)))
			if err != nil {
				t.Fatalf("decode fixture JSON: %v", err)
			}
			if !reflect.DeepEqual(v, v2) {
				t.Errorf("header and JSON fixture decode differently:\n%#v\n%#v", v, v2)
			}

			// Re-encoding emits standard padded base64 of the same message.
			out, err := g.encode(v)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if g.exact && out != b64 {
				t.Errorf("re-encoded header differs from the spec's\n got: %s\nwant: %s", out, b64)
			}
			if _, err := base64.StdEncoding.Strict().DecodeString(out); err != nil {
				t.Errorf("encoder did not emit standard padded base64: %v", err)
			}
			v3, err := g.decode(out)
			if err != nil {
				t.Fatalf("decode re-encoded: %v", err)
			}
			if !reflect.DeepEqual(v, v3) {
				t.Errorf("round trip changed the message:\n%#v\n%#v", v, v3)
			}
		})
	}
}

// TestGoldenUptoZeroIsUptoOnly: the header codecs accept the reference
// "upto" scheme's $0 success without a transaction, since the header does
// not name the scheme, but only a check for "upto" accepts it as the
// answer to a settlement.
func TestGoldenUptoZeroIsUptoOnly(t *testing.T) {
	s, err := x402.DecodePaymentResponse(strings.TrimSpace(string(readGolden(t, "v2_payment_response_upto_zero.b64"))))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Success || s.Transaction != "" || s.Amount == nil || !s.Amount.IsZero() {
		t.Fatalf("fixture is not a $0 success without a transaction: %+v", s)
	}
	if err := s.ValidateFor("upto"); err != nil {
		t.Errorf(`ValidateFor("upto"): %v`, err)
	}
	for _, scheme := range []string{"exact", "", "UPTO"} {
		if err := s.ValidateFor(scheme); !errors.Is(err, x402.ErrInvalidMessage) {
			t.Errorf("ValidateFor(%q) = %v, want ErrInvalidMessage", scheme, err)
		}
	}
	if err := s.Validate(); !errors.Is(err, x402.ErrInvalidMessage) {
		t.Errorf("Validate = %v, want ErrInvalidMessage", err)
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGoldenV1Body(t *testing.T) {
	body := readGolden(t, "v1_payment_required_body.json")
	p, err := x402.DecodePaymentRequiredV1(body)
	if err != nil {
		t.Fatal(err)
	}
	if p.Accepts[0].Network != "base-sepolia" || p.Accepts[0].MaxAmountRequired != x402.NewAmount(10000) {
		t.Errorf("unexpected decode: %+v", p.Accepts[0])
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	// outputSchema: null is kept, as legacy servers send it.
	if !jsonEqual(t, out, body) {
		t.Errorf("v1 body round trip differs\n got: %s\nwant: %s", out, body)
	}
	req, res := p.Accepts[0].ToV2()
	if req.Network != "eip155:84532" || res.URL != "https://api.example.com/premium-data" {
		t.Errorf("ToV2: %+v %+v", req, res)
	}
	back, err := x402.RequirementsV1(&req, &res)
	if err != nil {
		t.Fatal(err)
	}
	back.OutputSchema = p.Accepts[0].OutputSchema
	if !reflect.DeepEqual(back, p.Accepts[0]) {
		t.Errorf("v1 -> v2 -> v1 changed requirements:\n%+v\n%+v", back, p.Accepts[0])
	}
}

func TestGoldenFacilitatorRequests(t *testing.T) {
	for _, name := range []string{"v2_facilitator_request.json", "v1_facilitator_request.json"} {
		t.Run(name, func(t *testing.T) {
			body := readGolden(t, name)
			r, err := x402.DecodeFacilitatorRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, out, body) {
				t.Errorf("round trip differs\n got: %s\nwant: %s", out, body)
			}
			p, err := r.Payment()
			if err != nil {
				t.Fatal(err)
			}
			if p.Accepted.Network != "eip155:84532" || p.Requirements.Network != "eip155:84532" {
				t.Errorf("networks not normalised to CAIP-2: %q %q", p.Accepted.Network, p.Requirements.Network)
			}
			if p.Requirements.Amount != x402.NewAmount(10000) || p.Accepted.Amount != x402.NewAmount(10000) {
				t.Errorf("amounts: %v %v", p.Requirements.Amount, p.Accepted.Amount)
			}
			if sig, _ := p.Payload.StringField("signature"); !strings.HasPrefix(sig, "0x2d6a75") {
				t.Errorf("payload signature not carried: %q", sig)
			}
			if p.Version != r.X402Version || r.Scheme() != "exact" {
				t.Errorf("version %d scheme %q", p.Version, r.Scheme())
			}
		})
	}
}

// TestGoldenFacilitatorResponses decodes facilitator answers in the shapes
// the reference facilitators send them (@x402/core 2.27 x402Facilitator
// with @x402/evm, and the legacy x402 1.x facilitator), as a facilitator
// client reads them, and checks what re-encoding gives.
func TestGoldenFacilitatorResponses(t *testing.T) {
	tests := []struct {
		file string
		into func() any
		// reencoded is the expected re-encoding when it is not the
		// fixture itself.
		reencoded string
		check     func(t *testing.T, v any)
	}{
		{"v2_verify_response_valid.json", func() any { return new(x402.VerifyResponse) }, "", func(t *testing.T, v any) {
			r := v.(*x402.VerifyResponse)
			if !r.IsValid || r.Payer != "0x857b06519E91e3A54538791bDbb0E22373e36b66" || r.InvalidReason != "" {
				t.Errorf("%+v", r)
			}
		}},
		{"v2_verify_response_invalid.json", func() any { return new(x402.VerifyResponse) }, "", func(t *testing.T, v any) {
			r := v.(*x402.VerifyResponse)
			if r.IsValid || r.InvalidReason != x402.ReasonExactEVMSimulationFailed || r.InvalidMessage == "" {
				t.Errorf("%+v", r)
			}
		}},
		{"v1_verify_response_invalid.json", func() any { return new(x402.VerifyResponse) }, "", func(t *testing.T, v any) {
			r := v.(*x402.VerifyResponse)
			if r.IsValid || r.InvalidReason != x402.ReasonExactEVMAuthorizationValue {
				t.Errorf("%+v", r)
			}
		}},
		{"v2_supported.json", func() any { return new(x402.SupportedResponse) }, "", func(t *testing.T, v any) {
			r := v.(*x402.SupportedResponse)
			if len(r.Kinds) != 3 || r.Kinds[0].X402Version != 2 || r.Kinds[2].Network != "base-sepolia" ||
				len(r.Signers["eip155:*"]) != 1 || r.Extensions == nil {
				t.Errorf("%+v", r)
			}
			if a, _ := r.Kinds[1].Extra.StringField("facilitatorAddress"); a == "" {
				t.Errorf("kind extra lost: %s", r.Kinds[1].Extra)
			}
		}},
		// A v1 facilitator sends only kinds; go402 re-encodes the absent
		// fields as [] and {}, never null, which the reference's schema
		// would refuse.
		{"v1_supported.json", func() any { return new(x402.SupportedResponse) },
			`{"kinds":[{"x402Version":1,"scheme":"exact","network":"base-sepolia"},{"x402Version":1,"scheme":"exact","network":"base"}],"extensions":[],"signers":{}}`,
			func(t *testing.T, v any) {
				r := v.(*x402.SupportedResponse)
				if len(r.Kinds) != 2 || r.Kinds[1].Network != "base" || r.Kinds[0].X402Version != 1 {
					t.Errorf("%+v", r)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readGolden(t, tt.file)
			v := tt.into()
			if err := json.Unmarshal(body, v); err != nil {
				t.Fatal(err)
			}
			tt.check(t, v)
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			want := body
			if tt.reencoded != "" {
				want = []byte(tt.reencoded)
			}
			if !jsonEqual(t, out, want) {
				t.Errorf("re-encoding differs\n got: %s\nwant: %s", out, want)
			}
			// Decoding the re-encoding gives the same value.
			again := tt.into()
			if err := json.Unmarshal(out, again); err != nil {
				t.Fatal(err)
			}
			if tt.reencoded == "" && !reflect.DeepEqual(v, again) {
				t.Errorf("round trip changed the value:\n%#v\n%#v", v, again)
			}
		})
	}
}
