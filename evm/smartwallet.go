package evm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// Smart-wallet signatures.
//
// A payer that is a contract (a smart-contract wallet) cannot produce an
// ECDSA signature of its own address. Its signatures are checked by asking
// the wallet: EIP-1271 isValidSignature(hash, signature) must return the
// magic value 0x1626ba7e. A wallet that is not deployed yet signs with
// ERC-6492: the wallet's signature is wrapped together with the factory and
// calldata that deploy it,
//
//	abi.encode(address factory, bytes factoryCalldata, bytes innerSignature) ‖ 0x6492…6492
//
// (32 bytes of the magic suffix), and a verifier simulates the deployment
// before asking the wallet. Deploying runs a factory named by the payer, so
// the factory must be on the verifier's allowlist.

// SignatureKind is how a signature was checked by [VerifyTypedSignature].
type SignatureKind uint8

const (
	// SignatureEOA is an ECDSA signature of the signer's own key, checked
	// with ecrecover and no chain access.
	SignatureEOA SignatureKind = iota + 1
	// SignatureEIP1271 is a signature the deployed contract at the
	// signer's address accepts through EIP-1271 isValidSignature.
	SignatureEIP1271
	// SignatureERC6492 is an ERC-6492 wrapped signature: its inner
	// signature is accepted by the signer's wallet, deployed already or
	// once the wrapper's factory call has run.
	SignatureERC6492
)

// String returns "eoa", "eip1271" or "erc6492".
func (k SignatureKind) String() string {
	switch k {
	case SignatureEOA:
		return "eoa"
	case SignatureEIP1271:
		return "eip1271"
	case SignatureERC6492:
		return "erc6492"
	}
	return fmt.Sprintf("SignatureKind(%d)", uint8(k))
}

// ERC6492MagicSuffix is the 32 bytes that end an ERC-6492 wrapped signature.
const ERC6492MagicSuffix = "\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92\x64\x92"

// EIP1271MagicValue is what isValidSignature returns for a valid signature:
// its own selector, 0x1626ba7e.
var EIP1271MagicValue = [4]byte{0x16, 0x26, 0xba, 0x7e}

// MaxSmartWalletSignature bounds the signatures accepted from a payer
// (wrapped or not), in bytes. Real wallet signatures are well under 2 KiB.
const MaxSmartWalletSignature = 8 << 10

// Errors of smart-wallet signature checks. Each is wrapped together with
// [ErrInvalidSignature]; [SignatureReason] maps them to reason codes.
var (
	// ErrSignatureRefused: the signature is not the signer's: ecrecover
	// gives another address, or the signer's wallet does not return the
	// EIP-1271 magic value (it "says no").
	ErrSignatureRefused = errors.New("signature is not accepted for the signer")
	// ErrWalletNotDeployed: the signer has no code and the signature is
	// neither the signer's ECDSA signature nor ERC-6492 wrapped.
	ErrWalletNotDeployed = errors.New("the signer is not a deployed wallet and the signature is not ERC-6492 wrapped")
	// ErrFactoryNotAllowed: an ERC-6492 signature of an undeployed wallet
	// names a factory that is not on the allowlist.
	ErrFactoryNotAllowed = errors.New("ERC-6492 factory is not allowed")
	// ErrDeploymentFailed: the ERC-6492 factory call reverts.
	ErrDeploymentFailed = errors.New("ERC-6492 wallet deployment fails")
	// ErrDeploymentMismatch: the ERC-6492 factory call deploys another
	// address than the signer (or nothing at the signer's address).
	ErrDeploymentMismatch = errors.New("ERC-6492 factory call does not deploy the signer")
	// ErrERC6492Encoding: the bytes before the magic suffix are not
	// abi.encode(address, bytes, bytes).
	ErrERC6492Encoding = errors.New("malformed ERC-6492 wrapper")
	// ErrNoSimulator: an undeployed wallet's signature needs a Multicall3
	// to simulate its deployment, and none is configured.
	ErrNoSimulator = errors.New("no Multicall3 to simulate the wallet deployment")
)

// SignatureReason is the reason code for a signature error of
// [VerifyTypedSignature]: eip6492_factory_not_allowed,
// invalid_exact_evm_payload_undeployed_smart_wallet or
// smart_wallet_deployment_failed for those cases, and base (the scheme's
// invalid-signature code, such as invalid_exact_evm_signature or
// invalid_permit2_signature) for every other.
func SignatureReason(err error, base x402.Reason) x402.Reason {
	switch {
	case errors.Is(err, ErrFactoryNotAllowed):
		return x402.ReasonEIP6492FactoryNotAllowed
	case errors.Is(err, ErrWalletNotDeployed), errors.Is(err, ErrNoSimulator):
		return x402.ReasonExactEVMUndeployedSmartWallet
	case errors.Is(err, ErrDeploymentFailed):
		return x402.ReasonSmartWalletDeploymentFailed
	}
	return base
}

// ERC6492Signature is a parsed ERC-6492 wrapper.
type ERC6492Signature struct {
	// Factory is the contract whose call deploys the wallet.
	Factory common.Address
	// FactoryCalldata is the call's input.
	FactoryCalldata []byte
	// Signature is the wallet's own (inner) signature.
	Signature []byte
}

// IsERC6492 reports whether sig ends with the ERC-6492 magic suffix.
func IsERC6492(sig []byte) bool {
	return len(sig) >= len(ERC6492MagicSuffix) && string(sig[len(sig)-len(ERC6492MagicSuffix):]) == ERC6492MagicSuffix
}

// ParseERC6492 parses an ERC-6492 wrapped signature strictly: the magic
// suffix, then abi.encode(address factory, bytes factoryCalldata, bytes
// signature) in canonical form (every offset, length and padding checked
// against the input). The returned slices alias sig. Errors wrap
// [ErrInvalidSignature] and [ErrERC6492Encoding].
func ParseERC6492(sig []byte) (*ERC6492Signature, error) {
	if !IsERC6492(sig) {
		return nil, invalidSignature(ErrERC6492Encoding, "no ERC-6492 magic suffix")
	}
	if len(sig) > MaxSmartWalletSignature {
		return nil, invalidSignature(ErrERC6492Encoding, fmt.Sprintf("%d bytes, more than %d", len(sig), MaxSmartWalletSignature))
	}
	b := sig[:len(sig)-len(ERC6492MagicSuffix)]
	if len(b) < 3*32 || !allZero(b[:12]) {
		return nil, invalidSignature(ErrERC6492Encoding, "the factory is not an address word")
	}
	w := &ERC6492Signature{Factory: common.Address(b[12:32])}
	var end int
	var ok bool
	if w.FactoryCalldata, end, ok = abiBytesAt(b, 32, 3*32); !ok {
		return nil, invalidSignature(ErrERC6492Encoding, "bad factory calldata")
	}
	if w.Signature, end, ok = abiBytesAt(b, 64, end); !ok {
		return nil, invalidSignature(ErrERC6492Encoding, "bad inner signature")
	}
	if end != len(b) {
		return nil, invalidSignature(ErrERC6492Encoding, "trailing bytes")
	}
	return w, nil
}

// abiBytesAt reads the dynamic bytes whose offset is the word at head, which
// must start at want (canonical encodings place the tails in order). It
// returns the bytes and the end of their zero-padded tail.
func abiBytesAt(b []byte, head, want int) ([]byte, int, bool) {
	off, ok := readOffset(b, head)
	if !ok || off != want {
		return nil, 0, false
	}
	n, ok := readOffset(b, off)
	if !ok || n > len(b) {
		return nil, 0, false
	}
	start := off + 32
	end := start + pad32(n)
	if end > len(b) || !allZero(b[start+n:end]) {
		return nil, 0, false
	}
	return b[start : start+n : start+n], end, true
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Bytes returns the wrapper encoded: abi.encode(factory, calldata,
// signature) followed by the magic suffix.
func (w *ERC6492Signature) Bytes() []byte {
	cl, sl := pad32(len(w.FactoryCalldata)), pad32(len(w.Signature))
	out := make([]byte, 3*32+32+cl+32+sl, 3*32+32+cl+32+sl+32)
	copy(out[12:32], w.Factory[:])
	putUint(out[32:], 96)
	putUint(out[64:], uint64(96+32+cl))
	putUint(out[96:], uint64(len(w.FactoryCalldata)))
	copy(out[128:], w.FactoryCalldata)
	putUint(out[128+cl:], uint64(len(w.Signature)))
	copy(out[160+cl:], w.Signature)
	return append(out, ERC6492MagicSuffix...)
}

// SignatureOptions configures [VerifyTypedSignature].
type SignatureOptions struct {
	// AllowedFactories are the ERC-6492 factories whose calls may be
	// simulated and, at settlement, sent. Empty refuses every ERC-6492
	// signature of an undeployed wallet ([ErrFactoryNotAllowed]).
	AllowedFactories []common.Address
	// Multicall is the Multicall3 used to simulate a deployment followed
	// by isValidSignature in one eth_call. Zero means none: an undeployed
	// wallet's signature then fails with [ErrNoSimulator].
	Multicall common.Address
	// From is the eth_calls' sender; zero is fine.
	From common.Address
}

// factoryAllowed reports whether f is on the allowlist.
func (o *SignatureOptions) factoryAllowed(f common.Address) bool {
	return slices.Contains(o.AllowedFactories, f)
}

// SignatureCheck is what [CheckTypedSignature] found.
type SignatureCheck struct {
	Kind SignatureKind
	// Signature is the signature the token or wallet verifies on chain:
	// the signature itself, or an ERC-6492 wrapper's inner signature.
	Signature []byte
	// Deploy is set for an ERC-6492 signature of a wallet not deployed
	// yet: the call to make before the signature can be used on chain.
	Deploy *ERC6492Signature
}

// VerifyTypedSignature checks that sig is signer's signature of digest (an
// EIP-712 digest) and says how it was checked:
//
//   - a 65-byte ECDSA signature (or a 64-byte EIP-2098 compact one)
//     recovering to signer: [SignatureEOA], without any chain access (the
//     fast path); the check's Signature is then the 65-byte r ‖ s ‖ v;
//   - otherwise, if signer has code: EIP-1271 isValidSignature(digest,
//     sig) through caller must return the magic value ([SignatureEIP1271]);
//   - a signature ending with the ERC-6492 magic suffix: its inner
//     signature is checked with EIP-1271 if signer is deployed; if not,
//     the factory must be in opts.AllowedFactories and the factory call
//     followed by isValidSignature is simulated in one eth_call through
//     opts.Multicall; the factory call must deploy signer
//     ([SignatureERC6492]).
//
// A refused signature is an error wrapping [ErrInvalidSignature] and one of
// the errors above ([SignatureReason] gives its reason code); any other
// error is a failed chain read, with no verdict. The digest is passed to the
// wallet as is, as EIP-3009 tokens (OpenZeppelin's SignatureChecker) and
// Permit2 do.
func VerifyTypedSignature(ctx context.Context, caller ethereum.ContractCaller, signer common.Address, digest [32]byte, sig []byte, opts SignatureOptions) (SignatureKind, error) {
	c, err := CheckTypedSignature(ctx, caller, signer, digest, sig, opts)
	if err != nil {
		return 0, err
	}
	return c.Kind, nil
}

// CheckTypedSignature is [VerifyTypedSignature] returning what a settlement
// needs as well: the signature to submit and, for an undeployed wallet, the
// deployment call.
func CheckTypedSignature(ctx context.Context, caller ethereum.ContractCaller, signer common.Address, digest [32]byte, sig []byte, opts SignatureOptions) (*SignatureCheck, error) {
	c, plan, err := planSignature(signer, digest, sig, opts)
	if c != nil || err != nil {
		return c, err
	}
	out, err := caller.CallContract(ctx, plan.msg, nil)
	return plan.judge(out, err)
}

// CompactSignatureLength is the length of an EIP-2098 compact signature
// r ‖ yParity·2²⁵⁵+s.
const CompactSignatureLength = 64

// signatureFromEOABytes is SignatureFromBytes, also taking an EIP-2098
// compact signature, which it expands to r ‖ s ‖ v.
func signatureFromEOABytes(b []byte) (Signature, error) {
	if len(b) != CompactSignatureLength {
		return SignatureFromBytes(b)
	}
	var full [SignatureLength]byte
	copy(full[:64], b)
	full[64] = 27 + full[32]>>7
	full[32] &= 0x7f
	return SignatureFromBytes(full[:])
}

// sigPlan is a signature check decided by one eth_call: msg, whose answer
// (or error) judge turns into the verdict.
type sigPlan struct {
	msg   ethereum.CallMsg
	judge func(out []byte, err error) (*SignatureCheck, error)
	// wrapped is the ERC-6492 wrapper, if the signature is one, and
	// deploy the same when the plan deploys an undeployed wallet.
	wrapped, deploy *ERC6492Signature
}

// planSignature decides what it can without the chain: an EOA signature
// (the check), a malformed one (the error); otherwise it returns the
// eth_call that decides.
func planSignature(signer common.Address, digest [32]byte, sig []byte, opts SignatureOptions) (*SignatureCheck, *sigPlan, error) {
	var recovered *common.Address
	if len(sig) == SignatureLength || len(sig) == CompactSignatureLength {
		if s, err := signatureFromEOABytes(sig); err == nil {
			if got, err := RecoverSigner(digest, s); err == nil {
				if got == signer {
					return &SignatureCheck{Kind: SignatureEOA, Signature: s.Bytes()}, nil, nil
				}
				recovered = &got
			}
		}
	}
	if len(sig) > MaxSmartWalletSignature {
		return nil, nil, invalidSignature(ErrSignatureRefused, fmt.Sprintf("%d-byte signature, more than %d", len(sig), MaxSmartWalletSignature))
	}
	if !IsERC6492(sig) {
		return nil, plan1271(signer, digest, sig, recovered, opts.From), nil
	}
	w, err := ParseERC6492(sig)
	if err != nil {
		return nil, nil, err
	}
	if opts.factoryAllowed(w.Factory) && opts.Multicall != (common.Address{}) {
		return nil, plan6492(signer, digest, w, opts), nil
	}
	// Not deployable here: only a deployed wallet can accept it.
	p := plan1271(signer, digest, w.Signature, nil, opts.From)
	p.wrapped = w
	judge := p.judge
	p.judge = func(out []byte, callErr error) (*SignatureCheck, error) {
		c, err := judge(out, callErr)
		switch {
		case err == nil:
			c.Kind = SignatureERC6492
			return c, nil
		case !errors.Is(err, ErrWalletNotDeployed):
			return nil, err
		case !opts.factoryAllowed(w.Factory):
			return nil, invalidSignature(ErrFactoryNotAllowed, fmt.Sprintf("factory %s is not on this facilitator's allowlist", w.Factory.Hex()))
		}
		return nil, invalidSignature(ErrNoSimulator, "wallet "+signer.Hex()+" is not deployed")
	}
	return nil, p, nil
}

// selIsValidSignature is EIP-1271 isValidSignature(bytes32,bytes).
var selIsValidSignature = selector("isValidSignature(bytes32,bytes)")

// packIsValidSignature encodes isValidSignature(digest, sig).
func packIsValidSignature(digest [32]byte, sig []byte) []byte {
	out := make([]byte, 4+32+32+32+pad32(len(sig)))
	copy(out, selIsValidSignature[:])
	copy(out[4:], digest[:])
	putUint(out[4+32:], 64)
	putUint(out[4+64:], uint64(len(sig)))
	copy(out[4+96:], sig)
	return out
}

// plan1271 asks the contract at signer; an empty answer means it has no
// code ([ErrWalletNotDeployed]), which for an ECDSA signature recovering to
// another key (recovered) is a plain wrong signer.
func plan1271(signer common.Address, digest [32]byte, sig []byte, recovered *common.Address, from common.Address) *sigPlan {
	return &sigPlan{
		msg: ethereum.CallMsg{From: from, To: &signer, Data: packIsValidSignature(digest, sig)},
		judge: func(out []byte, err error) (*SignatureCheck, error) {
			if rev := revertFromError(err); rev != nil {
				return nil, invalidSignature(ErrSignatureRefused, "isValidSignature reverted: "+rev.Error())
			}
			if err != nil {
				return nil, fmt.Errorf("evm: calling isValidSignature on %s: %w", signer.Hex(), err)
			}
			err = magicAnswer(out, signer)
			if recovered != nil && errors.Is(err, ErrWalletNotDeployed) {
				// An EOA payer and an ECDSA signature of another key.
				return nil, invalidSignature(ErrSignatureRefused, fmt.Sprintf("signature is by %s, not by the payer %s", recovered.Hex(), signer.Hex()))
			}
			if err != nil {
				return nil, err
			}
			return &SignatureCheck{Kind: SignatureEIP1271, Signature: sig}, nil
		},
	}
}

// plan6492 runs, in one eth_call through Multicall3's aggregate3,
// isValidSignature of the inner signature, the factory call and
// isValidSignature again. If the first call finds the wallet deployed, it
// decides; otherwise the factory call must deploy the signer, which must
// then accept the signature.
func plan6492(signer common.Address, digest [32]byte, w *ERC6492Signature, opts SignatureOptions) *sigPlan {
	check := packIsValidSignature(digest, w.Signature)
	data, err := packCalls([]call3{
		{Target: signer, AllowFailure: true, CallData: check},
		{Target: w.Factory, AllowFailure: true, CallData: w.FactoryCalldata},
		{Target: signer, AllowFailure: true, CallData: check},
	})
	judge := func(out []byte, callErr error) (*SignatureCheck, error) {
		if err != nil {
			return nil, invalidSignature(ErrERC6492Encoding, err.Error())
		}
		if callErr != nil {
			return nil, fmt.Errorf("evm: simulating the ERC-6492 deployment of %s: %w", signer.Hex(), callErr)
		}
		res, derr := decodeAggregate3(out, 3)
		if derr != nil {
			return nil, fmt.Errorf("evm: simulating the ERC-6492 deployment of %s: %w", signer.Hex(), derr)
		}
		deployed, verr := judge6492(signer, w, res[0], res[1], res[2])
		if verr != nil {
			return nil, verr
		}
		c := &SignatureCheck{Kind: SignatureERC6492, Signature: w.Signature}
		if !deployed {
			c.Deploy = w
		}
		return c, nil
	}
	return &sigPlan{msg: ethereum.CallMsg{From: opts.From, To: &opts.Multicall, Data: data}, judge: judge, wrapped: w, deploy: w}
}

// judge6492 judges plan6492's three answers.
func judge6492(signer common.Address, w *ERC6492Signature, before, deploy, after result3) (deployed bool, err error) {
	switch {
	case !before.success:
		return true, invalidSignature(ErrSignatureRefused, "isValidSignature reverted")
	case len(before.data) > 0: // deployed already: its answer decides
		return true, magicAnswer(before.data, signer)
	case !deploy.success:
		return false, invalidSignature(ErrDeploymentFailed, fmt.Sprintf("the call to factory %s reverts", w.Factory.Hex()))
	case len(deploy.data) == 32 && allZero(deploy.data[:12]) && common.Address(deploy.data[12:32]) != signer:
		return false, invalidSignature(ErrDeploymentMismatch, fmt.Sprintf("factory %s deploys %s, not the payer %s", w.Factory.Hex(), common.Address(deploy.data[12:32]).Hex(), signer.Hex()))
	case !after.success:
		return false, invalidSignature(ErrSignatureRefused, "isValidSignature reverted after the deployment")
	}
	if err := magicAnswer(after.data, signer); err != nil {
		if errors.Is(err, ErrWalletNotDeployed) {
			return false, invalidSignature(ErrDeploymentMismatch, fmt.Sprintf("the call to factory %s leaves no code at the payer %s", w.Factory.Hex(), signer.Hex()))
		}
		return false, err
	}
	return false, nil
}

// magicAnswer judges isValidSignature's answer.
func magicAnswer(out []byte, signer common.Address) error {
	switch {
	case len(out) == 0:
		return invalidSignature(ErrWalletNotDeployed, fmt.Sprintf("%s has no contract code", signer.Hex()))
	case len(out) >= 32 && bytes.Equal(out[:4], EIP1271MagicValue[:]) && allZero(out[4:32]):
		return nil
	}
	return invalidSignature(ErrSignatureRefused, fmt.Sprintf("wallet %s's isValidSignature did not return the EIP-1271 magic value", signer.Hex()))
}

// packCalls encodes Multicall3 aggregate3(calls).
func packCalls(calls []call3) ([]byte, error) {
	args, err := aggregate3.Inputs.Pack(calls)
	if err != nil {
		return nil, err
	}
	return append(aggregate3.ID[:4:4], args...), nil
}

// DevnetWalletFactoryAddressHex is where go402's devnet places its
// SmartWalletFactory (see package contracts): createAccount(address owner,
// uint256 salt) deploys a SmartWallet with CREATE2 and getAddress(owner,
// salt) returns its address. It is the default ERC-6492 factory allowlist
// of the go402 facilitator on the devnet.
const DevnetWalletFactoryAddressHex = "0x6492FAC700000000000000000000000000000001"

// DevnetWalletFactoryAddress returns DevnetWalletFactoryAddressHex as an
// address.
func DevnetWalletFactoryAddress() common.Address {
	return common.HexToAddress(DevnetWalletFactoryAddressHex)
}
