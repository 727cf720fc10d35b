package evm

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// SignDigest signs an EIP-712 digest with s and returns a canonical
// [Signature] that recovers to s.Address(): a signature with v in {0, 1}
// is given v in {27, 28}, a high-s signature is replaced by its low-s twin,
// and a signature that does not recover to the signer is an error wrapping
// [ErrSignerMismatch]. It is the digest-level building block of
// [SignAuthorization], for schemes that sign other EIP-712 messages
// (vouchers, refunds, claim batches).
func SignDigest(ctx context.Context, s Signer, digest common.Hash) (Signature, error) {
	if s == nil {
		return Signature{}, fmt.Errorf("%w: nil signer", ErrSignerMismatch)
	}
	raw, err := s.SignDigest(ctx, digest)
	if err != nil {
		return Signature{}, fmt.Errorf("evm: signing digest: %w", err)
	}
	sig, err := lowSSignature(raw)
	if err != nil {
		return Signature{}, fmt.Errorf("evm: signer returned an unusable signature: %w", err)
	}
	got, err := RecoverSigner(digest, sig)
	if err != nil {
		return Signature{}, fmt.Errorf("evm: signer returned an unusable signature: %w", err)
	}
	if want := s.Address(); got != want {
		return Signature{}, fmt.Errorf("%w: signature recovers %s, signer is %s", ErrSignerMismatch, got, want)
	}
	return sig, nil
}
