package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
)

// WalletSigner is a [Signer] whose address is a smart-contract wallet: its
// SignDigest returns the signature the wallet's EIP-1271 isValidSignature
// accepts, or an ERC-6492 wrapper of it, of any length. [ExactClient] puts
// it in the payload as is (the facilitator checks it on chain) instead of
// checking it as an ECDSA signature of the address.
type WalletSigner interface {
	Signer
	// IsWallet marks the signer as a smart-contract wallet's.
	IsWallet()
}

// CodeReader reads an account's contract code; *ethclient.Client is one.
type CodeReader interface {
	CodeAt(ctx context.Context, account common.Address, blockNumber *big.Int) ([]byte, error)
}

// SmartWalletSigner signs for a smart-contract wallet that accepts its
// owner's ECDSA signature of the digest through EIP-1271, as go402's
// SmartWallet does: the signature is the owner's own 65 bytes while the
// wallet is deployed, and that signature wrapped with ERC-6492 (naming
// Factory and FactoryCalldata, which deploy the wallet) while it is not.
// It is safe for concurrent use; set the fields before the first use.
type SmartWalletSigner struct {
	// Owner is the wallet's owner key. Required.
	Owner Signer
	// Wallet is the wallet's address, the payer. Required.
	Wallet common.Address
	// Factory and FactoryCalldata deploy the wallet. With a zero Factory
	// the wallet must be deployed: signatures are never wrapped.
	Factory         common.Address
	FactoryCalldata []byte
	// Code tells whether the wallet is deployed. If nil, signatures are
	// wrapped whenever Factory is set (verifiers check the inner
	// signature of a deployed wallet's wrapper with EIP-1271 too).
	Code CodeReader

	deployed atomic.Bool // seen deployed: it stays so
}

var errNoOwner = errors.New("evm: smart wallet signer: Owner and Wallet are required")

// Address returns the wallet's address.
func (s *SmartWalletSigner) Address() common.Address { return s.Wallet }

// IsWallet implements [WalletSigner].
func (s *SmartWalletSigner) IsWallet() {}

// SignDigest returns the wallet's signature of digest: the owner's ECDSA
// signature, ERC-6492 wrapped if the wallet is not deployed yet.
func (s *SmartWalletSigner) SignDigest(ctx context.Context, digest common.Hash) ([]byte, error) {
	if s.Owner == nil || s.Wallet == (common.Address{}) {
		return nil, errNoOwner
	}
	raw, err := s.Owner.SignDigest(ctx, digest)
	if err != nil {
		return nil, err
	}
	sig, err := lowSSignature(raw)
	if err != nil {
		return nil, fmt.Errorf("evm: wallet owner returned an unusable signature: %w", err)
	}
	if got, err := RecoverSigner(digest, sig); err != nil || got != s.Owner.Address() {
		return nil, fmt.Errorf("%w: the owner's signature does not recover to the owner %s", ErrSignerMismatch, s.Owner.Address().Hex())
	}
	wrap, err := s.needsWrapper(ctx)
	if err != nil {
		return nil, err
	}
	if !wrap {
		return sig.Bytes(), nil
	}
	w := &ERC6492Signature{Factory: s.Factory, FactoryCalldata: s.FactoryCalldata, Signature: sig.Bytes()}
	return w.Bytes(), nil
}

// needsWrapper reports whether signatures must be ERC-6492 wrapped.
func (s *SmartWalletSigner) needsWrapper(ctx context.Context) (bool, error) {
	if s.Factory == (common.Address{}) || s.deployed.Load() {
		return false, nil
	}
	if s.Code == nil {
		return true, nil
	}
	code, err := s.Code.CodeAt(ctx, s.Wallet, nil)
	if err != nil {
		return false, fmt.Errorf("evm: reading wallet %s's code: %w", s.Wallet.Hex(), err)
	}
	if len(code) > 0 {
		s.deployed.Store(true)
		return false, nil
	}
	return true, nil
}

// SignWalletAuthorization signs the EIP-3009 authorization a in domain d
// with a smart-wallet signer; a.From must be the wallet. The signature is
// not checked here (only the chain can): the facilitator checks it with
// EIP-1271 or ERC-6492.
func SignWalletAuthorization(ctx context.Context, s WalletSigner, d Domain, a *Authorization) ([]byte, error) {
	if a == nil || a.From != s.Address() {
		return nil, fmt.Errorf("%w: authorization is not from the wallet %s", ErrSignerMismatch, s.Address().Hex())
	}
	digest, err := TransferWithAuthorizationDigest(d.Separator(), a)
	if err != nil {
		return nil, err
	}
	sig, err := s.SignDigest(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("evm: signing authorization: %w", err)
	}
	if len(sig) == 0 || len(sig) > MaxSmartWalletSignature {
		return nil, fmt.Errorf("evm: wallet signer returned a %d-byte signature", len(sig))
	}
	return sig, nil
}

var _ WalletSigner = (*SmartWalletSigner)(nil)
