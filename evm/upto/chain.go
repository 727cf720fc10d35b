package upto

import (
	"context"
	"fmt"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// call makes one eth_call from the facilitator's sender.
func (f *Facilitator) call(ctx context.Context, to common.Address, data []byte) ([]byte, error) {
	return f.cfg.Backend.CallContract(ctx, ethereum.CallMsg{From: f.Address(), To: &to, Data: data}, nil)
}

// word reads one 32-byte answer; a revert or a short answer is a verdict
// (reason), any other failure an error.
func (f *Facilitator) word(ctx context.Context, to common.Address, data []byte, what string, reason x402.Reason) ([]byte, *rejection, error) {
	out, err := f.call(ctx, to, data)
	if rev := evm.AsRevert(err); rev != nil {
		return nil, reject(reason, "%s reverted: %s", what, rev.Error()), nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("evm/upto: reading %s: %w", what, err)
	}
	if len(out) < 32 {
		return nil, reject(reason, "%s answered %d bytes", what, len(out)), nil
	}
	return out[:32], nil, nil
}

// read is one word read by checkChain.
type read struct {
	to     common.Address
	data   []byte
	what   string
	reason x402.Reason // the verdict of a revert or a short answer
	out    []byte
	rej    *rejection
	err    error
}

// readAll makes the reads concurrently (one round trip of latency).
func (f *Facilitator) readAll(ctx context.Context, reads ...*read) {
	var wg sync.WaitGroup
	for _, r := range reads {
		wg.Go(func() { r.out, r.rej, r.err = f.word(ctx, r.to, r.data, r.what, r.reason) })
	}
	wg.Wait()
}

// checkChain checks the chain state a settlement of amount needs: the
// proxy deployed, the Permit2 nonce unused, the payer's balance and
// Permit2 allowance (read together, judged in that order); and, if
// simulate, simulates the settlement from the facilitator's sender. It
// records the balance read in c.
func (f *Facilitator) checkChain(ctx context.Context, c *checked, amount *big.Int, simulate bool) (*rejection, error) {
	pm := &c.d.Permit
	proxy := &read{to: ProxyAddress(), data: selPermit2[:], what: "the upto proxy's PERMIT2()", reason: x402.ReasonPermit2ProxyNotDeployed}
	bitmap := &read{to: Permit2Address(), data: packNonceBitmap(pm.From, pm.Nonce), what: "Permit2 nonceBitmap", reason: x402.ReasonPermit2ProxyNotDeployed}
	bal := &read{to: pm.Token, data: packAddresses(selBalanceOf, pm.From), what: "balanceOf", reason: x402.ReasonPermit2SimulationFailed}
	allow := &read{to: pm.Token, data: packAddresses(selAllowance, pm.From, Permit2Address()), what: "allowance", reason: x402.ReasonPermit2SimulationFailed}
	f.readAll(ctx, proxy, bitmap, bal, allow)
	for _, r := range []*read{proxy, bitmap, bal, allow} {
		if r.err != nil {
			return nil, r.err
		}
	}
	for _, r := range []*read{proxy, bitmap} {
		if r.rej != nil {
			return r.rej, nil
		}
	}
	if nonceUsed(bitmap.out, pm.Nonce) {
		return reject(x402.ReasonPermit2InvalidNonce, "the Permit2 nonce %s of %s was already used", pm.Nonce, pm.From.Hex()), nil
	}
	if bal.rej != nil {
		return bal.rej, nil
	}
	c.balance = new(big.Int).SetBytes(bal.out)
	if c.balance.Cmp(amount) < 0 {
		return reject(x402.ReasonPermit2InsufficientFunds, "payer balance %s is less than %s", c.balance, amount), nil
	}
	if allow.rej != nil {
		return allow.rej, nil
	}
	if a := new(big.Int).SetBytes(allow.out); a.Cmp(amount) < 0 {
		// Without an allowance, only the payer's EIP-2612 permit to
		// Permit2 (the eip2612GasSponsoring extension) can pay.
		if rej := f.sponsor(c); rej != nil {
			return rej, nil
		}
		if c.sponsor == nil {
			return reject(x402.ReasonPermit2AllowanceRequired, "the payer's allowance to Permit2 is %s, less than %s: approve Permit2 once", a, amount), nil
		}
	}
	if !simulate {
		return nil, nil
	}
	data, err := settleCalldata(pm, amount, c.sig.Signature, c.sponsor)
	if err != nil {
		return reject(x402.ReasonInvalidPayload, "%v", err), nil
	}
	_, err = f.call(ctx, ProxyAddress(), data)
	if rev := evm.AsRevert(err); rev != nil {
		reason := reasonForRevert(rev)
		if reason == x402.ReasonUptoTransactionFailed {
			reason = x402.ReasonPermit2SimulationFailed
		}
		return reject(reason, "simulated settlement reverted: %s", rev.Error()), nil
	}
	if err != nil {
		return nil, fmt.Errorf("evm/upto: simulating the settlement: %w", err)
	}
	return nil, nil
}

// sponsor reads the payment's eip2612GasSponsoring extension, if any, into
// c.sponsor, after checking it against the permit: owner the payer, the
// permit's token, spender Permit2, value the permitted amount (as the proxy
// requires), a deadline at least DeadlineMargin ahead.
func (f *Facilitator) sponsor(c *checked) *rejection {
	g, err := permit2.ParseGasSponsoring(c.extensions)
	if err != nil {
		return reject(x402.ReasonEIP2612InvalidFormat, "%v", err)
	}
	if g == nil {
		return nil
	}
	pm := &c.d.Permit
	switch {
	case g.Permit.Owner != pm.From:
		return reject(x402.ReasonEIP2612FromMismatch, "the EIP-2612 permit is from %s, not the payer %s", g.Permit.Owner.Hex(), pm.From.Hex())
	case g.Asset != pm.Token:
		return reject(x402.ReasonEIP2612AssetMismatch, "the EIP-2612 permit is for %s, not %s", g.Asset.Hex(), pm.Token.Hex())
	case g.Permit.Spender != Permit2Address():
		return reject(x402.ReasonEIP2612SpenderNotPermit2, "the EIP-2612 permit's spender is %s, not Permit2", g.Permit.Spender.Hex())
	case cmpUnix(g.Permit.Deadline, f.cfg.Now().Add(f.cfg.DeadlineMargin).Unix()) < 0:
		return reject(x402.ReasonEIP2612DeadlineExpired, "the EIP-2612 permit expires at %s", g.Permit.Deadline)
	case g.Permit.Value.Cmp(pm.Amount) != 0:
		return reject(x402.ReasonPermit2EIP2612AmountMismatch, "the EIP-2612 permit's value %s differs from the permitted %s", g.Permit.Value, pm.Amount)
	}
	c.sponsor = g
	return nil
}

// revertReasons maps the custom errors of the upto proxy and of Permit2 to
// reason codes, as @x402/evm maps them.
var revertReasons = map[[4]byte]x402.Reason{
	selector("AmountExceedsPermitted()"):   x402.ReasonUptoAmountExceedsPermitted,
	selector("UnauthorizedFacilitator()"):  x402.ReasonUptoUnauthorizedFacilitator,
	selector("InvalidDestination()"):       x402.ReasonPermit2InvalidDestination,
	selector("InvalidOwner()"):             x402.ReasonPermit2InvalidOwner,
	selector("PaymentTooEarly()"):          x402.ReasonPermit2PaymentTooEarly,
	selector("InvalidAmount()"):            x402.ReasonPermit2InvalidAmount,
	selector("InvalidNonce()"):             x402.ReasonPermit2InvalidNonce,
	selector("InvalidSignature()"):         x402.ReasonPermit2Signature,
	selector("InvalidSigner()"):            x402.ReasonPermit2Signature,
	selector("InvalidSignatureLength()"):   x402.ReasonPermit2Signature,
	selector("SignatureExpired(uint256)"):  x402.ReasonPermit2DeadlineExpired,
	selector("InvalidAmount(uint256)"):     x402.ReasonPermit2InvalidAmount,
	selector("Permit2612AmountMismatch()"): x402.ReasonPermit2EIP2612AmountMismatch,
}

// reasonForRevert is the code of a settlement that reverted with rev.
func reasonForRevert(rev *evm.RevertError) x402.Reason {
	if sel, ok := rev.Selector(); ok {
		if r, ok := revertReasons[sel]; ok {
			return r
		}
	}
	return x402.ReasonUptoTransactionFailed
}
