package x402_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

func TestParsePaymentIdentifier(t *testing.T) {
	valid := "pay_7d5d747be160e280504c099d984bcfe0"
	tests := []struct {
		name string
		exts string
		want x402.PaymentIdentifier
		err  x402.Reason
	}{
		{"null", ``, x402.PaymentIdentifier{}, ""},
		{"absent", `{"bazaar":{}}`, x402.PaymentIdentifier{}, ""},
		{"declared optional", `{"payment-identifier":{"info":{"required":false}}}`, x402.PaymentIdentifier{Declared: true}, ""},
		{"declared required", `{"payment-identifier":{"info":{"required":true}}}`, x402.PaymentIdentifier{Declared: true, Required: true}, ""},
		{"with id", `{"payment-identifier":{"info":{"required":false,"id":"` + valid + `"}}}`, x402.PaymentIdentifier{Declared: true, ID: valid}, ""},
		{"16 chars", `{"payment-identifier":{"info":{"id":"abcdefghij012345"}}}`, x402.PaymentIdentifier{Declared: true, ID: "abcdefghij012345"}, ""},
		{"128 chars", `{"payment-identifier":{"info":{"id":"` + strings.Repeat("a", 128) + `"}}}`, x402.PaymentIdentifier{Declared: true, ID: strings.Repeat("a", 128)}, ""},
		{"15 chars", `{"payment-identifier":{"info":{"id":"abcdefghij01234"}}}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
		{"129 chars", `{"payment-identifier":{"info":{"id":"` + strings.Repeat("a", 129) + `"}}}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
		{"bad char", `{"payment-identifier":{"info":{"id":"abcdefghij01234!"}}}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
		{"non-ascii", `{"payment-identifier":{"info":{"id":"abcdefghij01234é"}}}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
		{"id not string", `{"payment-identifier":{"info":{"id":12345678901234567}}}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
		{"required not bool", `{"payment-identifier":{"info":{"required":"yes"}}}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
		{"no info", `{"payment-identifier":{}}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
		{"not object", `{"payment-identifier":"x"}`, x402.PaymentIdentifier{}, x402.ReasonInvalidPaymentID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := x402.ParsePaymentIdentifier(x402.Object(tt.exts))
			if tt.err != "" {
				var xe *x402.Error
				if !errors.As(err, &xe) || xe.Reason != tt.err {
					t.Fatalf("err = %v, want reason %s", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestWithPaymentID(t *testing.T) {
	id := x402.NewPaymentID()
	if !x402.ValidPaymentID(id) || len(id) != 36 {
		t.Fatalf("NewPaymentID() = %q", id)
	}
	if id == x402.NewPaymentID() {
		t.Fatal("two ids are equal")
	}
	decl := x402.Object(`{"bazaar":{"info":{}},"payment-identifier":` + string(x402.DeclarePaymentIdentifier(true)) + `}`)
	out, err := x402.WithPaymentID(decl, id)
	if err != nil {
		t.Fatal(err)
	}
	p, err := x402.ParsePaymentIdentifier(out)
	if err != nil || p != (x402.PaymentIdentifier{Declared: true, Required: true, ID: id}) {
		t.Fatalf("parsed %+v, %v", p, err)
	}
	if _, ok := out.Field("bazaar"); !ok {
		t.Fatal("other extensions dropped")
	}
	raw, _ := out.Field(x402.ExtensionPaymentIdentifier)
	if !strings.Contains(string(raw), `"schema"`) {
		t.Fatalf("schema not echoed: %s", raw)
	}
	// Not declared: unchanged.
	plain := x402.Object(`{"bazaar":{}}`)
	if out, err := x402.WithPaymentID(plain, id); err != nil || string(out) != string(plain) {
		t.Fatalf("undeclared: %s, %v", out, err)
	}
	if _, err := x402.WithPaymentID(decl, "short"); x402.ReasonOf(err) != x402.ReasonInvalidPaymentID {
		t.Fatalf("short id: %v", err)
	}
}

// FuzzParsePaymentIdentifier: no panic; a failure is an *x402.Error with
// the extension's reason; an id parsed is valid, and setting it again
// yields the same parse.
func FuzzParsePaymentIdentifier(f *testing.F) {
	f.Add(`{"payment-identifier":{"info":{"required":true,"id":"pay_0123456789abcdef"}}}`)
	f.Add(`{"payment-identifier":{"info":{"required":false}},"bazaar":{}}`)
	f.Add(`{"payment-identifier":null}`)
	f.Add(`{"payment-identifier":{"info":{"id":"` + strings.Repeat("z", 129) + `"}}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := x402.ParsePaymentIdentifier(x402.Object(s))
		if err != nil {
			if x402.ReasonOf(err) != x402.ReasonInvalidPaymentID {
				t.Fatalf("error without the reason: %v", err)
			}
			return
		}
		if p.ID != "" && !x402.ValidPaymentID(p.ID) {
			t.Fatalf("invalid id accepted: %q", p.ID)
		}
		if !p.Declared {
			return
		}
		id := x402.NewPaymentID()
		out, err := x402.WithPaymentID(x402.Object(s), id)
		if err != nil {
			t.Fatalf("WithPaymentID: %v", err)
		}
		q, err := x402.ParsePaymentIdentifier(out)
		if err != nil || q.ID != id || q.Required != p.Required {
			t.Fatalf("round trip: %+v, %v (was %+v)", q, err, p)
		}
	})
}

func ExampleWithPaymentID() {
	// A 402 declared the extension; the client adds its id.
	declared := x402.Object(`{"payment-identifier":{"info":{"required":true}}}`)
	exts, _ := x402.WithPaymentID(declared, "pay_0123456789abcdef")
	p, _ := x402.ParsePaymentIdentifier(exts)
	fmt.Println(p.Required, p.ID)
	// Output: true pay_0123456789abcdef
}
