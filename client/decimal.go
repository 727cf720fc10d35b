package client

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/go402/go402/x402"
)

// decimal is an exact non-negative decimal number of whole asset units,
// n / 10^scale. Money is never converted through a float: amounts of
// assets with different decimals are added and compared exactly.
//
// The zero value is 0.
type decimal struct {
	n     *big.Int // nil means 0
	scale int
}

// maxDecimalLen bounds the text of a decimal read from a budget file.
const maxDecimalLen = 200

var errBadDecimal = errors.New("not a non-negative decimal number")

// wholeUnits returns an atomic amount in whole units of an asset with the
// given decimals.
func wholeUnits(a x402.Amount, decimals uint8) decimal {
	return decimal{n: a.Big(), scale: int(decimals)}
}

// parseDecimal parses digits with an optional fraction ("12", "0.001").
func parseDecimal(s string) (decimal, error) {
	if s == "" || len(s) > maxDecimalLen {
		return decimal{}, errBadDecimal
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return decimal{}, errBadDecimal
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return decimal{}, errBadDecimal
			}
		}
	}
	n, ok := new(big.Int).SetString("0"+whole+frac, 10)
	if !ok {
		return decimal{}, errBadDecimal
	}
	return decimal{n: n, scale: len(frac)}, nil
}

// decimalFromPrice returns the number of a price, ignoring its unit.
func decimalFromPrice(p x402.Price) decimal {
	p.Unit = ""
	d, err := parseDecimal(p.String())
	if err != nil {
		panic("client: x402.Price rendered an unparsable number") // unreachable: Price.String without a unit is digits and a point
	}
	return d
}

func (d decimal) int() *big.Int {
	if d.n == nil {
		return new(big.Int)
	}
	return d.n
}

// aligned returns the unscaled values of d and e at their common scale.
func (d decimal) aligned(e decimal) (*big.Int, *big.Int, int) {
	a, b := new(big.Int).Set(d.int()), new(big.Int).Set(e.int())
	switch {
	case d.scale < e.scale:
		a.Mul(a, pow10(e.scale-d.scale))
		return a, b, e.scale
	case d.scale > e.scale:
		b.Mul(b, pow10(d.scale-e.scale))
	}
	return a, b, d.scale
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// Cmp returns -1, 0 or +1 as d is less than, equal to or greater than e.
func (d decimal) Cmp(e decimal) int {
	a, b, _ := d.aligned(e)
	return a.Cmp(b)
}

// Add returns d+e.
func (d decimal) Add(e decimal) decimal {
	a, b, s := d.aligned(e)
	return decimal{n: a.Add(a, b), scale: s}.normal()
}

// Sub returns d-e, or 0 if e > d.
func (d decimal) Sub(e decimal) decimal {
	a, b, s := d.aligned(e)
	if a.Cmp(b) <= 0 {
		return decimal{}
	}
	return decimal{n: a.Sub(a, b), scale: s}.normal()
}

// normal drops trailing zero fraction digits, so that scales stay small.
func (d decimal) normal() decimal {
	if d.n == nil || d.n.Sign() == 0 {
		return decimal{}
	}
	ten, q, r := big.NewInt(10), new(big.Int), new(big.Int)
	n := new(big.Int).Set(d.n)
	for d.scale > 0 {
		q.QuoRem(n, ten, r)
		if r.Sign() != 0 {
			break
		}
		n.Set(q)
		d.scale--
	}
	return decimal{n: n, scale: d.scale}
}

// String renders d without trailing zeros: "0.0015", "3".
func (d decimal) String() string {
	s := d.int().String()
	if d.scale == 0 {
		return s
	}
	if len(s) <= d.scale {
		s = strings.Repeat("0", d.scale-len(s)+1) + s
	}
	whole, frac := s[:len(s)-d.scale], strings.TrimRight(s[len(s)-d.scale:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// MarshalText renders d with String.
func (d decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses d with parseDecimal.
func (d *decimal) UnmarshalText(b []byte) error {
	v, err := parseDecimal(string(b))
	if err != nil {
		return fmt.Errorf("amount in budget file: %w", err)
	}
	*d = v.normal()
	return nil
}
