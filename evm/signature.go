package evm

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// SignatureLength is the length in bytes of an EOA signature r ‖ s ‖ v.
const SignatureLength = 65

// The secp256k1 group order n and ⌊n/2⌋ as 32-byte big-endian strings. Equal
// length big-endian byte strings compare like the numbers they encode.
const (
	secp256k1N     = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xba\xae\xdc\xe6\xaf\x48\xa0\x3b\xbf\xd2\x5e\x8c\xd0\x36\x41\x41"
	secp256k1HalfN = "\x7f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x5d\x57\x6e\x73\x57\xa4\x50\x1d\xdf\xe9\x2f\x46\x68\x1b\x20\xa0"
	zero32         = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
)

// ErrInvalidSignature is wrapped by every error this package returns for a
// malformed or unacceptable signature, together with one of the more
// specific errors below, so that both errors.Is(err, ErrInvalidSignature) and
// for example errors.Is(err, ErrSignatureHighS) hold.
var ErrInvalidSignature = errors.New("evm: invalid signature")

// Specific signature errors, each wrapped together with [ErrInvalidSignature].
var (
	// ErrSignatureLength: the signature is not 65 bytes (130 hex digits).
	// Contract-wallet signatures (ERC-1271, ERC-6492) end up here.
	ErrSignatureLength = errors.New("signature is not 65 bytes")
	// ErrSignatureEncoding: the signature string is not hexadecimal.
	ErrSignatureEncoding = errors.New("signature is not hexadecimal")
	// ErrSignatureV: v is not one of 27, 28, 0, 1.
	ErrSignatureV = errors.New("signature v is not 27 or 28")
	// ErrSignatureZeroR: r is 0.
	ErrSignatureZeroR = errors.New("signature r is zero")
	// ErrSignatureZeroS: s is 0.
	ErrSignatureZeroS = errors.New("signature s is zero")
	// ErrSignatureROutOfRange: r is not below the secp256k1 group order n.
	ErrSignatureROutOfRange = errors.New("signature r is not below the curve order")
	// ErrSignatureSOutOfRange: s is not below the secp256k1 group order n.
	ErrSignatureSOutOfRange = errors.New("signature s is not below the curve order")
	// ErrSignatureHighS: s is above n/2. Such a signature is the malleated
	// twin of a valid low-s one; EIP-2 and token contracts such as USDC
	// reject it.
	ErrSignatureHighS = errors.New("signature s is above n/2 (EIP-2 malleability)")
	// ErrSignatureRecovery: no public key can be recovered, for example
	// because r is not the x coordinate of a curve point.
	ErrSignatureRecovery = errors.New("signature does not recover a public key")
)

func invalidSignature(kind error, detail string) error {
	if detail == "" {
		return fmt.Errorf("%w: %w", ErrInvalidSignature, kind)
	}
	return fmt.Errorf("%w: %w: %s", ErrInvalidSignature, kind, detail)
}

// Signature is a 65-byte EOA signature r ‖ s ‖ v in the form x402 payloads
// carry and EIP-3009 contracts take apart into (v, r, s).
//
// A Signature obtained from [ParseSignature], [SignatureFromBytes] or a
// [Signer] through [SignAuthorization] is canonical: 0 < r < n,
// 0 < s ≤ n/2 and v ∈ {27, 28}. [RecoverSigner] checks this again, so a
// Signature built by hand is safe to pass to it.
type Signature [SignatureLength]byte

// ParseSignature parses a signature from hexadecimal, with or without a "0x"
// or "0X" prefix, in either letter case. It accepts exactly 130 hex digits
// and validates the result like [SignatureFromBytes].
func ParseSignature(s string) (Signature, error) { return parseSignature(s) }

func parseSignature[T string | []byte](s T) (Signature, error) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	var sig Signature
	if len(s) != 2*SignatureLength {
		return sig, invalidSignature(ErrSignatureLength, fmt.Sprintf("got %d hex digits, want %d", len(s), 2*SignatureLength))
	}
	for i := range sig {
		hi, ok1 := fromHexDigit(s[2*i])
		lo, ok2 := fromHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return Signature{}, invalidSignature(ErrSignatureEncoding, "")
		}
		sig[i] = hi<<4 | lo
	}
	if err := sig.normalize(); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

func fromHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// SignatureFromBytes validates a 65-byte r ‖ s ‖ v signature and returns it
// in canonical form.
//
// v may be 27 or 28, as Ethereum wallets and ecrecover use, or 0 or 1, the
// raw recovery id some signing libraries and hardware wallets return; 0 and 1
// are normalised to 27 and 28, which is unambiguous and what the contract
// call needs. Any other v, including EIP-155 transaction-style values, is
// rejected with [ErrSignatureV]. r and s must be in [1, n-1], and s must be
// at most n/2 ([ErrSignatureHighS]): the contract would reject the high-s
// twin, so accepting it would only fail later, on chain.
func SignatureFromBytes(b []byte) (Signature, error) {
	var sig Signature
	if len(b) != SignatureLength {
		return sig, invalidSignature(ErrSignatureLength, fmt.Sprintf("got %d bytes", len(b)))
	}
	copy(sig[:], b)
	if err := sig.normalize(); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

// normalize maps v to 27/28 and checks the ranges of r and s.
func (sig *Signature) normalize() error {
	switch sig[64] {
	case 27, 28:
	case 0, 1:
		sig[64] += 27
	default:
		return invalidSignature(ErrSignatureV, fmt.Sprintf("v = %d", sig[64]))
	}
	return sig.checkRS()
}

func (sig *Signature) checkRS() error {
	r, s := string(sig[0:32]), string(sig[32:64])
	switch {
	case r == zero32:
		return invalidSignature(ErrSignatureZeroR, "")
	case r >= secp256k1N:
		return invalidSignature(ErrSignatureROutOfRange, "")
	case s == zero32:
		return invalidSignature(ErrSignatureZeroS, "")
	case s >= secp256k1N:
		return invalidSignature(ErrSignatureSOutOfRange, "")
	case s > secp256k1HalfN:
		return invalidSignature(ErrSignatureHighS, "")
	}
	return nil
}

// R returns the r component.
func (sig Signature) R() [32]byte { return [32]byte(sig[0:32]) }

// S returns the s component.
func (sig Signature) S() [32]byte { return [32]byte(sig[32:64]) }

// V returns the v component, 27 or 28 for a canonical signature.
func (sig Signature) V() uint8 { return sig[64] }

// Bytes returns a copy of the 65 bytes r ‖ s ‖ v.
func (sig Signature) Bytes() []byte { return sig[:] }

// Hex returns the signature as "0x" followed by 130 lower-case hex digits,
// the x402 wire form.
func (sig Signature) Hex() string {
	var buf [2 + 2*SignatureLength]byte
	buf[0], buf[1] = '0', 'x'
	hex.Encode(buf[2:], sig[:])
	return string(buf[:])
}

// String returns [Signature.Hex].
func (sig Signature) String() string { return sig.Hex() }

// MarshalText encodes the signature as [Signature.Hex].
func (sig Signature) MarshalText() ([]byte, error) { return []byte(sig.Hex()), nil }

// UnmarshalText parses the signature with [ParseSignature].
func (sig *Signature) UnmarshalText(b []byte) error {
	s, err := ParseSignature(string(b))
	if err != nil {
		return err
	}
	*sig = s
	return nil
}

// RecoverSigner returns the address whose key produced sig over digest. It
// first checks that sig is canonical (see [SignatureFromBytes]; v must
// already be 27 or 28 here), so the address it returns is the one an EIP-2
// conforming contract such as USDC would recover. Recovery uses go-ethereum's
// crypto.Ecrecover, which is libsecp256k1 when cgo is enabled.
//
// Errors wrap [ErrInvalidSignature].
func RecoverSigner(digest common.Hash, sig Signature) (common.Address, error) {
	if v := sig[64]; v != 27 && v != 28 {
		return common.Address{}, invalidSignature(ErrSignatureV, fmt.Sprintf("v = %d", v))
	}
	if err := sig.checkRS(); err != nil {
		return common.Address{}, err
	}
	// One buffer for both inputs: cgo makes them escape, so this saves an
	// allocation over passing digest and sig separately.
	in := new([32 + SignatureLength]byte)
	copy(in[:32], digest[:])
	copy(in[32:], sig[:])
	in[32+64] -= 27 // Ecrecover wants the recovery id 0 or 1
	pub, err := crypto.Ecrecover(in[:32], in[32:])
	if err != nil {
		return common.Address{}, invalidSignature(ErrSignatureRecovery, err.Error())
	}
	if len(pub) != 65 || pub[0] != 4 {
		return common.Address{}, invalidSignature(ErrSignatureRecovery, "unexpected public key encoding")
	}
	kh := crypto.NewKeccakState()
	kh.Write(pub[1:])
	kh.Read(in[:32]) // the address is the last 20 bytes of keccak256(X ‖ Y)
	return common.Address(in[12:32]), nil
}
