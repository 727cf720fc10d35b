package x402_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

const maxUint256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form; "" means an error is expected
	}{
		{"0", "0"},
		{"1", "1"},
		{"10000", "10000"},
		{"007", "7"},
		{"18446744073709551615", "18446744073709551615"},
		{"18446744073709551616", "18446744073709551616"},
		{"340282366920938463463374607431768211456", "340282366920938463463374607431768211456"},
		{maxUint256, maxUint256},
		{"0000" + maxUint256, maxUint256},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639936", ""}, // 2^256
		{"999999999999999999999999999999999999999999999999999999999999999999999999999999", ""},
		{"", ""},
		{"-1", ""},
		{"+1", ""},
		{" 1", ""},
		{"1 ", ""},
		{"1_000", ""},
		{"1.0", ""},
		{"1e3", ""},
		{"0x10", ""},
		{"١٢", ""}, // Arabic-Indic digits
	}
	for _, tt := range tests {
		got, err := x402.ParseAmount(tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, x402.ErrInvalidAmount) {
				t.Errorf("ParseAmount(%q) = %v, %v; want ErrInvalidAmount", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
		if got.Big().String() != tt.want {
			t.Errorf("Big(%q) = %s", tt.in, got.Big())
		}
	}
}

func TestAmountArithmetic(t *testing.T) {
	max, _ := x402.ParseAmount(maxUint256)
	one := x402.NewAmount(1)
	if _, ok := max.Add(one); ok {
		t.Error("max+1 did not report overflow")
	}
	if _, ok := x402.NewAmount(0).Sub(one); ok {
		t.Error("0-1 did not report underflow")
	}
	a, _ := x402.ParseAmount("18446744073709551615")
	sum, ok := a.Add(one)
	if !ok || sum.String() != "18446744073709551616" {
		t.Errorf("carry: %v %v", sum, ok)
	}
	diff, ok := sum.Sub(one)
	if !ok || diff != a {
		t.Errorf("borrow: %v %v", diff, ok)
	}
	if sum.Cmp(a) != 1 || a.Cmp(sum) != -1 || a.Cmp(a) != 0 {
		t.Error("Cmp")
	}
	if _, ok := sum.Uint64(); ok {
		t.Error("Uint64 of 2^64 reported fitting")
	}
	if !x402.NewAmount(0).IsZero() || one.IsZero() {
		t.Error("IsZero")
	}
}

func TestAmountFromBig(t *testing.T) {
	b, _ := new(big.Int).SetString(maxUint256, 10)
	a, err := x402.AmountFromBig(b)
	if err != nil || a.String() != maxUint256 {
		t.Fatalf("%v %v", a, err)
	}
	if _, err := x402.AmountFromBig(new(big.Int).Add(b, big.NewInt(1))); err == nil {
		t.Error("2^256 accepted")
	}
	if _, err := x402.AmountFromBig(big.NewInt(-1)); err == nil {
		t.Error("-1 accepted")
	}
	if _, err := x402.AmountFromBig(nil); err == nil {
		t.Error("nil accepted")
	}
}

func TestAmountFormat(t *testing.T) {
	tests := []struct {
		atomic   string
		decimals uint8
		want     string
	}{
		{"1000", 6, "0.001"},
		{"1500", 6, "0.0015"},
		{"1000000", 6, "1"},
		{"1234567", 6, "1.234567"},
		{"0", 6, "0"},
		{"5", 0, "5"},
		{"1", 18, "0.000000000000000001"},
	}
	for _, tt := range tests {
		a, _ := x402.ParseAmount(tt.atomic)
		if got := a.Format(tt.decimals); got != tt.want {
			t.Errorf("Format(%s, %d) = %s, want %s", tt.atomic, tt.decimals, got, tt.want)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	var v struct {
		A x402.Amount `json:"a"`
	}
	for in, want := range map[string]string{`{"a":"10000"}`: "10000", `{"a":"007"}`: "7"} {
		if err := json.Unmarshal([]byte(in), &v); err != nil || v.A.String() != want {
			t.Errorf("%s: %v %v", in, v.A, err)
		}
	}
	// Only the wire form is accepted: the reference's schemas require a
	// string, so a bare number (even an integer) is refused like the rest.
	for _, in := range []string{`{"a":42}`, `{"a":0}`, `{"a":"-1"}`, `{"a":1.5}`, `{"a":-1}`, `{"a":1e3}`, `{"a":null}`, `{"a":""}`,
		`{"a":"\u0031"}`, `{"a":true}`, `{"a":[1]}`, `{"a":{}}`, `{"a":"1 "}`, `{"a":"0x10"}`} {
		v.A = x402.NewAmount(99)
		err := json.Unmarshal([]byte(in), &v)
		if err == nil {
			t.Errorf("%s accepted as %v", in, v.A)
			continue
		}
		if !errors.Is(err, x402.ErrInvalidAmount) {
			t.Errorf("%s: error %v does not wrap ErrInvalidAmount", in, err)
		}
		if v.A != x402.NewAmount(99) {
			t.Errorf("%s: a refused amount changed the value to %v", in, v.A)
		}
	}
	out, _ := json.Marshal(struct {
		A x402.Amount `json:"a"`
	}{x402.NewAmount(7)})
	if string(out) != `{"a":"7"}` {
		t.Errorf("marshal: %s", out)
	}
}

func TestAmountStringMatchesBig(t *testing.T) {
	// Powers of ten and their neighbours cross every word boundary.
	p := big.NewInt(1)
	ten := big.NewInt(10)
	for i := 0; i < 78; i++ {
		for _, d := range []int64{-1, 0, 1} {
			v := new(big.Int).Add(p, big.NewInt(d))
			if v.Sign() < 0 {
				continue
			}
			a, err := x402.AmountFromBig(v)
			if err != nil {
				t.Fatal(err)
			}
			if a.String() != v.String() {
				t.Fatalf("String(%s) = %s", v, a)
			}
			if back, err := x402.ParseAmount(v.String()); err != nil || back != a {
				t.Fatalf("ParseAmount(%s) = %v, %v", v, back, err)
			}
		}
		p.Mul(p, ten)
	}
	if !strings.HasPrefix(p.String(), "1") {
		t.Fatal("unreachable")
	}
}
