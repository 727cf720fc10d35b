package evm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// SchemeExact is the name of the x402 "exact" scheme.
const SchemeExact = "exact"

// MaxClientValiditySeconds caps how long an authorization signed by
// [ExactClient] stays valid, whatever maxTimeoutSeconds the server asks for:
// validBefore is now + min(maxTimeoutSeconds, 3600 s). A server asking for
// longer still gets a payment; it must settle it within the hour.
const MaxClientValiditySeconds = 3600

// ValidBeforeSkew is the clock skew [ExactFacilitator] tolerates above
// now + maxTimeoutSeconds when it checks how long an authorization stays
// valid. An authorization valid for longer is refused (reason
// invalid_exact_evm_payload_authorization_valid_before): a payment that
// stays valid long after the server's timeout could be held back and
// replayed against a serve-then-settle server. The reference
// implementation has no such upper bound; its clients sign
// validBefore = now + maxTimeoutSeconds, which passes.
const ValidBeforeSkew = 60 * time.Second

// validAfterSkew is how far in the past a client dates validAfter, so that
// a payment is valid at once even on a chain whose clock lags (reference: 600 s).
const validAfterSkew = 600 * time.Second

// ExactPayload is the payload object of an "exact" EVM payment over EIP-3009:
// a signature and the authorization it signs, all as strings on the wire.
type ExactPayload struct {
	Signature     string                    `json:"signature"`
	Authorization ExactPayloadAuthorization `json:"authorization"`
}

// ExactPayloadAuthorization is the wire form of an EIP-3009 authorization:
// addresses as hex, integers as decimal strings, the nonce as 0x-hex.
type ExactPayloadAuthorization struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Value       string `json:"value"`
	ValidAfter  string `json:"validAfter"`
	ValidBefore string `json:"validBefore"`
	Nonce       string `json:"nonce"`
}

// exactExtra is the part of requirements.extra the exact scheme reads.
type exactExtra struct {
	Name                string `json:"name"`
	Version             string `json:"version"`
	AssetTransferMethod string `json:"assetTransferMethod"`
}

// payloadError is a reason code with a message, produced while decoding or
// checking a payment.
type payloadError struct {
	reason x402.Reason
	msg    string
}

func (e *payloadError) Error() string { return string(e.reason) + ": " + e.msg }

func reject(reason x402.Reason, format string, args ...any) *payloadError {
	return &payloadError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// parseUint256 parses a decimal uint256 string.
func parseUint256(s string) (*big.Int, bool) {
	a, err := x402.ParseAmount(s)
	if err != nil {
		return nil, false
	}
	return a.Big(), true
}

// decodeAuthorization turns the wire payload into typed values.
func decodeAuthorization(p *ExactPayload) (*Authorization, error) {
	auth := &Authorization{}
	var ok bool
	if auth.From, ok = hexAddress(p.Authorization.From); !ok {
		return nil, reject(x402.ReasonExactEVMPayload, "authorization.from %q is not an address", p.Authorization.From)
	}
	if auth.To, ok = hexAddress(p.Authorization.To); !ok {
		return nil, reject(x402.ReasonExactEVMPayload, "authorization.to %q is not an address", p.Authorization.To)
	}
	if auth.Value, ok = parseUint256(p.Authorization.Value); !ok {
		return nil, reject(x402.ReasonExactEVMPayload, "authorization.value %q is not a decimal uint256", p.Authorization.Value)
	}
	if auth.ValidAfter, ok = parseUint256(p.Authorization.ValidAfter); !ok {
		return nil, reject(x402.ReasonExactEVMPayload, "authorization.validAfter %q is not a decimal uint256", p.Authorization.ValidAfter)
	}
	if auth.ValidBefore, ok = parseUint256(p.Authorization.ValidBefore); !ok {
		return nil, reject(x402.ReasonExactEVMPayload, "authorization.validBefore %q is not a decimal uint256", p.Authorization.ValidBefore)
	}
	nonce, err := hexutil.Decode(p.Authorization.Nonce)
	if err != nil || len(nonce) != 32 {
		return nil, reject(x402.ReasonExactEVMPayload, "authorization.nonce must be 32 bytes of 0x-hex")
	}
	copy(auth.Nonce[:], nonce)
	return auth, nil
}

// ExactClient is the payer's side of the "exact" scheme: it signs EIP-3009
// authorizations for payment requirements. It implements [x402.SchemeClient].
type ExactClient struct {
	signer  Signer
	now     func() time.Time
	rand    io.Reader
	domains *DomainCache
	chains  *ChainClients
}

// ExactClientConfig configures an [ExactClient]. Signer is required.
type ExactClientConfig struct {
	// Signer signs the authorizations; its address is the payer.
	Signer Signer
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Rand is the source of authorization nonces. If nil, crypto/rand.
	Rand io.Reader
	// RPCURLs are JSON-RPC endpoints by network ("eip155:8453"), with which
	// [ExactClient.AuthorizationState] reads whether an authorization it
	// signed was used. A network without one cannot be read. Optional.
	RPCURLs map[x402.Network]string
}

// NewExactClient returns a client-side "exact" scheme.
func NewExactClient(cfg ExactClientConfig) (*ExactClient, error) {
	if cfg.Signer == nil {
		return nil, errors.New("evm: exact client: a Signer is required")
	}
	c := &ExactClient{signer: cfg.Signer, now: cfg.Now, rand: cfg.Rand, domains: NewDomainCache(0), chains: NewChainClients(cfg.RPCURLs)}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c, nil
}

// Scheme returns "exact".
func (c *ExactClient) Scheme() string { return SchemeExact }

// Address returns the payer's address.
func (c *ExactClient) Address() common.Address { return c.signer.Address() }

// CreatePayload signs an EIP-3009 authorization paying req: value = amount,
// to = payTo, validAfter = now-600 s, validBefore = now + maxTimeoutSeconds
// capped at [MaxClientValiditySeconds] (one hour), a random 32-byte nonce,
// in the domain named by extra.name and extra.version on the chain of
// req.Network with the asset as verifying contract. For requirements whose
// extra.assetTransferMethod is "permit2" it signs a Permit2 transfer
// instead (see [ExactClient.CreatePayloadExtensions]); any other method is
// refused.
func (c *ExactClient) CreatePayload(ctx context.Context, version int, req x402.PaymentRequirements) (x402.Object, error) {
	t, err := checkExactTerms(req)
	if err != nil {
		return nil, err
	}
	if t.extra.AssetTransferMethod == TransferPermit2 {
		payload, _, err := c.createPermit2(ctx, req, t, nil)
		return payload, err
	}
	chainID, asset, payTo, extra := t.chainID, t.asset, t.payTo, t.extra
	// A server cannot obtain a long-lived authorization: validity is capped.
	timeout := min(req.MaxTimeoutSeconds, MaxClientValiditySeconds)
	now := c.now().Unix()
	auth := &Authorization{
		From:        c.signer.Address(),
		To:          payTo,
		Value:       req.Amount.Big(),
		ValidAfter:  big.NewInt(max(now-int64(validAfterSkew/time.Second), 0)),
		ValidBefore: big.NewInt(now + int64(timeout)),
	}
	if _, err := io.ReadFull(c.rand, auth.Nonce[:]); err != nil {
		return nil, fmt.Errorf("evm: reading a random nonce: %w", err)
	}
	domain := Domain{Name: extra.Name, Version: extra.Version, ChainID: chainID, VerifyingContract: asset}
	if ws, ok := c.signer.(WalletSigner); ok {
		raw, err := SignWalletAuthorization(ctx, ws, domain, auth)
		if err != nil {
			return nil, err
		}
		p := EncodeExactPayload(auth, Signature{})
		p.Signature = walletSignatureHex(raw)
		return x402.NewObject(p)
	}
	sig, err := SignAuthorization(ctx, c.signer, domain, auth)
	if err != nil {
		return nil, err
	}
	return x402.NewObject(EncodeExactPayload(auth, sig))
}

// CanPay reports, without signing, whether [ExactClient.CreatePayload]
// would sign req: the scheme, the network's chain id, the addresses, the
// EIP-712 name and version in extra and the transfer method. A client
// uses it to skip what it cannot pay before reserving anything.
func (c *ExactClient) CanPay(version int, req x402.PaymentRequirements) error {
	_, err := checkExactTerms(req)
	return err
}

// Payer returns the payer's address in hex.
func (c *ExactClient) Payer() string { return c.signer.Address().Hex() }

// RegisterExactClient registers an [ExactClient] built from cfg in a
// client-side scheme registry, for x402 v1 and v2 on every eip155
// network: the one registration line of the EVM "exact" scheme on the
// payer's side.
func RegisterExactClient(reg *x402.Registry[x402.SchemeClient], cfg ExactClientConfig) error {
	c, err := NewExactClient(cfg)
	if err != nil {
		return err
	}
	for _, v := range []int{x402.V1, x402.V2} {
		if err := reg.Register(v, SchemeExact, "eip155:*", c); err != nil {
			return err
		}
	}
	return nil
}

// exactTerms are the checked terms of "exact" requirements.
type exactTerms struct {
	chainID      uint64
	asset, payTo common.Address
	extra        exactExtra
}

// checkExactTerms checks that req can be paid with an EIP-3009
// authorization or a Permit2 transfer and returns what signing needs.
func checkExactTerms(req x402.PaymentRequirements) (exactTerms, error) {
	var t exactTerms
	if req.Scheme != SchemeExact {
		return t, fmt.Errorf("evm: exact client cannot pay scheme %q", req.Scheme)
	}
	if req.Network.Canonical().Namespace() != x402.NamespaceEIP155 {
		return t, fmt.Errorf("evm: network %q is not an EVM network", req.Network)
	}
	var err error
	if t.chainID, err = req.Network.Canonical().ChainID(); err != nil {
		return t, err
	}
	var ok bool
	if t.asset, ok = hexAddress(req.Asset); !ok {
		return t, fmt.Errorf("evm: asset %q is not an address", req.Asset)
	}
	if t.payTo, ok = hexAddress(req.PayTo); !ok {
		return t, fmt.Errorf("evm: payTo %q is not an address", req.PayTo)
	}
	if !req.Extra.IsNull() {
		if err := req.Extra.Decode(&t.extra); err != nil {
			return t, fmt.Errorf("evm: requirements extra: %w", err)
		}
	}
	// A Permit2 payment is signed in Permit2's domain: the token's own
	// EIP-712 name and version (only announced for EIP-2612 tokens) are
	// needed only for a gas-sponsoring permit.
	if (t.extra.Name == "" || t.extra.Version == "") && t.extra.AssetTransferMethod != TransferPermit2 {
		return t, errors.New("evm: requirements extra lacks the token's EIP-712 name and version")
	}
	if m := t.extra.AssetTransferMethod; m != "" && m != TransferEIP3009 && m != TransferPermit2 {
		return t, fmt.Errorf("evm: transfer method %q is not supported", m)
	}
	if req.MaxTimeoutSeconds <= 0 {
		return t, errors.New("evm: maxTimeoutSeconds must be positive")
	}
	return t, nil
}

// EncodeExactPayload returns the wire form of a signed authorization.
func EncodeExactPayload(a *Authorization, sig Signature) ExactPayload {
	return ExactPayload{
		Signature: sig.Hex(),
		Authorization: ExactPayloadAuthorization{
			From:        a.From.Hex(),
			To:          a.To.Hex(),
			Value:       a.Value.String(),
			ValidAfter:  a.ValidAfter.String(),
			ValidBefore: a.ValidBefore.String(),
			Nonce:       hexutil.Encode(a.Nonce[:]),
		},
	}
}

// decodeExactPayload strictly decodes the payload object: keys that differ
// only in case, which encoding/json would merge, are refused (see
// [x402.Object.Decode]).
func decodeExactPayload(o x402.Object) (*ExactPayload, error) {
	var p ExactPayload
	if err := o.Decode(&p); err != nil {
		return nil, reject(x402.ReasonExactEVMPayload, "payload is not an EIP-3009 authorization: %v", err)
	}
	if p.Signature == "" {
		return nil, reject(x402.ReasonExactEVMMissingSignature, "payload has no signature")
	}
	return &p, nil
}

var _ x402.SchemeClient = (*ExactClient)(nil)
