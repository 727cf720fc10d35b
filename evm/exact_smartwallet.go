package evm

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// Smart-wallet payers of the "exact" EIP-3009 scheme.
//
// Verify: a 65-byte signature recovering to the payer is checked locally,
// as before (the hot path). Any other signature (a 65-byte one recovering
// to someone else, or one of another length) is checked on chain by
// [CheckTypedSignature] before the authorization's state and the balance
// are read: EIP-1271 for a deployed wallet, ERC-6492 (factory allowlist,
// simulated deployment) for an undeployed one. The transfer is then
// simulated with the bytes overload of transferWithAuthorization, after the
// deployment in the same eth_call for an undeployed wallet.
//
// Settle: a deployed wallet's payment is a transferWithAuthorization with
// the wallet's signature (for ERC-6492, the inner one). An undeployed
// wallet's payment is one transaction to Multicall3's aggregate3: the
// factory call (allowed to fail, so that a wallet deployed by someone else
// meanwhile does not fail it) and then the transfer (required to succeed).
// Deployment and transfer are therefore atomic: a reverted transfer
// deploys nothing, and there is never a deployment paid for on its own. A
// retried Settle re-checks the chain, so once the wallet exists it pays as
// a plain EIP-1271 transfer.

// maxWalletSignatureHex bounds the hex digits of a payload signature.
const maxWalletSignatureHex = 2 * MaxSmartWalletSignature

// parseWalletSignature decodes a signature that is not a canonical 65-byte
// one: hex of any other (even) length up to MaxSmartWalletSignature bytes.
func parseWalletSignature(s string) ([]byte, bool) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if len(s) == 2*SignatureLength || len(s) == 0 || len(s)%2 != 0 || len(s) > maxWalletSignatureHex {
		return nil, false
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		hi, ok1 := fromHexDigit(s[2*i])
		lo, ok2 := fromHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		b[i] = hi<<4 | lo
	}
	return b, true
}

// walletSig is a signature checkLocal could not accept on its own:
// checkChain asks the payer's wallet, in the JSON-RPC batch of its other
// reads (plan), and keeps the outcome in check.
type walletSig struct {
	digest [32]byte
	sig    []byte
	plan   *sigPlan
	check  *SignatureCheck
}

// walletSigOptions are the facilitator's [SignatureOptions]. The calls
// have no sender, so that the chain reader may aggregate them.
func (f *ExactFacilitator) walletSigOptions() SignatureOptions {
	return SignatureOptions{AllowedFactories: f.cfg.ERC6492Factories, Multicall: f.walletMulticall}
}

// initWalletMulticall picks the Multicall3 through which undeployed
// wallets' deployments are simulated and settled: the read or batch one
// if configured, else the canonical one if the chain has it. It is only
// needed with ERC-6492 factories allowed.
func (f *ExactFacilitator) initWalletMulticall(ctx context.Context) {
	switch {
	case len(f.cfg.ERC6492Factories) == 0:
	case f.reads.multicall != (common.Address{}):
		f.walletMulticall = f.reads.multicall
	case f.cfg.Batch.enabled():
		f.walletMulticall = f.cfg.Batch.Multicall
	case checkMulticall(ctx, f.cfg.Backend, Multicall3Address()) == nil:
		f.walletMulticall = Multicall3Address()
	}
}

// planWallet returns the eth_call that checks c's pending signature, or
// nil if there is none to make (an EOA payer, or checked already); rej is
// a signature refused without the chain.
func (f *ExactFacilitator) planWallet(c *checked) (*ethCall, *payloadError) {
	if c.sw == nil || c.sw.check != nil {
		return nil, nil
	}
	chk, plan, err := planSignature(c.auth.From, c.sw.digest, c.sw.sig, f.walletSigOptions())
	if err != nil {
		return nil, reject(SignatureReason(err, x402.ReasonExactEVMSignature), "%v", err)
	}
	if chk != nil {
		c.sw.check = chk
		return nil, nil
	}
	c.sw.plan = plan
	call := &ethCall{msg: plan.msg}
	if plan.deploy != nil {
		// It simulates a deployment: keep it apart from the payer's other
		// simulated calls (see planAggregates).
		call.transfer, call.payer, call.payee = true, c.auth.From, c.auth.From
	}
	return call, nil
}

// judgeWallet gives c's pending signature its verdict from call's answer.
func (f *ExactFacilitator) judgeWallet(c *checked, call *ethCall) (*payloadError, error) {
	if call == nil {
		return nil, nil
	}
	chk, err := c.sw.plan.judge(call.out, call.err)
	if err != nil {
		if errors.Is(err, ErrInvalidSignature) {
			return reject(SignatureReason(err, x402.ReasonExactEVMSignature), "%v", err), nil
		}
		return nil, err
	}
	c.sw.check = chk
	return nil, nil
}

// selTransferWithAuthorizationBytes is the bytes-signature overload, which
// checks the signature with EIP-1271 when the payer is a contract.
var selTransferWithAuthorizationBytes = selector("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)")

// TransferWithAuthorizationBytesCalldata ABI-encodes a call to the bytes
// overload of transferWithAuthorization (EIP-3009 as USDC v2.2 and go402's
// test token implement it), which smart-wallet payers need.
func TransferWithAuthorizationBytesCalldata(a *Authorization, sig []byte) []byte {
	out := make([]byte, 4+8*32+pad32(len(sig)))
	copy(out, selTransferWithAuthorizationBytes[:])
	w := out[4:]
	copy(w[12:32], a.From[:])
	copy(w[32+12:64], a.To[:])
	putWord(w[64:], a.Value)
	putWord(w[96:], a.ValidAfter)
	putWord(w[128:], a.ValidBefore)
	copy(w[160:192], a.Nonce[:])
	putUint(w[192:], 7*32)
	putUint(w[224:], uint64(len(sig)))
	copy(w[256:], sig)
	return out
}

// transferCalldata is the token call that settles c. Before its wallet
// signature is judged (a simulation in the same batch), it is the call the
// signature would need.
func (c *checked) transferCalldata() []byte {
	switch {
	case c.sw == nil:
	case c.sw.check != nil:
		if c.sw.check.Kind == SignatureEOA { // an EIP-2098 compact one, expanded
			return TransferWithAuthorizationCalldata(c.auth, Signature(c.sw.check.Signature))
		}
		return TransferWithAuthorizationBytesCalldata(c.auth, c.sw.check.Signature)
	case c.sw.plan != nil && c.sw.plan.wrapped != nil:
		return TransferWithAuthorizationBytesCalldata(c.auth, c.sw.plan.wrapped.Signature)
	default:
		return TransferWithAuthorizationBytesCalldata(c.auth, c.sw.sig)
	}
	return TransferWithAuthorizationCalldata(c.auth, c.sig)
}

// deployment is the ERC-6492 deployment settling c sends first, if any
// (before the signature is judged: the one it may need).
func (c *checked) deployment() *ERC6492Signature {
	switch {
	case c.sw == nil:
		return nil
	case c.sw.check != nil:
		return c.sw.check.Deploy
	case c.sw.plan != nil:
		return c.sw.plan.deploy
	}
	return nil
}

// deploys reports whether settling c deploys the payer's wallet first.
func (c *checked) deploys() bool { return c.deployment() != nil }

// settleCall is the call that settles c: the transfer, or for an
// undeployed wallet, aggregate3 of the deployment and the transfer.
func (c *checked) settleCall(multicall common.Address) (common.Address, []byte, error) {
	if !c.deploys() {
		return c.asset, c.transferCalldata(), nil
	}
	if multicall == (common.Address{}) {
		return common.Address{}, nil, fmt.Errorf("evm: deploying wallet %s: %w", c.auth.From.Hex(), ErrNoSimulator)
	}
	data, err := packCalls([]call3{
		{Target: c.deployment().Factory, AllowFailure: true, CallData: c.deployment().FactoryCalldata},
		{Target: c.asset, AllowFailure: false, CallData: c.transferCalldata()},
	})
	if err != nil {
		return common.Address{}, nil, err
	}
	return multicall, data, nil
}

// simulation is the eth_call simulating c's settlement (see checkChain).
func (f *ExactFacilitator) simulation(c *checked) *ethCall {
	sim := &ethCall{msg: ethereum.CallMsg{To: &c.asset, Data: c.transferCalldata()}, transfer: true, payer: c.auth.From, payee: c.auth.To}
	if c.deploys() {
		// Planned only with a Multicall3.
		if to, data, err := c.settleCall(f.walletMulticall); err == nil {
			sim.msg.To, sim.msg.Data = &to, data
		}
	}
	if f.cfg.Sender != nil {
		sim.msg.From = f.cfg.Sender.Address()
	}
	return sim
}

// walletSignatureHex is the wire form of a smart-wallet signature.
func walletSignatureHex(sig []byte) string { return hexutil.Encode(sig) }
