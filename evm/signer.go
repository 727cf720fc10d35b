package evm

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Signer signs 32-byte digests with one secp256k1 key. It is the paying
// side's key: a local key ([PrivateKeySigner]) or a remote one (a KMS, an
// HSM, a wallet service).
//
// The interface is digest-based on purpose: every key store can sign a
// digest, and the EIP-712 digest of an EIP-3009 authorization is fully
// determined by the domain and the message, which this package hashes
// itself. A remote signer that must see the structured message (to display
// it, or to enforce a policy on amounts and recipients) implements
// [AuthorizationSigner] as well; [SignAuthorization] prefers it.
type Signer interface {
	// Address returns the address of the signing key.
	Address() common.Address
	// SignDigest signs digest as is (no prefix, no further hashing) and
	// returns the 65-byte signature r ‖ s ‖ v, v in {27, 28}. Implementations
	// must honour ctx for remote calls.
	SignDigest(ctx context.Context, digest common.Hash) ([]byte, error)
}

// AuthorizationSigner is a [Signer] that can sign an EIP-3009
// TransferWithAuthorization from its typed data, as eth_signTypedData_v4
// does, rather than from a bare digest. It must produce a signature over
// [TransferWithAuthorizationDigest] of the same domain and message;
// [SignAuthorization] verifies that it did.
type AuthorizationSigner interface {
	Signer
	SignTransferAuthorization(ctx context.Context, d Domain, a *Authorization) ([]byte, error)
}

// ErrSignerMismatch is wrapped when a signature or an authorization does not
// belong to the signer at hand.
var ErrSignerMismatch = errors.New("evm: signer mismatch")

// ErrInvalidPrivateKey is wrapped by private key parsing errors. Those errors
// never contain any part of the key.
var ErrInvalidPrivateKey = errors.New("evm: invalid private key")

// SignAuthorization signs the EIP-3009 authorization a in domain d with s and
// returns a canonical [Signature] that the token contract will accept.
//
// a.From must be s.Address(). If s implements [AuthorizationSigner] it signs
// the typed data, otherwise the digest. The result is checked before it is
// returned: it must be 65 bytes with v in {0, 1, 27, 28}; a high-s signature
// (some key stores produce them) is converted to its low-s twin; and it must
// recover to s.Address(), so a misbehaving remote signer is caught here
// rather than by a reverted settlement.
func SignAuthorization(ctx context.Context, s Signer, d Domain, a *Authorization) (Signature, error) {
	if s == nil {
		return Signature{}, fmt.Errorf("%w: nil signer", ErrSignerMismatch)
	}
	signer := s.Address()
	if a != nil && a.From != signer {
		return Signature{}, fmt.Errorf("%w: authorization is from %s, signer is %s", ErrSignerMismatch, a.From, signer)
	}
	digest, err := TransferWithAuthorizationDigest(d.Separator(), a)
	if err != nil {
		return Signature{}, err
	}
	var raw []byte
	if as, ok := s.(AuthorizationSigner); ok {
		raw, err = as.SignTransferAuthorization(ctx, d, a)
	} else {
		raw, err = s.SignDigest(ctx, digest)
	}
	if err != nil {
		return Signature{}, fmt.Errorf("evm: signing authorization: %w", err)
	}
	sig, err := lowSSignature(raw)
	if err != nil {
		return Signature{}, fmt.Errorf("evm: signer returned an unusable signature: %w", err)
	}
	got, err := RecoverSigner(digest, sig)
	if err != nil {
		return Signature{}, fmt.Errorf("evm: signer returned an unusable signature: %w", err)
	}
	if got != signer {
		return Signature{}, fmt.Errorf("%w: signature recovers %s, signer is %s", ErrSignerMismatch, got, signer)
	}
	return sig, nil
}

// lowSSignature is SignatureFromBytes, except that a signature with
// n/2 < s < n is replaced by the equivalent (r, n-s, v^1).
func lowSSignature(raw []byte) (Signature, error) {
	if len(raw) != SignatureLength {
		return SignatureFromBytes(raw)
	}
	s := string(raw[32:64])
	if v := raw[64]; s > secp256k1HalfN && s < secp256k1N && (v <= 1 || v == 27 || v == 28) {
		var fixed Signature
		copy(fixed[:], raw)
		n := new(big.Int).SetBytes([]byte(secp256k1N))
		n.Sub(n, new(big.Int).SetBytes(raw[32:64]))
		n.FillBytes(fixed[32:64])
		if v <= 1 {
			fixed[64] = v ^ 1
		} else {
			fixed[64] = 55 - v // 27 <-> 28
		}
		return SignatureFromBytes(fixed[:])
	}
	return SignatureFromBytes(raw)
}

// ParsePrivateKey parses a secp256k1 private key from 64 hex digits, with or
// without a "0x" prefix; surrounding white space (a trailing newline from a
// file or an environment variable) is ignored. Unlike crypto.HexToECDSA, its
// errors never quote any character of the input.
func ParsePrivateKey(hexKey string) (*ecdsa.PrivateKey, error) {
	s := strings.TrimSpace(hexKey)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if len(s) != 64 {
		return nil, fmt.Errorf("%w: want 64 hex digits", ErrInvalidPrivateKey)
	}
	var b [32]byte
	defer clear(b[:])
	for i := range b {
		hi, ok1 := fromHexDigit(s[2*i])
		lo, ok2 := fromHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: not hexadecimal", ErrInvalidPrivateKey)
		}
		b[i] = hi<<4 | lo
	}
	key, err := crypto.ToECDSA(b[:])
	if err != nil {
		return nil, fmt.Errorf("%w: not in [1, n-1]", ErrInvalidPrivateKey)
	}
	return key, nil
}

// PrivateKeySigner is a [Signer] holding a secp256k1 private key in memory.
// It is safe for concurrent use.
//
// Formatting it with any fmt verb, String, GoString or log/slog prints only
// its address, never the key.
type PrivateKeySigner struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

// NewPrivateKeySigner returns a signer for a hex-encoded private key, parsed
// with [ParsePrivateKey].
func NewPrivateKeySigner(hexKey string) (*PrivateKeySigner, error) {
	key, err := ParsePrivateKey(hexKey)
	if err != nil {
		return nil, err
	}
	return &PrivateKeySigner{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}, nil
}

// NewPrivateKeySignerFromECDSA returns a signer for key, which must be a
// secp256k1 key with a private scalar in [1, n-1]. The signer keeps its own
// copy, rebuilt from the scalar, so later changes to key do not affect it.
func NewPrivateKeySignerFromECDSA(key *ecdsa.PrivateKey) (*PrivateKeySigner, error) {
	own, err := copySecp256k1Key(key)
	if err != nil {
		return nil, err
	}
	return &PrivateKeySigner{key: own, addr: crypto.PubkeyToAddress(own.PublicKey)}, nil
}

// copySecp256k1Key checks that key is a usable secp256k1 private key and
// returns an independent copy with its public key recomputed.
func copySecp256k1Key(key *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	if key == nil || key.Curve == nil {
		return nil, fmt.Errorf("%w: nil key", ErrInvalidPrivateKey)
	}
	if key.Params().N.Cmp(crypto.S256().Params().N) != 0 {
		return nil, fmt.Errorf("%w: not a secp256k1 key", ErrInvalidPrivateKey)
	}
	//lint:ignore SA1019 the replacements (PrivateKey.Bytes, ParseRawPrivateKey) support NIST curves only, not secp256k1
	d := key.D
	if d == nil || d.Sign() <= 0 || d.BitLen() > 256 {
		return nil, fmt.Errorf("%w: private scalar not in [1, n-1]", ErrInvalidPrivateKey)
	}
	var b [32]byte
	defer clear(b[:])
	d.FillBytes(b[:])
	own, err := crypto.ToECDSA(b[:])
	if err != nil {
		return nil, fmt.Errorf("%w: private scalar not in [1, n-1]", ErrInvalidPrivateKey)
	}
	return own, nil
}

// Address returns the address of the key.
func (s *PrivateKeySigner) Address() common.Address { return s.addr }

// SignDigest signs digest with crypto.Sign and returns r ‖ s ‖ v with v in
// {27, 28}. go-ethereum's signer always produces low-s signatures.
func (s *PrivateKeySigner) SignDigest(ctx context.Context, digest common.Hash) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(digest[:], s.key)
	if err != nil {
		return nil, fmt.Errorf("evm: signing digest: %w", err)
	}
	sig[64] += 27
	return sig, nil
}

// String returns "PrivateKeySigner(0x…address)".
func (s *PrivateKeySigner) String() string {
	if s == nil {
		return "PrivateKeySigner(<nil>)"
	}
	return "PrivateKeySigner(" + s.addr.Hex() + ")"
}

// GoString returns the same as String, so that %#v does not print the key.
func (s *PrivateKeySigner) GoString() string { return s.String() }

// Format implements fmt.Formatter so that every verb prints String.
func (s *PrivateKeySigner) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer: the signer logs as its address.
func (s *PrivateKeySigner) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<nil>")
	}
	return slog.StringValue(s.addr.Hex())
}
