package x402

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
)

// ErrInvalidAmount is wrapped by every amount parsing error.
var ErrInvalidAmount = errors.New("x402: invalid amount")

// maxAmountDigits is the number of decimal digits of 2^256-1.
const maxAmountDigits = 78

// Amount is a non-negative integer count of an asset's atomic units (for USDC,
// 1 unit = 0.000001 USDC), bounded by 2^256-1 like an EVM uint256.
//
// On the wire an amount is a decimal string ("10000"). The zero value is 0.
// Amount is a comparable value type: == compares amounts exactly, and no
// arithmetic on it allocates.
type Amount struct {
	w [4]uint64 // little-endian 64-bit words
}

// NewAmount returns the amount v.
func NewAmount(v uint64) Amount { return Amount{w: [4]uint64{v}} }

// ParseAmount parses a decimal string of atomic units. It accepts only the
// digits 0-9: an empty string, a sign, spaces, a decimal point, an exponent or
// a hex prefix is an error, as is a value above 2^256-1. Leading zeros are
// accepted and dropped.
func ParseAmount(s string) (Amount, error) {
	a, ok := parseAmount(s)
	if !ok {
		return Amount{}, amountError(s)
	}
	return a, nil
}

func parseAmount[T string | []byte](s T) (Amount, bool) {
	if len(s) == 0 {
		return Amount{}, false
	}
	var a Amount
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Amount{}, false
		}
		var ok bool
		if a, ok = a.mulAdd(10, uint64(c-'0')); !ok {
			return Amount{}, false
		}
	}
	return a, true
}

// amountError says why s is not an amount.
func amountError(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty string", ErrInvalidAmount)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return fmt.Errorf("%w: %s: only decimal digits are allowed", ErrInvalidAmount, quoteShort(s))
		}
	}
	return fmt.Errorf("%w: %s exceeds 2^256-1", ErrInvalidAmount, quoteShort(s))
}

// Words returns the amount as four 64-bit words, least significant first.
func (a Amount) Words() [4]uint64 { return a.w }

// AmountFromBig converts a big.Int, which must be in [0, 2^256-1].
func AmountFromBig(b *big.Int) (Amount, error) {
	if b == nil || b.Sign() < 0 {
		return Amount{}, fmt.Errorf("%w: negative or nil", ErrInvalidAmount)
	}
	if b.BitLen() > 256 {
		return Amount{}, fmt.Errorf("%w: exceeds 2^256-1", ErrInvalidAmount)
	}
	var a Amount
	var buf [32]byte
	b.FillBytes(buf[:])
	for i := range 4 {
		off := 32 - 8*(i+1)
		for j := range 8 {
			a.w[i] = a.w[i]<<8 | uint64(buf[off+j])
		}
	}
	return a, nil
}

// Big returns the amount as a new big.Int.
func (a Amount) Big() *big.Int {
	var buf [32]byte
	for i := range 4 {
		off := 32 - 8*(i+1)
		for j := range 8 {
			buf[off+j] = byte(a.w[i] >> (56 - 8*j))
		}
	}
	return new(big.Int).SetBytes(buf[:])
}

// Uint64 returns the amount as a uint64 and whether it fits.
func (a Amount) Uint64() (uint64, bool) {
	return a.w[0], a.w[1] == 0 && a.w[2] == 0 && a.w[3] == 0
}

// IsZero reports whether the amount is 0.
func (a Amount) IsZero() bool { return a == Amount{} }

// Cmp returns -1, 0 or +1 as a is less than, equal to or greater than b.
func (a Amount) Cmp(b Amount) int {
	for i := 3; i >= 0; i-- {
		if a.w[i] != b.w[i] {
			if a.w[i] < b.w[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Add returns a+b and false if the sum overflows 2^256-1.
func (a Amount) Add(b Amount) (Amount, bool) {
	var r Amount
	var carry uint64
	for i := range 4 {
		r.w[i], carry = bits.Add64(a.w[i], b.w[i], carry)
	}
	return r, carry == 0
}

// Sub returns a-b and false if b > a.
func (a Amount) Sub(b Amount) (Amount, bool) {
	var r Amount
	var borrow uint64
	for i := range 4 {
		r.w[i], borrow = bits.Sub64(a.w[i], b.w[i], borrow)
	}
	return r, borrow == 0
}

// mulAdd returns a*m+add and false on overflow.
func (a Amount) mulAdd(m, add uint64) (Amount, bool) {
	var r Amount
	carry := add
	for i := range 4 {
		hi, lo := bits.Mul64(a.w[i], m)
		var c uint64
		r.w[i], c = bits.Add64(lo, carry, 0)
		carry = hi + c
	}
	return r, carry == 0
}

// divMod divides a by the non-zero d and returns the quotient and remainder.
func (a Amount) divMod(d uint64) (Amount, uint64) {
	var q Amount
	var rem uint64
	for i := 3; i >= 0; i-- {
		q.w[i], rem = bits.Div64(rem, a.w[i], d)
	}
	return q, rem
}

// String returns the amount as a decimal string of atomic units.
func (a Amount) String() string {
	if v, ok := a.Uint64(); ok {
		return strconv.FormatUint(v, 10)
	}
	var buf [maxAmountDigits]byte
	i := len(buf)
	const chunk = 10_000_000_000_000_000_000 // 10^19
	for {
		var r uint64
		a, r = a.divMod(chunk)
		if a.IsZero() {
			for r > 0 {
				i--
				buf[i] = byte('0' + r%10)
				r /= 10
			}
			return string(buf[i:])
		}
		for range 19 {
			i--
			buf[i] = byte('0' + r%10)
			r /= 10
		}
	}
}

// Format renders the amount in whole units of an asset with the given number
// of decimals, without trailing zeros: Format(6) of 1500 is "0.0015".
func (a Amount) Format(decimals uint8) string {
	s := a.String()
	d := int(decimals)
	if d == 0 {
		return s
	}
	if len(s) <= d {
		s = strings.Repeat("0", d-len(s)+1) + s
	}
	whole, frac := s[:len(s)-d], strings.TrimRight(s[len(s)-d:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// MarshalText encodes the amount as decimal digits.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses decimal digits as [ParseAmount] does. It does not
// allocate unless it fails.
func (a *Amount) UnmarshalText(b []byte) error {
	v, ok := parseAmount(b)
	if !ok {
		return amountError(string(b))
	}
	*a = v
	return nil
}

// UnmarshalJSON accepts only the wire form: a JSON string of decimal digits
// ("10000"). A bare JSON number, null or any other value is an error
// wrapping [ErrInvalidAmount], as in the reference implementation, whose
// schemas require amounts to be strings (a number would also lose precision
// in JavaScript above 2^53).
func (a *Amount) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return a.UnmarshalText(b[1 : len(b)-1])
	}
	return fmt.Errorf("%w: %s is not a JSON string of decimal digits", ErrInvalidAmount, quoteShort(string(b)))
}

// quoteShort quotes s for an error message, truncating long input.
func quoteShort(s string) string {
	const maxLen = 40
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "..."
	}
	return strconv.Quote(s)
}
