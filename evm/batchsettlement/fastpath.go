package batchsettlement

import (
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// The per-request decode of a voucher payload, the form of all but a
// channel's first payment, takes a fast path: a scanner of the compact
// canonical form that @x402/evm and this package write, into one
// allocation. It takes only a top-level object with exactly the keys type
// ("voucher"), channelConfig and voucher; a channelConfig with exactly its
// seven keys; a voucher with exactly its three, a 65-byte signature among
// them; every key once and spelled exactly; strings without escapes; no
// white space; withdrawDelay digits without a leading zero. Anything else
// goes to the general decoder, which also produces the errors. Whatever the
// fast path accepts, the general decoder decodes to the same value:
// FuzzFastMatchesGeneral checks it.

// fastVoucher holds a decoded voucher payload and its signature's storage.
type fastVoucher struct {
	p   VoucherPayload
	sig [evm.SignatureLength]byte
}

// scanner reads compact JSON.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// uint reads a JSON integer of at most 13 digits, no leading zero.
func (s *scanner) uint() (uint64, bool) {
	start := s.i
	var n uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + uint64(s.b[s.i]-'0')
		s.i++
	}
	d := s.i - start
	if d == 0 || d > 13 || (d > 1 && s.b[start] == '0') {
		return 0, false
	}
	return n, true
}

// object reads an object whose keys are among keys, each at most once,
// calling value(k) with the key's index to read its value.
func (s *scanner) object(keys []string, value func(k int) bool) bool {
	if !s.eat('{') {
		return false
	}
	var seen uint32
	for n := 0; ; n++ {
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return false
		}
		k := -1
		for j, want := range keys {
			if string(key) == want {
				k = j
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 || !value(k) {
			return false
		}
		seen |= 1 << k
		if !s.eat(',') {
			break
		}
	}
	return seen == 1<<len(keys)-1 && s.eat('}')
}

// parseVoucherFast decodes the canonical form of a voucher payload.
func parseVoucherFast(b []byte) (*VoucherPayload, bool) {
	f := new(fastVoucher)
	s := scanner{b: b}
	keys := [...]string{"type", "channelConfig", "voucher"}
	ok := s.object(keys[:], func(k int) bool {
		switch k {
		case 0:
			t, ok := s.str()
			return ok && string(t) == TypeVoucher
		case 1:
			return s.config(&f.p.ChannelConfig)
		}
		return s.voucher(f)
	})
	if !ok || s.i != len(b) {
		return nil, false
	}
	return &f.p, true
}

func (s *scanner) config(c *ChannelConfig) bool {
	keys := [...]string{"payer", "payerAuthorizer", "receiver", "receiverAuthorizer", "token", "withdrawDelay", "salt"}
	return s.object(keys[:], func(k int) bool {
		if k == 5 {
			n, ok := s.uint()
			c.WithdrawDelay = n
			return ok && n <= maxUint40
		}
		v, ok := s.str()
		if !ok {
			return false
		}
		switch k {
		case 0:
			return hexFixed(v, c.Payer[:])
		case 1:
			return hexFixed(v, c.PayerAuthorizer[:])
		case 2:
			return hexFixed(v, c.Receiver[:])
		case 3:
			return hexFixed(v, c.ReceiverAuthorizer[:])
		case 4:
			return hexFixed(v, c.Token[:])
		}
		return hexFixed(v, c.Salt[:])
	})
}

func (s *scanner) voucher(f *fastVoucher) bool {
	vo := &f.p.Voucher
	keys := [...]string{"channelId", "maxClaimableAmount", "signature"}
	return s.object(keys[:], func(k int) bool {
		v, ok := s.str()
		if !ok {
			return false
		}
		switch k {
		case 0:
			return hexFixed(v, vo.ChannelID[:])
		case 1:
			var a x402.Amount
			if a.UnmarshalText(v) != nil || !fitsUint128(a) {
				return false
			}
			vo.MaxClaimableAmount = a
			return true
		}
		if !hexFixed(v, f.sig[:]) {
			return false
		}
		vo.Signature = f.sig[:]
		return true
	})
}
