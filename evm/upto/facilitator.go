package upto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// FacilitatorConfig configures a [Facilitator] for one chain. Network,
// Backend and Sender are required: the Sender's address is the
// facilitator every payment must name in its witness.
type FacilitatorConfig struct {
	// Network is the chain served, "eip155:<id>".
	Network x402.Network
	// Backend reads chain state.
	Backend evm.ChainBackend
	// Sender sends settlements from the facilitator's key.
	Sender *evm.Sender
	// Assets, if not empty, are the only tokens accepted.
	Assets []evm.Asset
	// SkipSimulation turns off the eth_call of the proxy's settle in
	// Verify (nonce, balance and allowance are still read).
	SkipSimulation bool
	// DeadlineMargin is the least remaining validity accepted; if zero,
	// [evm.DefaultValidBeforeMargin] (6 s, as the reference).
	DeadlineMargin time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Logger receives settlement events. If nil, logs are discarded.
	Logger *slog.Logger
	// ERC6492Factories are the wallet factories whose ERC-6492
	// counterfactual signatures are accepted (their deployment is
	// simulated through Multicall3 at verify and sent before the
	// settlement). Empty refuses every undeployed wallet's signature
	// (eip6492_factory_not_allowed); deployed EIP-1271 wallets are always
	// accepted.
	ERC6492Factories []common.Address
}

// Facilitator is the facilitator's side of the "upto" scheme on one EVM
// chain. It implements [x402.SchemeFacilitator], [x402.Identifier],
// [x402.Reconciler] and [x402.FundsVerifier], so that go402's facilitator
// settles each authorization at most once, reserves the payer's funds for
// the maximum between verify and settle, and records the amount settled.
//
// Verify checks, in @x402/evm's order and with its codes: scheme, network,
// spender (the upto proxy), witness.to = payTo, witness.facilitator = this
// facilitator's sender, deadline (at least DeadlineMargin ahead; go402 also
// refuses one beyond maxTimeoutSeconds), validAfter, permitted amount =
// requirements' amount, token = asset, the EOA signature over Permit2's
// EIP-712 digest; then the chain: the Permit2 nonce unused, the payer's
// balance and Permit2 allowance, the proxy deployed, and a simulation of the
// settlement for the whole maximum.
//
// Settle runs the same checks with the requirements' amount as the amount
// to transfer (at most the permitted one), and calls the proxy's settle.
type Facilitator struct {
	cfg     FacilitatorConfig
	chainID uint64
	log     *slog.Logger
}

// NewFacilitator checks cfg, including that the backend and the sender are
// on the configured chain.
func NewFacilitator(ctx context.Context, cfg FacilitatorConfig) (*Facilitator, error) {
	if cfg.Backend == nil || cfg.Sender == nil {
		return nil, errors.New("evm/upto: facilitator: a Backend and a Sender are required")
	}
	chainID, err := cfg.Network.ChainID()
	if err != nil {
		return nil, fmt.Errorf("evm/upto: facilitator: %w", err)
	}
	got, err := cfg.Backend.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("evm/upto: facilitator: reading chain id: %w", err)
	}
	if !got.IsUint64() || got.Uint64() != chainID || !cfg.Sender.ChainID().IsUint64() || cfg.Sender.ChainID().Uint64() != chainID {
		return nil, fmt.Errorf("%w: configured %s, backend on %s, sender for %s", evm.ErrChainIDMismatch, cfg.Network, got, cfg.Sender.ChainID())
	}
	if probs := evm.CheckAssets(cfg.Assets); len(probs) > 0 {
		return nil, fmt.Errorf("evm/upto: facilitator: assets[%d].%s: %s", probs[0].Index, probs[0].Field, probs[0].Message)
	}
	if cfg.DeadlineMargin == 0 {
		cfg.DeadlineMargin = evm.DefaultValidBeforeMargin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Facilitator{cfg: cfg, chainID: chainID, log: log.With("component", "evm-upto", "network", string(cfg.Network))}, nil
}

// Scheme returns "upto".
func (f *Facilitator) Scheme() string { return Scheme }

// Address is the facilitator's address: the sender of its settlements,
// which payers name as witness.facilitator.
func (f *Facilitator) Address() common.Address { return f.cfg.Sender.Address() }

// Signers returns the address that sends settlements.
func (f *Facilitator) Signers() []string { return []string{f.Address().Hex()} }

// SupportedExtra is the extra of the facilitator's /supported "upto" kind:
// {"facilitatorAddress": Address}, which servers put in their requirements.
func (f *Facilitator) SupportedExtra(x402.Network) x402.Object {
	o, _ := x402.NewObject(map[string]string{"facilitatorAddress": f.Address().Hex()})
	return o
}

// rejection is a verdict against a payment: a reason code and a message.
type rejection struct {
	reason x402.Reason
	msg    string
}

func reject(reason x402.Reason, format string, args ...any) *rejection {
	return &rejection{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// checked is a payment that passed the local checks.
type checked struct {
	d   *Decoded
	sig *evm.SignatureCheck // set once checkSignature accepted it
	// extensions are the payment's; sponsor is its eip2612GasSponsoring
	// permit, set by checkChain when the allowance is short.
	extensions x402.Object
	sponsor    *permit2.GasSponsoring
	balance    *big.Int // set once checkChain read it
}

// Verify checks a payment without moving funds.
func (f *Facilitator) Verify(ctx context.Context, p *x402.Payment) (*x402.VerifyResponse, error) {
	resp, _, err := f.VerifyFunds(ctx, p)
	return resp, err
}

// VerifyFunds is Verify, also reporting the authorization's key, its
// maximum, its deadline and the payer's balance (see [x402.FundsVerifier]):
// go402's facilitator holds the maximum until the payment settles.
func (f *Facilitator) VerifyFunds(ctx context.Context, p *x402.Payment) (*x402.VerifyResponse, *x402.Funds, error) {
	c, rej := f.checkLocal(p, false)
	var err error
	if rej == nil {
		rej, err = f.checkSignature(ctx, c)
	}
	if rej == nil && err == nil {
		rej, err = f.checkChain(ctx, c, c.d.Permit.Amount, !f.cfg.SkipSimulation)
	}
	if err != nil {
		return nil, nil, err
	}
	resp := &x402.VerifyResponse{IsValid: rej == nil}
	if c != nil {
		resp.Payer = c.d.Permit.From.Hex()
	}
	if rej != nil {
		resp.InvalidReason, resp.InvalidMessage = rej.reason, rej.msg
	}
	var funds *x402.Funds
	if c != nil && c.balance != nil && c.d.Permit.Deadline.IsInt64() {
		funds = &x402.Funds{
			Key: key(p.Requirements.Network, &c.d.Permit), Amount: new(big.Int).Set(c.d.Permit.Amount),
			Balance: c.balance, Expires: time.Unix(c.d.Permit.Deadline.Int64(), 0),
		}
	}
	return resp, funds, nil
}

// FundsReasons returns the scheme's insufficient-balance and nonce-used
// codes (see [x402.FundsVerifier]).
func (f *Facilitator) FundsReasons() (insufficient, used x402.Reason) {
	return x402.ReasonPermit2InsufficientFunds, x402.ReasonPermit2InvalidNonce
}

// checkLocal runs every check that needs no chain access. At settle time
// (settle set) the requirements' amount is the amount to transfer, which
// must not exceed the permitted one; at verify time it must equal it. The
// decoded payment is returned whenever the payload decoded, so that the
// payer can be reported.
func (f *Facilitator) checkLocal(p *x402.Payment, settle bool) (*checked, *rejection) {
	req := &p.Requirements
	if p.Accepted.Scheme != Scheme || req.Scheme != Scheme {
		return nil, reject(x402.ReasonUptoScheme, "scheme is %q, requirements say %q; this facilitator handles %q", p.Accepted.Scheme, req.Scheme, Scheme)
	}
	if p.Version != x402.V2 {
		return nil, reject(x402.ReasonUptoScheme, "the upto scheme has no x402 v%d form", p.Version)
	}
	if p.Accepted.Network != req.Network || req.Network != f.cfg.Network {
		return nil, reject(x402.ReasonUptoNetworkMismatch, "payment is for %s, requirements for %s, this facilitator settles on %s", p.Accepted.Network, req.Network, f.cfg.Network)
	}
	asset, payTo := common.HexToAddress(req.Asset), common.HexToAddress(req.PayTo)
	if !common.IsHexAddress(req.Asset) || !common.IsHexAddress(req.PayTo) {
		return nil, reject(x402.ReasonInvalidPaymentRequirements, "asset %.64q or payTo %.64q is not an address", req.Asset, req.PayTo)
	}
	if !f.accepts(asset) {
		return nil, reject(x402.ReasonInvalidPaymentRequirements, "asset %s is not accepted by this facilitator on %s", asset.Hex(), f.cfg.Network)
	}
	d, err := decode(p)
	if err != nil {
		return nil, reject(x402.ReasonInvalidPayload, "%v", err)
	}
	c := &checked{d: d, extensions: p.Extensions}
	pm := &d.Permit
	now := f.cfg.Now()
	timeout := req.MaxTimeoutSeconds
	if settle && timeout == 0 {
		// A server may send settle-time requirements without a timeout
		// (the spec's example does): the accepted one bounds the deadline.
		timeout = p.Accepted.MaxTimeoutSeconds
	}
	switch {
	case pm.Spender != ProxyAddress():
		return c, reject(x402.ReasonPermit2Spender, "spender is %s, not the upto proxy %s", pm.Spender.Hex(), permit2.UptoProxyHex)
	case pm.To != payTo:
		return c, reject(x402.ReasonPermit2RecipientMismatch, "witness pays %s but the requirements say payTo %s", pm.To.Hex(), payTo.Hex())
	case pm.Facilitator != f.Address():
		return c, reject(x402.ReasonUptoFacilitatorMismatch, "witness names facilitator %s; this facilitator settles from %s", pm.Facilitator.Hex(), f.Address().Hex())
	case cmpUnix(pm.Deadline, now.Add(f.cfg.DeadlineMargin).Unix()) < 0:
		return c, reject(x402.ReasonPermit2DeadlineExpired, "deadline %s is less than %s from now", pm.Deadline, f.cfg.DeadlineMargin)
	case cmpUnix(pm.Deadline, now.Add(evm.ValidBeforeSkew).Unix()+int64(timeout)) > 0:
		// go402 hardening, as for exact: an authorization valid far beyond
		// maxTimeoutSeconds could be held and settled much later.
		return c, reject(x402.ReasonPermit2DeadlineExpired, "deadline %s is later than maxTimeoutSeconds (%d s) plus %s from now", pm.Deadline, timeout, evm.ValidBeforeSkew)
	case cmpUnix(pm.ValidAfter, now.Unix()) > 0:
		return c, reject(x402.ReasonPermit2NotYetValid, "authorization is not valid until %s", pm.ValidAfter)
	case !settle && pm.Amount.Cmp(req.Amount.Big()) != 0:
		return c, reject(x402.ReasonPermit2AmountMismatch, "permitted amount %s differs from the required maximum %s", pm.Amount, req.Amount)
	case settle && pm.Amount.Cmp(req.Amount.Big()) < 0:
		return c, reject(x402.ReasonUptoSettlementExceedsAmount, "settlement amount %s is more than the %s permitted", req.Amount, pm.Amount)
	case pm.Token != asset:
		return c, reject(x402.ReasonPermit2TokenMismatch, "permitted token %s is not the asset %s", pm.Token.Hex(), asset.Hex())
	}
	return c, nil
}

// checkSignature checks that the payer signed the permit: an EOA's
// 65-byte signature over its EIP-712 digest without chain access, else a
// smart wallet's (EIP-1271, or ERC-6492 from an allowed factory) through
// the chain (see [evm.CheckTypedSignature]). It records in c the signature
// to submit and any wallet deployment the settlement needs first.
func (f *Facilitator) checkSignature(ctx context.Context, c *checked) (*rejection, error) {
	pm := &c.d.Permit
	digest, err := pm.Digest(f.chainID)
	if err != nil {
		return reject(x402.ReasonInvalidPayload, "%v", err), nil
	}
	opts := evm.SignatureOptions{AllowedFactories: f.cfg.ERC6492Factories, From: f.Address()}
	if len(f.cfg.ERC6492Factories) > 0 {
		opts.Multicall = evm.Multicall3Address()
	}
	chk, err := evm.CheckTypedSignature(ctx, f.cfg.Backend, pm.From, digest, c.d.Signature, opts)
	if errors.Is(err, evm.ErrInvalidSignature) {
		return reject(evm.SignatureReason(err, x402.ReasonPermit2Signature), "%v", err), nil
	}
	if err != nil {
		return nil, fmt.Errorf("evm/upto: checking the signature: %w", err)
	}
	c.sig = chk
	return nil, nil
}

func (f *Facilitator) accepts(asset common.Address) bool {
	if len(f.cfg.Assets) == 0 {
		return true
	}
	for _, a := range f.cfg.Assets {
		if a.Address == asset {
			return true
		}
	}
	return false
}

// cmpUnix compares a uint256 time with a Unix time.
func cmpUnix(v *big.Int, t int64) int {
	if t < 0 {
		return 1
	}
	return v.Cmp(big.NewInt(t))
}
