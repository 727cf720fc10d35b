package x402

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPrice is wrapped by every price parsing and conversion error.
var ErrInvalidPrice = errors.New("x402: invalid price")

// maxPriceLen bounds the length of a price string.
const maxPriceLen = 128

// Price is a human-readable price such as "$0.001", "0.001" or "0.25 USDC",
// held as an exact decimal: it is never converted through a float.
//
// Use [Price.Atomic] to turn it into an [Amount] for an asset's decimals.
type Price struct {
	whole string // integer digits, no leading zeros ("0" for zero)
	frac  string // fraction digits, no trailing zeros
	// Unit is the denomination: "USD" for a leading "$", the symbol after the
	// number ("USDC" in "0.25 USDC"), or "" for a bare number.
	Unit string
}

// ParsePrice parses a price. Accepted forms are a decimal number with an
// optional leading "$" ("$0.001", "0.001", "5", ".5") or followed by a space
// and an asset symbol ("0.25 USDC"). Signs, exponents, thousands separators
// and a "$" combined with a symbol are rejected.
func ParsePrice(s string) (Price, error) {
	if len(s) > maxPriceLen {
		return Price{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidPrice, maxPriceLen)
	}
	orig := s
	s = strings.TrimSpace(s)
	var p Price
	if rest, ok := strings.CutPrefix(s, "$"); ok {
		p.Unit = "USD"
		s = rest
	}
	num, unit, hasUnit := strings.Cut(s, " ")
	if hasUnit {
		unit = strings.TrimSpace(unit)
		if p.Unit != "" {
			return Price{}, fmt.Errorf("%w: %s: use either \"$\" or an asset symbol, not both", ErrInvalidPrice, quoteShort(orig))
		}
		if !validSymbol(unit) {
			return Price{}, fmt.Errorf("%w: %s: asset symbol must be 1-16 letters or digits starting with a letter", ErrInvalidPrice, quoteShort(orig))
		}
		p.Unit = unit
	}
	whole, frac, _ := strings.Cut(num, ".")
	if !allDigits(whole) || !allDigits(frac) || (whole == "" && frac == "") {
		return Price{}, fmt.Errorf("%w: %s: want a non-negative decimal number such as \"$0.001\" or \"0.25 USDC\"", ErrInvalidPrice, quoteShort(orig))
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	p.whole = whole
	p.frac = strings.TrimRight(frac, "0")
	return p, nil
}

// IsZero reports whether the price is zero.
func (p Price) IsZero() bool { return (p.whole == "" || p.whole == "0") && p.frac == "" }

// Decimals returns the number of significant fraction digits.
func (p Price) Decimals() int { return len(p.frac) }

// Atomic converts the price to atomic units of an asset with the given
// decimals. A price with more fraction digits than the asset has is an error,
// never a rounding: "$0.0000001" is not payable in a 6-decimal token.
func (p Price) Atomic(decimals uint8) (Amount, error) {
	if len(p.frac) > int(decimals) {
		return Amount{}, fmt.Errorf("%w: %s has %d decimal places but the asset has only %d", ErrInvalidPrice, p, len(p.frac), decimals)
	}
	whole := p.whole
	if whole == "" {
		whole = "0"
	}
	digits := whole + p.frac + strings.Repeat("0", int(decimals)-len(p.frac))
	a, err := ParseAmount(digits)
	if err != nil {
		return Amount{}, fmt.Errorf("%w: %s is too large", ErrInvalidPrice, p)
	}
	return a, nil
}

// String renders the price in a canonical form ("$0.001", "0.25 USDC").
func (p Price) String() string {
	n := p.whole
	if n == "" {
		n = "0"
	}
	if p.frac != "" {
		n += "." + p.frac
	}
	switch p.Unit {
	case "":
		return n
	case "USD":
		return "$" + n
	default:
		return n + " " + p.Unit
	}
}

// MarshalText renders the price with [Price.String].
func (p Price) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses the price with [ParsePrice].
func (p *Price) UnmarshalText(b []byte) error {
	v, err := ParsePrice(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validSymbol(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if i == 0 && !letter {
			return false
		}
		if !letter && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
