package evm

// The local half of the exact facilitator's verify: every check that
// needs no chain access.

import (
	"errors"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/x402"
)

// checkLocal runs every check that needs no chain access. It returns the
// decoded payment when the payload could be decoded, even if a later check
// rejected it (so that the payer can be reported).
func (f *ExactFacilitator) checkLocal(p *x402.Payment) (*checked, *payloadError) {
	req := &p.Requirements
	rq, rej := f.checkRequirements(p)
	if rej != nil {
		return nil, rej
	}
	d, err := decodeExact(p)
	if err != nil {
		return nil, asReject(err)
	}
	c := &checked{asset: rq.asset, auth: d.auth}
	auth := c.auth
	if auth.To != rq.payTo {
		return c, reject(x402.ReasonExactEVMRecipientMismatch, "authorization pays %s but the requirements say payTo %s", auth.To.Hex(), rq.payTo.Hex())
	}
	now := f.cfg.Now()
	if cmpUnix(auth.ValidBefore, now.Add(f.cfg.ValidBeforeMargin).Unix()) < 0 {
		return c, reject(x402.ReasonExactEVMValidBefore, "authorization expires at %s, less than %s from now", auth.ValidBefore, f.cfg.ValidBeforeMargin)
	}
	// go402 hardening (the reference has no upper bound): an authorization
	// valid far beyond maxTimeoutSeconds could be held and replayed later.
	if cmpUnix(auth.ValidBefore, now.Add(ValidBeforeSkew).Unix()+int64(req.MaxTimeoutSeconds)) > 0 {
		return c, reject(x402.ReasonExactEVMValidBefore, "authorization is valid until %s, later than maxTimeoutSeconds (%d s) plus %s from now", auth.ValidBefore, req.MaxTimeoutSeconds, ValidBeforeSkew)
	}
	if cmpUnix(auth.ValidAfter, now.Unix()) > 0 {
		return c, reject(x402.ReasonExactEVMValidAfter, "authorization is not valid until %s", auth.ValidAfter)
	}
	if value, err := x402.AmountFromBig(auth.Value); err != nil || value != req.Amount {
		return c, reject(valueMismatchReason(p.Version), "authorization value %s differs from the required amount %s", auth.Value, req.Amount)
	}
	return c, f.checkSignature(c, d, rq)
}

// localRequirements are the parts of the requirements checkLocal reads.
type localRequirements struct {
	asset, payTo common.Address
	extra        exactExtra
}

// checkRequirements checks the scheme, network, token domain, transfer
// method, addresses, asset allowlist and amount of p's requirements.
func (f *ExactFacilitator) checkRequirements(p *x402.Payment) (localRequirements, *payloadError) {
	req := &p.Requirements
	var rq localRequirements
	if p.Accepted.Scheme != SchemeExact || req.Scheme != SchemeExact {
		return rq, reject(x402.ReasonExactEVMScheme, "scheme is %q, requirements say %q; this facilitator handles %q", p.Accepted.Scheme, req.Scheme, SchemeExact)
	}
	if p.Accepted.Network != req.Network {
		return rq, reject(x402.ReasonExactEVMNetworkMismatch, "payment is for %s but the requirements are for %s", p.Accepted.Network, req.Network)
	}
	if req.Network != f.cfg.Network {
		return rq, reject(x402.ReasonExactEVMNetworkMismatch, "this facilitator settles on %s, not %s", f.cfg.Network, req.Network)
	}
	extra, err := f.extras.decode(req.Extra)
	if err != nil {
		return rq, reject(x402.ReasonExactEVMMissingEIP712Domain, "requirements extra is malformed: %v", err)
	}
	if extra.Name == "" || extra.Version == "" {
		return rq, reject(x402.ReasonExactEVMMissingEIP712Domain, "requirements extra must name the token's EIP-712 domain (name and version)")
	}
	if extra.AssetTransferMethod != "" && extra.AssetTransferMethod != TransferEIP3009 {
		return rq, reject(x402.ReasonUnsupportedPayloadType, "transfer method %q is not supported; only %q", extra.AssetTransferMethod, TransferEIP3009)
	}
	asset, ok := hexAddress(req.Asset)
	if !ok {
		return rq, reject(x402.ReasonInvalidPaymentRequirements, "asset %q is not an address", req.Asset)
	}
	payTo, ok := hexAddress(req.PayTo)
	if !ok {
		return rq, reject(x402.ReasonInvalidPaymentRequirements, "payTo %q is not an address", req.PayTo)
	}
	if rej := f.checkAsset(asset, extra); rej != nil {
		return rq, rej
	}
	if req.Amount.IsZero() {
		// A zero transfer moves nothing but still costs the facilitator gas.
		return rq, reject(x402.ReasonInvalidPaymentRequirements, "amount must be positive")
	}
	return localRequirements{asset: asset, payTo: payTo, extra: extra}, nil
}

// checkSignature checks the authorization's signature locally: an EOA
// signature by the payer is recovered here; a smart-wallet signature (or
// an EOA signature by someone else, perhaps the owner of an EIP-1271
// wallet) is recorded in c.sw for checkChain to ask the wallet.
func (f *ExactFacilitator) checkSignature(c *checked, d *exactDecoded, rq localRequirements) *payloadError {
	if d.sigErr != nil {
		return d.sigErr
	}
	domain := Domain{Name: rq.extra.Name, Version: rq.extra.Version, ChainID: f.chainID, VerifyingContract: rq.asset}
	digest, err := TransferWithAuthorizationDigest(f.domains.Separator(domain), c.auth)
	if err != nil {
		return reject(x402.ReasonExactEVMPayload, "%v", err)
	}
	if d.wsig != nil {
		c.sw = &walletSig{digest: digest, sig: d.wsig}
		return nil
	}
	signer, err := RecoverSigner(digest, d.sig)
	if err != nil {
		return reject(x402.ReasonExactEVMSignature, "%v", err)
	}
	c.sig = d.sig
	if signer != c.auth.From {
		// Perhaps the payer is a wallet whose owner signed (EIP-1271):
		// checkChain asks it.
		c.sw = &walletSig{digest: digest, sig: d.sig.Bytes()}
	}
	return nil
}

// valueMismatchReason is the code for an authorization whose value differs
// from the required amount, as the reference answers it: the v1 code for an
// x402 v1 payment, the v2 code otherwise.
func valueMismatchReason(version int) x402.Reason {
	if version == x402.V1 {
		return x402.ReasonExactEVMAuthorizationValue
	}
	return x402.ReasonExactEVMValueMismatch
}

// cmpUnix compares an authorization time (a uint256) with a Unix time.
func cmpUnix(v *big.Int, t int64) int {
	switch {
	case v.Sign() < 0: // not produced by the decoders
		return -1
	case t < 0 || !v.IsUint64():
		return 1
	}
	u, tu := v.Uint64(), uint64(t)
	switch {
	case u < tu:
		return -1
	case u > tu:
		return 1
	}
	return 0
}

// extraCache remembers decoded requirements.extra objects: a facilitator
// sees the same few (one per asset) on every payment.
type extraCache struct {
	mu sync.RWMutex
	m  map[string]exactExtra
}

// maxCachedExtras and maxCachedExtraSize bound extraCache (a real extra is
// a few dozen bytes); other extras are decoded each time.
const (
	maxCachedExtras    = 256
	maxCachedExtraSize = 512
)

// decode decodes raw strictly (see [x402.Object.Decode]); an absent extra
// is the zero exactExtra.
func (c *extraCache) decode(raw x402.Object) (exactExtra, error) {
	if raw.IsNull() {
		return exactExtra{}, nil
	}
	c.mu.RLock()
	e, ok := c.m[string(raw)]
	c.mu.RUnlock()
	if ok {
		return e, nil
	}
	if err := raw.Decode(&e); err != nil {
		return exactExtra{}, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]exactExtra{}
	}
	if len(c.m) < maxCachedExtras && len(raw) <= maxCachedExtraSize {
		c.m[string(raw)] = e
	}
	c.mu.Unlock()
	return e, nil
}

// checkAsset applies the configured asset allowlist.
func (f *ExactFacilitator) checkAsset(asset common.Address, extra exactExtra) *payloadError {
	if len(f.cfg.Assets) == 0 {
		return nil
	}
	for _, a := range f.cfg.Assets {
		if a.Address != asset {
			continue
		}
		if a.Name != extra.Name {
			return reject(x402.ReasonExactEVMTokenNameMismatch, "token %s has EIP-712 name %q, requirements say %q", asset.Hex(), a.Name, extra.Name)
		}
		if a.Version != extra.Version {
			return reject(x402.ReasonExactEVMTokenVersionMismatch, "token %s has EIP-712 version %q, requirements say %q", asset.Hex(), a.Version, extra.Version)
		}
		return nil
	}
	return reject(x402.ReasonInvalidPaymentRequirements, "asset %s is not accepted by this facilitator on %s", asset.Hex(), f.cfg.Network)
}

func asReject(err error) *payloadError {
	var pe *payloadError
	if errors.As(err, &pe) {
		return pe
	}
	return reject(x402.ReasonExactEVMPayload, "%v", err)
}
