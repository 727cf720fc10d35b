package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// ErrPermit2AllowanceRequired is wrapped by the error of
// [ExactClient.CreatePayloadExtensions] for a Permit2 payment when the
// payer's ERC-20 allowance to Permit2 is below the amount and the 402 does
// not declare the eip2612GasSponsoring extension: the payer must approve
// Permit2 for the token (a transaction of its own) before paying. The
// client never sends that approval by itself.
var ErrPermit2AllowanceRequired = errors.New("evm: the payer's Permit2 allowance is short and the server declares no eip2612GasSponsoring (approve Permit2 for the token first)")

// ERC-20 / EIP-2612 selectors read by the Permit2 paths.
var (
	selAllowance = selector("allowance(address,address)")
	selNonces    = selector("nonces(address)")
)

// CreatePayloadExtensions implements [x402.ExtensionsClient]. For EIP-3009
// requirements it is [ExactClient.CreatePayload] and adds no extension.
//
// For requirements with extra.assetTransferMethod "permit2" it signs a
// PermitWitnessTransferFrom as the official client does: spender the x402
// exact Permit2 proxy, permitted {asset, amount}, a random 256-bit nonce,
// deadline now + maxTimeoutSeconds (capped at [MaxClientValiditySeconds]),
// witness {to: payTo, validAfter: 0}. When a JSON-RPC endpoint is
// configured for the network (ExactClientConfig.RPCURLs), it also reads the
// payer's allowance to Permit2; if it is below the amount, then
//   - if the 402 declares eip2612GasSponsoring, it signs an EIP-2612 permit
//     (owner, spender Permit2, value amount, the token's current nonce for
//     the owner, the same deadline) into that extension, for the
//     facilitator to submit before the transfer;
//   - otherwise it fails with an error wrapping [ErrPermit2AllowanceRequired].
//
// Without an endpoint the allowance cannot be read: the payment is signed
// without the extension, and a facilitator answers
// permit2_allowance_required if the allowance is short.
func (c *ExactClient) CreatePayloadExtensions(ctx context.Context, version int, req x402.PaymentRequirements, declared x402.Object) (x402.Object, x402.Object, error) {
	t, err := checkExactTerms(req)
	if err != nil {
		return nil, nil, err
	}
	if t.extra.AssetTransferMethod != TransferPermit2 {
		payload, err := c.CreatePayload(ctx, version, req)
		return payload, nil, err
	}
	return c.createPermit2(ctx, req, t, declared)
}

// createPermit2 signs the Permit2 payment of req and, where needed and
// declared, the EIP-2612 permit (see CreatePayloadExtensions).
func (c *ExactClient) createPermit2(ctx context.Context, req x402.PaymentRequirements, t exactTerms, declared x402.Object) (x402.Object, x402.Object, error) {
	owner := c.signer.Address()
	nonce, err := permit2.NewNonce(c.rand)
	if err != nil {
		return nil, nil, err
	}
	timeout := min(req.MaxTimeoutSeconds, MaxClientValiditySeconds)
	deadline := big.NewInt(c.now().Unix() + int64(timeout))
	p := &permit2.Permit{
		Token:    t.asset,
		Amount:   req.Amount.Big(),
		Spender:  permit2.ExactProxy(),
		Nonce:    nonce,
		Deadline: deadline,
		Witness:  permit2.ExactWitness{To: t.payTo, ValidAfter: new(big.Int)},
	}
	sig, err := c.signPermit2(ctx, t.chainID, p)
	if err != nil {
		return nil, nil, fmt.Errorf("evm: signing the Permit2 transfer: %w", err)
	}
	wire, err := permit2.Encode(owner, p, sig)
	if err != nil {
		return nil, nil, err
	}
	payload, err := x402.NewObject(wire)
	if err != nil {
		return nil, nil, err
	}
	if !c.chains.Has(req.Network) {
		return payload, nil, nil
	}
	ext, err := c.sponsorIfNeeded(ctx, req, t, deadline, declared)
	if err != nil {
		return nil, nil, err
	}
	return payload, ext, nil
}

// sponsorIfNeeded reads the payer's allowance to Permit2 and, when it is
// short, signs the EIP-2612 permit into the eip2612GasSponsoring extension
// if the 402 declares it, or fails with ErrPermit2AllowanceRequired.
func (c *ExactClient) sponsorIfNeeded(ctx context.Context, req x402.PaymentRequirements, t exactTerms, deadline *big.Int, declared x402.Object) (x402.Object, error) {
	owner := c.signer.Address()
	ec, err := c.chains.Client(ctx, req.Network)
	if err != nil {
		return nil, err
	}
	allowance, err := callWord(ctx, ec, t.asset, packAddressArgs(selAllowance, owner, permit2.Address()))
	if err != nil {
		return nil, fmt.Errorf("evm: reading the Permit2 allowance of %s on %s: %w", owner.Hex(), t.asset.Hex(), err)
	}
	if allowance.Cmp(req.Amount.Big()) >= 0 {
		return nil, nil
	}
	if _, ok := declared.Field(permit2.GasSponsoringKey); declared.IsNull() || !ok {
		return nil, fmt.Errorf("%w: allowance %s, amount %s", ErrPermit2AllowanceRequired, allowance, req.Amount)
	}
	if t.extra.Name == "" || t.extra.Version == "" {
		return nil, fmt.Errorf("%w: allowance %s, amount %s; the requirements do not name the token's EIP-712 domain, so no EIP-2612 permit can be signed", ErrPermit2AllowanceRequired, allowance, req.Amount)
	}
	if _, wallet := c.signer.(WalletSigner); wallet {
		// EIP-2612 tokens check an ECDSA signature of the owner: a
		// smart-contract wallet must approve Permit2 itself.
		return nil, fmt.Errorf("%w: allowance %s, amount %s; a smart-contract wallet cannot sign an EIP-2612 permit", ErrPermit2AllowanceRequired, allowance, req.Amount)
	}
	tokenNonce, err := callWord(ctx, ec, t.asset, packAddressArgs(selNonces, owner))
	if err != nil {
		return nil, fmt.Errorf("evm: reading the EIP-2612 nonce of %s on %s: %w", owner.Hex(), t.asset.Hex(), err)
	}
	g := &permit2.GasSponsoring{
		Asset:   t.asset,
		Version: permit2.GasSponsoringVersion,
		Permit:  permit2.EIP2612Permit{Owner: owner, Spender: permit2.Address(), Value: req.Amount.Big(), Nonce: tokenNonce, Deadline: deadline},
	}
	digest, err := g.Permit.Digest(permit2.TokenDomainSeparator(t.extra.Name, t.extra.Version, t.chainID, t.asset))
	if err != nil {
		return nil, err
	}
	if g.Signature, err = permit2.SignDigest(ctx, c.signer, digest); err != nil {
		return nil, fmt.Errorf("evm: signing the EIP-2612 permit: %w", err)
	}
	return g.Extension()
}

// signPermit2 signs p: a canonical ECDSA signature checked against the
// signer's address, or, for a smart-contract wallet's signer
// ([WalletSigner]), the wallet's signature as it gives it (EIP-1271, or
// ERC-6492 wrapped), which Permit2 checks with the wallet.
func (c *ExactClient) signPermit2(ctx context.Context, chainID uint64, p *permit2.Permit) ([]byte, error) {
	if _, wallet := c.signer.(WalletSigner); !wallet {
		sig, err := permit2.Sign(ctx, c.signer, chainID, p)
		return sig[:], err
	}
	digest, err := p.Digest(chainID)
	if err != nil {
		return nil, err
	}
	sig, err := c.signer.SignDigest(ctx, digest)
	if err != nil {
		return nil, err
	}
	if len(sig) == 0 || len(sig) > MaxSmartWalletSignature {
		return nil, fmt.Errorf("evm: the wallet signer returned a %d-byte signature", len(sig))
	}
	return sig, nil
}

// packAddressArgs is the calldata of a function taking only addresses.
func packAddressArgs(sel [4]byte, args ...common.Address) []byte {
	out := make([]byte, 4+32*len(args))
	copy(out, sel[:])
	for i, a := range args {
		copy(out[4+32*i+12:], a[:])
	}
	return out
}

// callWord makes an eth_call at the latest block returning one uint256.
func callWord(ctx context.Context, cc ethereum.ContractCaller, to common.Address, data []byte) (*big.Int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := cc.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return nil, err
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("answer is %d bytes, not one word (is %s an ERC-20 token?)", len(out), to.Hex())
	}
	return new(big.Int).SetBytes(out), nil
}

var _ x402.ExtensionsClient = (*ExactClient)(nil)
