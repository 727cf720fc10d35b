package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// Permit2Config configures the "exact" payments over Permit2 of an
// [ExactFacilitator]. The zero value accepts them, with the
// eip2612GasSponsoring extension, on a chain where Permit2 and the x402
// exact Permit2 proxy are deployed at their canonical addresses.
type Permit2Config struct {
	// Disabled refuses Permit2 payloads (unsupported_payload_type).
	Disabled bool
	// NoGasSponsoring ignores the eip2612GasSponsoring extension (a payer
	// without a Permit2 allowance is then refused with
	// permit2_allowance_required) and does not advertise it.
	NoGasSponsoring bool
}

// SupportedExtensions returns the extensions this facilitator accepts on
// its network: eip2612GasSponsoring unless Permit2 payments or gas
// sponsoring are turned off (see [Permit2Config]). A facilitator lists them
// in its /supported answer, and a server declares them in its 402s.
func (f *ExactFacilitator) SupportedExtensions() []string {
	if f.cfg.Permit2.Disabled || f.cfg.Permit2.NoGasSponsoring {
		return nil
	}
	return []string{permit2.GasSponsoringKey}
}

// p2checked is a Permit2 payment that passed the local checks.
type p2checked struct {
	s       *permit2.Signed // shared with the payment's memo: read-only
	sig     []byte          // an EOA signature as the contract takes it
	sw      *walletSig      // a signature the owner's wallet must accept
	asset   common.Address
	to      common.Address
	sponsor *permit2.GasSponsoring // the payer's EIP-2612 permit, if any
}

// checkPermit2Local runs every check of a Permit2 payment that needs no
// chain access, in the order of @x402/evm 2.27's verifyPermit2: scheme,
// network, spender, recipient, deadline, validAfter, amount, token,
// signature; then the EIP-2612 permit, if the payment carries one.
func (f *ExactFacilitator) checkPermit2Local(p *x402.Payment) (*p2checked, *payloadError) {
	asset, payTo, rej := f.checkPermit2Terms(p)
	if rej != nil {
		return nil, rej
	}
	s, err := decodePermit2(p)
	if err != nil {
		return nil, asReject(err)
	}
	c := &p2checked{s: s, asset: asset, to: exactWitness(s).To}
	if rej := f.checkPermit2Message(p, c, payTo); rej != nil {
		return c, rej
	}
	digest, err := s.Permit.Digest(f.chainID)
	if err != nil {
		return c, reject(x402.ReasonExactEVMPayload, "%v", err)
	}
	if signer, err := permit2.Recover(digest, s.Signature); err == nil && signer == s.From {
		c.sig = append([]byte(nil), s.Signature...)
		if c.sig[64] < 27 {
			c.sig[64] += 27 // Permit2 hands v to ecrecover, which wants 27 or 28
		}
	} else {
		// Not the owner's ECDSA signature: maybe its smart wallet's
		// (EIP-1271, ERC-6492), which checkPermit2Chain asks first.
		c.sw = &walletSig{digest: digest, sig: s.Signature}
	}
	if !f.cfg.Permit2.NoGasSponsoring {
		if c.sponsor, rej = f.checkSponsor(p, c); rej != nil {
			return c, rej
		}
	}
	return c, nil
}

// checkPermit2Terms checks the requirements of a Permit2 payment.
func (f *ExactFacilitator) checkPermit2Terms(p *x402.Payment) (asset, payTo common.Address, rej *payloadError) {
	req := &p.Requirements
	if p.Accepted.Scheme != SchemeExact || req.Scheme != SchemeExact {
		return asset, payTo, reject(x402.ReasonUnsupportedPayloadType, "scheme is %q, requirements say %q; this facilitator handles %q", p.Accepted.Scheme, req.Scheme, SchemeExact)
	}
	if p.Accepted.Network != req.Network || req.Network != f.cfg.Network {
		return asset, payTo, reject(x402.ReasonExactEVMNetworkMismatch, "payment is for %s, requirements for %s, this facilitator settles on %s", p.Accepted.Network, req.Network, f.cfg.Network)
	}
	if f.cfg.Permit2.Disabled {
		return asset, payTo, reject(x402.ReasonUnsupportedPayloadType, "this facilitator does not settle Permit2 payments")
	}
	extra, err := f.extras.decode(req.Extra)
	if err != nil {
		return asset, payTo, reject(x402.ReasonInvalidPaymentRequirements, "requirements extra is malformed: %v", err)
	}
	if extra.AssetTransferMethod != TransferPermit2 {
		return asset, payTo, reject(x402.ReasonUnsupportedPayloadType, "a Permit2 payload, but the requirements' assetTransferMethod is %q", extra.AssetTransferMethod)
	}
	var ok bool
	if asset, ok = hexAddress(req.Asset); !ok {
		return asset, payTo, reject(x402.ReasonInvalidPaymentRequirements, "asset %q is not an address", req.Asset)
	}
	if payTo, ok = hexAddress(req.PayTo); !ok {
		return asset, payTo, reject(x402.ReasonInvalidPaymentRequirements, "payTo %q is not an address", req.PayTo)
	}
	if rej := f.checkPermit2Asset(asset, extra); rej != nil {
		return asset, payTo, rej
	}
	if req.Amount.IsZero() {
		return asset, payTo, reject(x402.ReasonInvalidPaymentRequirements, "amount must be positive")
	}
	return asset, payTo, nil
}

// checkPermit2Asset applies the asset allowlist to a Permit2 payment. Its
// requirements name the token's EIP-712 domain only for EIP-2612 tokens
// (as the reference announces them): without a name and version only the
// address is checked.
func (f *ExactFacilitator) checkPermit2Asset(asset common.Address, extra exactExtra) *payloadError {
	if extra.Name != "" || extra.Version != "" || len(f.cfg.Assets) == 0 {
		return f.checkAsset(asset, extra)
	}
	for _, a := range f.cfg.Assets {
		if a.Address == asset {
			return nil
		}
	}
	return reject(x402.ReasonInvalidPaymentRequirements, "asset %s is not accepted by this facilitator on %s", asset.Hex(), f.cfg.Network)
}

// checkPermit2Message checks the signed message against the requirements.
func (f *ExactFacilitator) checkPermit2Message(p *x402.Payment, c *p2checked, payTo common.Address) *payloadError {
	m, w := &c.s.Permit, exactWitness(c.s)
	if m.Spender != permit2Spender() {
		return reject(x402.ReasonPermit2Spender, "spender is %s, not the x402 exact Permit2 proxy %s", m.Spender.Hex(), permit2Spender().Hex())
	}
	if w.To != payTo {
		return reject(x402.ReasonPermit2RecipientMismatch, "witness pays %s but the requirements say payTo %s", w.To.Hex(), payTo.Hex())
	}
	now := f.cfg.Now()
	if cmpUnix(m.Deadline, now.Add(f.cfg.ValidBeforeMargin).Unix()) < 0 {
		return reject(x402.ReasonPermit2DeadlineExpired, "permit deadline %s is less than %s from now", m.Deadline, f.cfg.ValidBeforeMargin)
	}
	// go402 hardening, as for EIP-3009: no permit valid far beyond the
	// server's timeout, which could be held back and replayed later.
	if cmpUnix(m.Deadline, now.Add(ValidBeforeSkew).Unix()+int64(p.Requirements.MaxTimeoutSeconds)) > 0 {
		return reject(x402.ReasonPermit2DeadlineExpired, "permit is valid until %s, later than maxTimeoutSeconds (%d s) plus %s from now", m.Deadline, p.Requirements.MaxTimeoutSeconds, ValidBeforeSkew)
	}
	if cmpUnix(w.ValidAfter, now.Unix()) > 0 {
		return reject(x402.ReasonPermit2NotYetValid, "payment is not valid until %s", w.ValidAfter)
	}
	if amt, err := x402.AmountFromBig(m.Amount); err != nil || amt != p.Requirements.Amount {
		return reject(x402.ReasonPermit2AmountMismatch, "permitted amount %s differs from the required amount %s", m.Amount, p.Requirements.Amount)
	}
	if m.Token != c.asset {
		return reject(x402.ReasonPermit2TokenMismatch, "permitted token %s is not the asset %s", m.Token.Hex(), c.asset.Hex())
	}
	return nil
}

// checkSponsor reads and checks the payment's eip2612GasSponsoring
// extension, as @x402/evm 2.27 does (format, owner, asset, spender,
// deadline), and also its value (the proxy requires it to equal the
// permitted amount) and its signature (by the owner, in the token's
// EIP-712 domain named by requirements.extra). nil without the extension.
func (f *ExactFacilitator) checkSponsor(p *x402.Payment, c *p2checked) (*permit2.GasSponsoring, *payloadError) {
	g, err := permit2.ParseGasSponsoring(p.Extensions)
	if err != nil {
		return nil, reject(x402.ReasonEIP2612InvalidFormat, "%v", err)
	}
	if g == nil {
		return nil, nil
	}
	switch {
	case g.Permit.Owner != c.s.From:
		return nil, reject(x402.ReasonEIP2612FromMismatch, "permit owner %s is not the payer %s", g.Permit.Owner.Hex(), c.s.From.Hex())
	case g.Asset != c.asset:
		return nil, reject(x402.ReasonEIP2612AssetMismatch, "permit is for %s, not the asset %s", g.Asset.Hex(), c.asset.Hex())
	case g.Permit.Spender != permit2.Address():
		return nil, reject(x402.ReasonEIP2612SpenderNotPermit2, "permit spender %s is not Permit2", g.Permit.Spender.Hex())
	case cmpUnix(g.Permit.Deadline, f.cfg.Now().Add(f.cfg.ValidBeforeMargin).Unix()) < 0:
		return nil, reject(x402.ReasonEIP2612DeadlineExpired, "permit deadline %s is less than %s from now", g.Permit.Deadline, f.cfg.ValidBeforeMargin)
	case g.Permit.Value.Cmp(c.s.Permit.Amount) != 0:
		return nil, reject(x402.ReasonPermit2EIP2612AmountMismatch, "EIP-2612 permit value %s differs from the Permit2 amount %s", g.Permit.Value, c.s.Permit.Amount)
	}
	extra, _ := f.extras.decode(p.Requirements.Extra) // decoded before
	digest, err := g.Permit.Digest(permit2.TokenDomainSeparator(extra.Name, extra.Version, f.chainID, c.asset))
	if err != nil {
		return nil, reject(x402.ReasonEIP2612InvalidFormat, "%v", err)
	}
	if signer, err := permit2.Recover(digest, g.Signature[:]); err != nil || signer != c.s.From {
		return nil, reject(x402.ReasonEIP2612InvalidFormat, "the EIP-2612 permit is not signed by the payer in the token's domain (%q, %q)", extra.Name, extra.Version)
	}
	return g, nil
}

// Selectors of the Permit2 chain reads.
var (
	selNonceBitmap = selector("nonceBitmap(address,uint256)")
	selPERMIT2     = selector("PERMIT2()")
)

// settlement returns the proxy call that settles c.
func (c *p2checked) settlement() *permit2.Settlement {
	sig := c.sig
	if c.sw != nil && c.sw.check != nil {
		sig = c.sw.check.Signature // for ERC-6492, the inner signature
	}
	return &permit2.Settlement{Owner: c.s.From, Permit: &c.s.Permit, Signature: sig, Sponsor: c.sponsor}
}

// settleCall is the call that settles c: the proxy call or, for an
// undeployed smart wallet (ERC-6492), aggregate3 of the wallet's
// deployment (allowed to fail: someone may have deployed it meanwhile)
// and the proxy call (required to succeed), so that neither happens
// without the other.
func (c *p2checked) settleCall(multicall common.Address) (common.Address, []byte, error) {
	data, err := permit2.PackSettle(c.settlement())
	if err != nil {
		return common.Address{}, nil, err
	}
	if c.sw == nil || c.sw.check == nil || c.sw.check.Deploy == nil {
		return permit2Spender(), data, nil
	}
	if multicall == (common.Address{}) {
		return common.Address{}, nil, fmt.Errorf("evm: deploying wallet %s: %w", c.s.From.Hex(), ErrNoSimulator)
	}
	d := c.sw.check.Deploy
	agg, err := packCalls([]call3{
		{Target: d.Factory, AllowFailure: true, CallData: d.FactoryCalldata},
		{Target: permit2Spender(), AllowFailure: false, CallData: data},
	})
	if err != nil {
		return common.Address{}, nil, err
	}
	return multicall, agg, nil
}

// checkPermit2Wallet asks the owner's wallet about a signature that is
// not its ECDSA one (once per checked payment).
func (f *ExactFacilitator) checkPermit2Wallet(ctx context.Context, c *p2checked) (*payloadError, error) {
	if c.sw == nil || c.sw.check != nil {
		return nil, nil
	}
	chk, err := CheckTypedSignature(ctx, f.cfg.Backend, c.s.From, c.sw.digest, c.sw.sig, f.walletSigOptions())
	if err != nil {
		if errors.Is(err, ErrInvalidSignature) {
			return reject(SignatureReason(err, x402.ReasonPermit2Signature), "%v", err), nil
		}
		return nil, err
	}
	c.sw.check = chk
	return nil, nil
}

// checkPermit2Chain reads, in one round trip where the backend allows, the
// exact proxy's PERMIT2(), the owner's Permit2 nonce bit, balance and
// allowance to Permit2 and, if simulate, the proxy call itself. The
// verdict follows: proxy deployed, nonce unused, balance, allowance (unless
// an EIP-2612 permit comes with the payment), simulation.
func (f *ExactFacilitator) checkPermit2Chain(ctx context.Context, c *p2checked, simulate bool) (*payloadError, error) {
	if rej, err := f.checkPermit2Wallet(ctx, c); rej != nil || err != nil {
		return rej, err
	}
	proxy, p2, owner := permit2Spender(), permit2.Address(), c.s.From
	reads := []*ethCall{
		{msg: ethereum.CallMsg{To: &proxy, Data: selPERMIT2[:]}},
		{msg: ethereum.CallMsg{To: &p2, Data: packNonceBitmap(owner, c.s.Permit.Nonce)}},
		{msg: ethereum.CallMsg{To: &c.asset, Data: packBalanceOf(owner)}},
		{msg: ethereum.CallMsg{To: &c.asset, Data: packAddressArgs(selAllowance, owner, p2)}},
	}
	calls := reads
	var sim *ethCall
	if simulate {
		to, data, err := c.settleCall(f.walletMulticall)
		if err != nil {
			return reject(x402.ReasonExactEVMPayload, "%v", err), nil
		}
		sim = &ethCall{msg: ethereum.CallMsg{To: &to, Data: data}, transfer: true, payer: owner, payee: c.to}
		calls = append(calls, sim)
	}
	if err := f.reads.call(ctx, calls...); err != nil {
		return nil, fmt.Errorf("evm: reading chain state: %w", err)
	}
	words := make([]*big.Int, len(reads))
	for i, r := range reads {
		if r.err != nil && revertFromError(r.err) == nil {
			return nil, fmt.Errorf("evm: reading chain state: %w", r.err)
		}
		if r.err == nil && len(r.out) == 32 {
			words[i] = new(big.Int).SetBytes(r.out)
		}
	}
	if allowance := words[3]; c.sponsor != nil && allowance != nil && allowance.Cmp(c.s.Permit.Amount) >= 0 {
		// The payer's allowance suffices: settle without submitting the
		// permit, which would only cost gas (and the permit stays unused).
		c.sponsor = nil
	}
	return permit2Verdict(c, words, sim), nil
}

// permit2Verdict judges the reads of checkPermit2Chain (a nil word is a
// read that reverted or answered something else than one word).
func permit2Verdict(c *p2checked, words []*big.Int, sim *ethCall) *payloadError {
	proxyP2, bitmap, balance, allowance := words[0], words[1], words[2], words[3]
	amount := c.s.Permit.Amount
	switch {
	case proxyP2 == nil || common.BigToAddress(proxyP2) != permit2.Address():
		return reject(x402.ReasonPermit2ProxyNotDeployed, "the x402 exact Permit2 proxy is not deployed at %s on this chain", permit2Spender().Hex())
	case bitmap == nil:
		return reject(x402.ReasonPermit2ProxyNotDeployed, "Permit2 is not deployed at %s on this chain", permit2.AddressHex)
	case nonceBitSet(bitmap, c.s.Permit.Nonce):
		return reject(x402.ReasonPermit2InvalidNonce, "Permit2 nonce %s of %s is already used", c.s.Permit.Nonce, c.s.From.Hex())
	case balance == nil || allowance == nil:
		return reject(x402.ReasonPermit2SimulationFailed, "asset %s does not answer balanceOf and allowance as an ERC-20", c.asset.Hex())
	case balance.Cmp(amount) < 0:
		return reject(x402.ReasonPermit2InsufficientFunds, "payer balance %s is less than %s", balance, amount)
	case allowance.Cmp(amount) < 0 && c.sponsor == nil:
		return reject(x402.ReasonPermit2AllowanceRequired, "the payer's allowance to Permit2 is %s, less than %s, and the payment carries no EIP-2612 permit (eip2612GasSponsoring)", allowance, amount)
	}
	if sim == nil || sim.err == nil {
		return nil
	}
	if rev := revertFromError(sim.err); rev != nil {
		return reject(permit2RevertReason(rev, true), "simulated settlement reverted: %s", rev.Error())
	}
	return reject(x402.ReasonPermit2SimulationFailed, "simulating the settlement: %v", sim.err)
}

// verifyPermit2 is Verify for a Permit2 payment.
func (f *ExactFacilitator) verifyPermit2(ctx context.Context, p *x402.Payment) (*x402.VerifyResponse, error) {
	c, rej := f.checkPermit2Local(p)
	if rej == nil {
		var err error
		if rej, err = f.checkPermit2Chain(ctx, c, !f.cfg.SkipSimulation); err != nil {
			return nil, err
		}
	}
	resp := &x402.VerifyResponse{IsValid: rej == nil}
	if c != nil {
		resp.Payer = c.s.From.Hex()
	}
	if rej != nil {
		resp.InvalidReason, resp.InvalidMessage = rej.reason, rej.msg
	}
	return resp, nil
}

// packNonceBitmap is the calldata of Permit2's nonceBitmap(owner, wordPos)
// for the word holding nonce's bit.
func packNonceBitmap(owner common.Address, nonce *big.Int) []byte {
	args := make([]byte, 4+64)
	copy(args, selNonceBitmap[:])
	copy(args[4+12:], owner[:])
	new(big.Int).Rsh(nonce, 8).FillBytes(args[4+32:])
	return args
}

// nonceBitSet reports whether nonce's bit is set in its bitmap word.
func nonceBitSet(word, nonce *big.Int) bool {
	return word.Bit(int(new(big.Int).And(nonce, big.NewInt(0xff)).Int64())) != 0
}
