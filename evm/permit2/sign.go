package permit2

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// SignatureLength is the length of an EOA signature r ‖ s ‖ v.
const SignatureLength = 65

// Signer signs 32-byte digests with one secp256k1 key. go402's evm.Signer
// has exactly this method set, so any evm.Signer (a local key, a KMS) is a
// Signer here.
type Signer interface {
	Address() common.Address
	// SignDigest signs digest as is and returns r ‖ s ‖ v, v in {0, 1, 27, 28}.
	SignDigest(ctx context.Context, digest common.Hash) ([]byte, error)
}

// ErrInvalidSignature is wrapped by the errors of [Recover] and [Sign] for a
// signature that is malformed, non-canonical or recovers no key.
var ErrInvalidSignature = errors.New("evm/permit2: invalid signature")

// ErrSignerMismatch is wrapped when a signature does not recover to the
// expected signer.
var ErrSignerMismatch = errors.New("evm/permit2: signer mismatch")

// secp256k1 group order n and n/2.
var (
	curveN     = crypto.S256().Params().N
	curveHalfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)
)

// NewNonce returns a uniformly random 256-bit Permit2 nonce read from r
// (crypto/rand when r is nil). Permit2 nonces are unordered: any unused
// value works, and a random one never collides in practice.
func NewNonce(r io.Reader) (*big.Int, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("evm/permit2: reading a random nonce: %w", err)
	}
	return new(big.Int).SetBytes(b[:]), nil
}

// Sign signs p on chainID with s and returns a canonical 65-byte signature
// (low s, v in {27, 28}) that recovers to s.Address(); a signer whose
// result does not is an error wrapping [ErrSignerMismatch].
func Sign(ctx context.Context, s Signer, chainID uint64, p *Permit) ([SignatureLength]byte, error) {
	digest, err := p.Digest(chainID)
	if err != nil {
		return [SignatureLength]byte{}, err
	}
	return SignDigest(ctx, s, digest)
}

// SignDigest signs an EIP-712 digest with s and returns the canonical
// signature, checked to recover to s.Address().
func SignDigest(ctx context.Context, s Signer, digest common.Hash) ([SignatureLength]byte, error) {
	var out [SignatureLength]byte
	if s == nil {
		return out, fmt.Errorf("%w: nil signer", ErrSignerMismatch)
	}
	raw, err := s.SignDigest(ctx, digest)
	if err != nil {
		return out, fmt.Errorf("evm/permit2: signing: %w", err)
	}
	if len(raw) != SignatureLength {
		return out, fmt.Errorf("%w: signer returned %d bytes", ErrInvalidSignature, len(raw))
	}
	copy(out[:], raw)
	if v := out[64]; v <= 1 {
		out[64] = v + 27
	}
	if sv := new(big.Int).SetBytes(out[32:64]); sv.Cmp(curveHalfN) > 0 && sv.Cmp(curveN) < 0 {
		sv.Sub(curveN, sv).FillBytes(out[32:64])
		out[64] ^= 1 // 27 <-> 28
	}
	got, err := Recover(digest, out[:])
	if err != nil {
		return [SignatureLength]byte{}, err
	}
	if want := s.Address(); got != want {
		return [SignatureLength]byte{}, fmt.Errorf("%w: signature recovers %s, signer is %s", ErrSignerMismatch, got, want)
	}
	return out, nil
}

// Recover returns the EOA that signed digest. sig must be 65 bytes r ‖ s ‖
// v with v in {27, 28} (or the raw recovery id 0, 1), 0 < r < n and
// 0 < s ≤ n/2: Permit2 hands r, s, v to ecrecover, which ignores high-s
// malleability, but go402 accepts only the canonical form so that one
// payment has one signature. Contract-wallet signatures (EIP-1271,
// ERC-6492) are not EOA signatures; Recover refuses them by length.
func Recover(digest common.Hash, sig []byte) (common.Address, error) {
	if len(sig) != SignatureLength {
		return common.Address{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidSignature, len(sig), SignatureLength)
	}
	v := sig[64]
	switch v {
	case 27, 28:
		v -= 27
	case 0, 1:
	default:
		return common.Address{}, fmt.Errorf("%w: v = %d", ErrInvalidSignature, sig[64])
	}
	r, s := new(big.Int).SetBytes(sig[0:32]), new(big.Int).SetBytes(sig[32:64])
	if r.Sign() == 0 || r.Cmp(curveN) >= 0 || s.Sign() == 0 || s.Cmp(curveHalfN) > 0 {
		return common.Address{}, fmt.Errorf("%w: r or s out of range (or high s)", ErrInvalidSignature)
	}
	in := make([]byte, SignatureLength)
	copy(in, sig)
	in[64] = v
	pub, err := crypto.SigToPub(digest[:], in)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}
