package x402_test

import (
	"errors"
	"testing"

	"github.com/go402/go402/x402"
)

func TestParsePrice(t *testing.T) {
	tests := []struct {
		in       string
		decimals uint8
		atomic   string // "" means ParsePrice or Atomic must fail
		unit     string
		canon    string
	}{
		{"$0.001", 6, "1000", "USD", "$0.001"},
		{"0.001", 6, "1000", "", "0.001"},
		{"0.25 USDC", 6, "250000", "USDC", "0.25 USDC"},
		{"$1", 6, "1000000", "USD", "$1"},
		{"$1.50", 6, "1500000", "USD", "$1.5"},
		{"$.5", 6, "500000", "USD", "$0.5"},
		{"5.", 6, "5000000", "", "5"},
		{"$0", 6, "0", "USD", "$0"},
		{"$0.000001", 6, "1", "USD", "$0.000001"},
		{"$0.0000010", 6, "1", "USD", "$0.000001"},
		{"  $0.01  ", 6, "10000", "USD", "$0.01"},
		{"0.1 USDT0", 6, "100000", "USDT0", "0.1 USDT0"},
		{"1.000000000000000001", 18, "1000000000000000001", "", "1.000000000000000001"},
		{"$0.0000001", 6, "", "", ""}, // more precision than the asset
		{"$0.1", 0, "", "", ""},
		{"", 6, "", "", ""},
		{"$", 6, "", "", ""},
		{".", 6, "", "", ""},
		{"-$1", 6, "", "", ""},
		{"$-1", 6, "", "", ""},
		{"+1", 6, "", "", ""},
		{"1e-3", 6, "", "", ""},
		{"1,000", 6, "", "", ""},
		{"1.2.3", 6, "", "", ""},
		{"$0.25 USDC", 6, "", "", ""},
		{"0.25 US DC", 6, "", "", ""},
		{"0.25 1USDC", 6, "", "", ""},
		{"NaN", 6, "", "", ""},
		{"Inf", 6, "", "", ""},
		{"0x10", 6, "", "", ""},
		{"1000000000000000000000000000000000000000000000000000000000000000000000000000000", 6, "", "", ""},
	}
	for _, tt := range tests {
		p, err := x402.ParsePrice(tt.in)
		if err == nil {
			var a x402.Amount
			a, err = p.Atomic(tt.decimals)
			if err == nil {
				if tt.atomic == "" {
					t.Errorf("%q: accepted as %s atomic", tt.in, a)
					continue
				}
				if a.String() != tt.atomic || p.Unit != tt.unit || p.String() != tt.canon {
					t.Errorf("%q: got %s %q %q, want %s %q %q", tt.in, a, p.Unit, p.String(), tt.atomic, tt.unit, tt.canon)
				}
				continue
			}
		}
		if tt.atomic != "" {
			t.Errorf("%q: unexpected error %v", tt.in, err)
		} else if !errors.Is(err, x402.ErrInvalidPrice) {
			t.Errorf("%q: error %v does not wrap ErrInvalidPrice", tt.in, err)
		}
	}
}

func TestPriceText(t *testing.T) {
	var p x402.Price
	if err := p.UnmarshalText([]byte("$0.001")); err != nil {
		t.Fatal(err)
	}
	b, _ := p.MarshalText()
	if string(b) != "$0.001" || p.IsZero() || p.Decimals() != 3 {
		t.Errorf("%s %v %d", b, p.IsZero(), p.Decimals())
	}
	if err := p.UnmarshalText([]byte("1e3")); err == nil {
		t.Error("1e3 accepted")
	}
}
