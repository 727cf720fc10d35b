package evm

import (
	"math/big"
	"math/bits"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// The verify hot path decodes the canonical wire form of an "exact" payload
// without allocating. Only the plain form that every client sends is taken:
// one "signature" and one "authorization" object holding exactly from, to,
// value, validAfter, validBefore and nonce, every value a string without
// escapes. Anything else (other keys, escapes, other types, a malformed
// value) goes to the strict general decoder (decodeExactPayload,
// decodeAuthorization, ParseSignature), which also produces the errors.
// Whatever the fast path accepts, the general decoder decodes to the same
// values: FuzzFastExactMatchesGeneral checks it.

// authStore holds a decoded authorization and the storage of its integers,
// so that one allocation carries a whole verified payment.
type authStore struct {
	auth                    Authorization
	value, after, before    big.Int
	valueW, afterW, beforeW [4]big.Word
}

// decodeFast decodes the canonical payload into st and returns the
// signature. ok is false if the payload is not in the canonical form or a
// value does not parse.
func decodeFast(b []byte, st *authStore) (sig Signature, ok bool) {
	f, ok := scanCanonical(b)
	if !ok {
		return sig, false
	}
	a := &st.auth
	var ok1, ok2, ok3 bool
	if a.From, ok1 = hexAddress(f.from); !ok1 {
		return sig, false
	}
	if a.To, ok1 = hexAddress(f.to); !ok1 {
		return sig, false
	}
	var value, after, before x402.Amount
	err1 := value.UnmarshalText(f.value)
	err2 := after.UnmarshalText(f.after)
	err3 := before.UnmarshalText(f.before)
	if err1 != nil || err2 != nil || err3 != nil {
		return sig, false
	}
	a.Value, ok1 = setAmount(&st.value, &st.valueW, value)
	a.ValidAfter, ok2 = setAmount(&st.after, &st.afterW, after)
	a.ValidBefore, ok3 = setAmount(&st.before, &st.beforeW, before)
	if !ok1 || !ok2 || !ok3 {
		return sig, false
	}
	if !hexFixed(f.nonce, a.Nonce[:], true) {
		return sig, false
	}
	sig, err := parseSignature(f.sig)
	return sig, err == nil
}

// canonicalFields are the raw values of a canonical exact payload.
type canonicalFields struct{ sig, from, to, value, after, before, nonce []byte }

// scanCanonical finds the values of a payload in the canonical form: one
// "signature" string and one "authorization" object with exactly the six
// fields, each a string without escapes.
func scanCanonical(b []byte) (f canonicalFields, ok bool) {
	p := jsonScan{b: b}
	var haveSig, haveAuth bool
	if !p.open() {
		return f, false
	}
	for more := p.firstMember(); more; more = p.nextMember() {
		key, ok := p.key()
		if !ok {
			return f, false
		}
		switch {
		case string(key) == "signature" && !haveSig:
			haveSig = true
			if f.sig, ok = p.str(); !ok {
				return f, false
			}
		case string(key) == "authorization" && !haveAuth:
			haveAuth = true
			if !p.open() {
				return f, false
			}
			seen := 0
			for more := p.firstMember(); more; more = p.nextMember() {
				key, ok := p.key()
				if !ok {
					return f, false
				}
				var dst *[]byte
				var bit int
				switch string(key) {
				case "from":
					dst, bit = &f.from, 1
				case "to":
					dst, bit = &f.to, 2
				case "value":
					dst, bit = &f.value, 4
				case "validAfter":
					dst, bit = &f.after, 8
				case "validBefore":
					dst, bit = &f.before, 16
				case "nonce":
					dst, bit = &f.nonce, 32
				default:
					return f, false
				}
				if seen&bit != 0 {
					return f, false
				}
				seen |= bit
				if *dst, ok = p.str(); !ok {
					return f, false
				}
			}
			if p.bad || seen != 63 {
				return f, false
			}
		default:
			return f, false
		}
	}
	return f, !p.bad && p.end() && haveSig && haveAuth
}

// setAmount makes z the value a, backed by buf. It reports false on
// platforms whose big.Word is not 64 bits (the caller then decodes the
// general way).
func setAmount(z *big.Int, buf *[4]big.Word, a x402.Amount) (*big.Int, bool) {
	if bits.UintSize != 64 {
		return nil, false
	}
	w := a.Words()
	n := len(w)
	for n > 0 && w[n-1] == 0 {
		n--
	}
	for i := range n {
		buf[i] = big.Word(w[i])
	}
	return z.SetBits(buf[:n]), true
}

// hexAddress parses a 20-byte address: "0x" or "0X" and 40 hex digits of
// either case. It does not allocate.
func hexAddress[T string | []byte](s T) (common.Address, bool) {
	var a common.Address
	return a, hexFixed(s, a[:], true)
}

// hexFixed decodes s, which must be a "0x" or "0X" prefix (if prefix) and
// exactly 2*len(dst) hex digits of either case, into dst.
func hexFixed[T string | []byte](s T, dst []byte, prefix bool) bool {
	if prefix {
		if len(s) < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
			return false
		}
		s = s[2:]
	}
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHexDigit(s[2*i])
		lo, ok2 := fromHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// jsonScan reads the few JSON shapes decodeFast takes. Any surprise sets bad
// or returns false; it never reports an error, the general decoder does.
type jsonScan struct {
	b   []byte
	i   int
	bad bool
}

func (p *jsonScan) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// open consumes '{'.
func (p *jsonScan) open() bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '{' {
		p.i++
		return true
	}
	return false
}

// firstMember reports whether the object just opened has a member (false
// after consuming '}').
func (p *jsonScan) firstMember() bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return false
	}
	return true
}

// nextMember consumes ',' (true) or '}' (false); anything else is bad.
func (p *jsonScan) nextMember() bool {
	p.ws()
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case ',':
			p.i++
			return true
		case '}':
			p.i++
			return false
		}
	}
	p.bad = true
	return false
}

// key reads a member name and the ':' after it.
func (p *jsonScan) key() ([]byte, bool) {
	k, ok := p.str()
	if !ok {
		return nil, false
	}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ':' {
		p.i++
		return k, true
	}
	return nil, false
}

// str reads a string of printable ASCII without escapes and returns its
// contents.
func (p *jsonScan) str() ([]byte, bool) {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			return p.b[start:j], true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
	}
	return nil, false
}

// end reports whether only whitespace is left.
func (p *jsonScan) end() bool {
	p.ws()
	return p.i == len(p.b)
}
