package upto

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// ClientConfig configures a [Client]. Signer is required.
type ClientConfig struct {
	// Signer signs the Permit2 authorizations; its address is the payer.
	Signer evm.Signer
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Rand is the source of Permit2 nonces. If nil, crypto/rand.
	Rand io.Reader
	// RPCURLs are JSON-RPC endpoints by network, with which
	// [Client.AuthorizationState] reads whether a Permit2 nonce it signed
	// was used. Optional.
	RPCURLs map[x402.Network]string
}

// Client is the payer's side of the scheme: it signs a Permit2 witness
// transfer of up to the requirements' amount to payTo, settleable only by
// the facilitator the requirements name. It implements [x402.SchemeClient].
//
// A spend policy must reserve an upto payment's maximum (the requirements'
// amount): the server may charge any amount up to it. What was charged is
// known for sure only from the chain: [Client.SettledAmount] reads it from
// the settlement transaction, which the go402 client's budget counts
// instead of the maximum; a settlement of 0 sends nothing and leaves the
// authorization valid until its deadline.
//
// The payer needs an ERC-20 allowance to Permit2 for the asset; the client
// never sends an approve itself.
type Client struct {
	signer evm.Signer
	now    func() time.Time
	rand   io.Reader
	chains *evm.ChainClients
}

var _ x402.ExtensionsClient = (*Client)(nil)

// NewClient checks cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Signer == nil {
		return nil, errors.New("evm/upto: client: a Signer is required")
	}
	c := &Client{signer: cfg.Signer, now: cfg.Now, rand: cfg.Rand, chains: evm.NewChainClients(cfg.RPCURLs)}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c, nil
}

// RegisterClient registers a [Client] built from cfg for x402 v2 "upto" on
// every eip155 network.
func RegisterClient(reg *x402.Registry[x402.SchemeClient], cfg ClientConfig) error {
	c, err := NewClient(cfg)
	if err != nil {
		return err
	}
	return reg.Register(x402.V2, Scheme, "eip155:*", c)
}

// Scheme returns "upto".
func (c *Client) Scheme() string { return Scheme }

// Payer returns the payer's address in hex.
func (c *Client) Payer() string { return c.signer.Address().Hex() }

// terms are the checked terms of upto requirements.
type terms struct {
	chainID           uint64
	asset, payTo, fac common.Address
	maxTimeout        int64
	name, version     string // the token's EIP-712 domain, for EIP-2612
}

// CanPay reports whether c can sign for req: x402 v2, an eip155 network,
// address asset and payTo, a positive timeout and extra.facilitatorAddress.
func (c *Client) CanPay(version int, req x402.PaymentRequirements) error {
	_, err := checkTerms(version, req)
	return err
}

func checkTerms(version int, req x402.PaymentRequirements) (terms, error) {
	var t terms
	if version != x402.V2 {
		return t, fmt.Errorf("evm/upto: the scheme has no x402 v%d form", version)
	}
	if req.Scheme != Scheme {
		return t, fmt.Errorf("evm/upto: requirements are for scheme %q", req.Scheme)
	}
	id, err := req.Network.ChainID()
	if err != nil {
		return t, fmt.Errorf("evm/upto: %w", err)
	}
	t.chainID = id
	var extra Extra
	if !req.Extra.IsNull() {
		if err := req.Extra.Decode(&extra); err != nil {
			return t, fmt.Errorf("evm/upto: requirements extra: %w", err)
		}
	}
	for _, f := range []struct {
		name, s string
		dst     *common.Address
	}{{"asset", req.Asset, &t.asset}, {"payTo", req.PayTo, &t.payTo}, {"extra.facilitatorAddress", extra.FacilitatorAddress, &t.fac}} {
		if f.s == "" || !common.IsHexAddress(f.s) {
			return t, fmt.Errorf("evm/upto: requirements %s %.64q is not an address", f.name, f.s)
		}
		*f.dst = common.HexToAddress(f.s)
	}
	if req.MaxTimeoutSeconds <= 0 {
		return t, fmt.Errorf("evm/upto: maxTimeoutSeconds %d is not positive", req.MaxTimeoutSeconds)
	}
	t.maxTimeout = int64(req.MaxTimeoutSeconds)
	t.name, t.version = extra.Name, extra.Version
	return t, nil
}

// CreatePayload signs an authorization of up to req.Amount: Permit2 nonce
// random, deadline now + maxTimeoutSeconds, validAfter 0 (as @x402/evm
// signs them).
func (c *Client) CreatePayload(ctx context.Context, version int, req x402.PaymentRequirements) (x402.Object, error) {
	t, err := checkTerms(version, req)
	if err != nil {
		return nil, err
	}
	payload, _, err := c.create(ctx, req, t)
	return payload, err
}

// create signs the upto authorization of req and returns its payload and
// deadline.
func (c *Client) create(ctx context.Context, req x402.PaymentRequirements, t terms) (x402.Object, *big.Int, error) {
	nonce, err := permit2.NewNonce(c.rand)
	if err != nil {
		return nil, nil, fmt.Errorf("evm/upto: drawing a nonce: %w", err)
	}
	p := &Permit{
		From: c.signer.Address(), Token: t.asset, Amount: req.Amount.Big(), Spender: ProxyAddress(),
		Nonce: nonce, Deadline: big.NewInt(c.now().Unix() + t.maxTimeout),
		To: t.payTo, Facilitator: t.fac, ValidAfter: new(big.Int),
	}
	digest, err := p.Digest(t.chainID)
	if err != nil {
		return nil, nil, fmt.Errorf("evm/upto: %w", err)
	}
	sig, err := c.sign(ctx, digest)
	if err != nil {
		return nil, nil, fmt.Errorf("evm/upto: signing: %w", err)
	}
	wire, err := Encode(p, sig)
	if err != nil {
		return nil, nil, fmt.Errorf("evm/upto: %w", err)
	}
	payload, err := x402.NewObject(wire)
	return payload, p.Deadline, err
}

// ErrPermit2AllowanceRequired is wrapped by the error of
// [Client.CreatePayloadExtensions] when the payer's allowance to Permit2 is
// below the maximum and the 402 declares no eip2612GasSponsoring: the payer
// must approve Permit2 for the token first (the client never does).
var ErrPermit2AllowanceRequired = errors.New("evm/upto: the payer's Permit2 allowance is short and the server declares no eip2612GasSponsoring (approve Permit2 for the token first)")

// CreatePayloadExtensions implements [x402.ExtensionsClient]: it is
// CreatePayload and, when a JSON-RPC endpoint is configured for the network
// (ClientConfig.RPCURLs) and the payer's allowance to Permit2 is below the
// maximum, it signs an EIP-2612 permit of Permit2 for the maximum into the
// eip2612GasSponsoring extension if the 402 declares it (the facilitator
// submits it before the transfer), or fails with an error wrapping
// [ErrPermit2AllowanceRequired].
func (c *Client) CreatePayloadExtensions(ctx context.Context, version int, req x402.PaymentRequirements, declared x402.Object) (x402.Object, x402.Object, error) {
	t, err := checkTerms(version, req)
	if err != nil {
		return nil, nil, err
	}
	payload, deadline, err := c.create(ctx, req, t)
	if err != nil || !c.chains.Has(req.Network) {
		return payload, nil, err
	}
	ext, err := c.sponsorIfNeeded(ctx, req, t, deadline, declared)
	if err != nil {
		return nil, nil, err
	}
	return payload, ext, nil
}

// sponsorIfNeeded signs the EIP-2612 permit when the allowance is short
// (see CreatePayloadExtensions).
func (c *Client) sponsorIfNeeded(ctx context.Context, req x402.PaymentRequirements, t terms, deadline *big.Int, declared x402.Object) (x402.Object, error) {
	owner := c.signer.Address()
	ec, err := c.chains.Client(ctx, req.Network)
	if err != nil {
		return nil, err
	}
	allowance, err := callWord(ctx, ec, t.asset, packAddresses(selAllowance, owner, Permit2Address()))
	if err != nil {
		return nil, fmt.Errorf("evm/upto: reading the Permit2 allowance: %w", err)
	}
	if allowance.Cmp(req.Amount.Big()) >= 0 {
		return nil, nil
	}
	if _, ok := declared.Field(permit2.GasSponsoringKey); declared.IsNull() || !ok {
		return nil, fmt.Errorf("%w: allowance %s, maximum %s", ErrPermit2AllowanceRequired, allowance, req.Amount)
	}
	tokenNonce, err := callWord(ctx, ec, t.asset, packAddresses(selNonces, owner))
	if err != nil {
		return nil, fmt.Errorf("evm/upto: reading the EIP-2612 nonce: %w", err)
	}
	g := &permit2.GasSponsoring{
		Asset: t.asset, Version: permit2.GasSponsoringVersion,
		Permit: permit2.EIP2612Permit{Owner: owner, Spender: Permit2Address(), Value: req.Amount.Big(), Nonce: tokenNonce, Deadline: deadline},
	}
	digest, err := g.Permit.Digest(permit2.TokenDomainSeparator(t.name, t.version, t.chainID, t.asset))
	if err != nil {
		return nil, err
	}
	if g.Signature, err = permit2.SignDigest(ctx, c.signer, digest); err != nil {
		return nil, fmt.Errorf("evm/upto: signing the EIP-2612 permit: %w", err)
	}
	return g.Extension()
}

// callWord makes an eth_call returning one uint256.
func callWord(ctx context.Context, cc ethereum.ContractCaller, to common.Address, data []byte) (*big.Int, error) {
	out, err := cc.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return nil, err
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("%d-byte answer", len(out))
	}
	return new(big.Int).SetBytes(out), nil
}

// Authorization returns the settle-once key of a payload c signed for req
// and its deadline, after which it can no longer be settled.
func (c *Client) Authorization(req x402.PaymentRequirements, payload x402.Object) (x402.SettlementKey, time.Time, error) {
	d, err := Decode(payload)
	if err != nil {
		return x402.SettlementKey{}, time.Time{}, err
	}
	if !d.Permit.Deadline.IsInt64() {
		return x402.SettlementKey{}, time.Time{}, errors.New("evm/upto: deadline out of range")
	}
	return key(req.Network.Canonical(), &d.Permit), time.Unix(d.Permit.Deadline.Int64(), 0), nil
}

// AuthorizationState reads whether the Permit2 nonce of key was used, and
// whether the chain is past deadline (it can no longer be).
func (c *Client) AuthorizationState(ctx context.Context, k x402.SettlementKey, deadline time.Time) (used, expired bool, err error) {
	cl, err := c.chains.Client(ctx, k.Network)
	if err != nil {
		return false, false, err
	}
	nonce, ok := new(big.Int).SetString(k.Nonce, 10)
	if !ok || !common.IsHexAddress(k.Payer) {
		return false, false, fmt.Errorf("evm/upto: malformed key %s", k)
	}
	head, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		return false, false, fmt.Errorf("evm/upto: reading the head: %w", err)
	}
	p2 := Permit2Address()
	out, err := cl.CallContract(ctx, ethereum.CallMsg{To: &p2, Data: packNonceBitmap(common.HexToAddress(k.Payer), nonce)}, head.Number)
	if err != nil {
		return false, false, fmt.Errorf("evm/upto: reading Permit2 nonceBitmap: %w", err)
	}
	if len(out) != 32 {
		return false, false, fmt.Errorf("evm/upto: Permit2 answered nonceBitmap with %d bytes", len(out))
	}
	return nonceUsed(out, nonce), head.Time > uint64(deadline.Unix()), nil
}

// sign signs digest: an EOA's checked 65-byte signature, or a smart
// wallet's signature as its signer makes it (EIP-1271, ERC-6492 wrapped),
// which the facilitator checks on chain.
func (c *Client) sign(ctx context.Context, digest common.Hash) ([]byte, error) {
	if ws, ok := c.signer.(evm.WalletSigner); ok {
		return ws.SignDigest(ctx, digest)
	}
	sig, err := evm.SignDigest(ctx, c.signer, digest)
	if err != nil {
		return nil, err
	}
	return sig[:], nil
}

// SettledAmount reads from the chain what the settlement transaction tx
// transferred under payload, which c signed for req: tx must be mined,
// successful, and a call of the upto proxy's settle (or settleWithPermit)
// for the payload's payer and Permit2 nonce, which it used; the amount is
// the one it passed (the proxy transfers exactly that). Since a Permit2
// nonce transfers once, nothing more can be charged under the payload. It
// needs a JSON-RPC endpoint for the network (ClientConfig.RPCURLs).
func (c *Client) SettledAmount(ctx context.Context, req x402.PaymentRequirements, payload x402.Object, tx string) (x402.Amount, error) {
	d, err := Decode(payload)
	if err != nil {
		return x402.Amount{}, err
	}
	ec, err := c.chains.Client(ctx, req.Network.Canonical())
	if err != nil {
		return x402.Amount{}, err
	}
	h := common.HexToHash(tx)
	receipt, err := ec.TransactionReceipt(ctx, h)
	if err != nil {
		return x402.Amount{}, fmt.Errorf("evm/upto: receipt of %s: %w", tx, err)
	}
	if receipt.Status != types.ReceiptStatusSuccessful {
		return x402.Amount{}, fmt.Errorf("evm/upto: transaction %s reverted", tx)
	}
	t, _, err := ec.TransactionByHash(ctx, h)
	if err != nil {
		return x402.Amount{}, fmt.Errorf("evm/upto: transaction %s: %w", tx, err)
	}
	call, ok := parseSettleCalldata(t.Data())
	if t.To() == nil || *t.To() != ProxyAddress() || !ok || !call.settles(&d.Permit) || call.amount.Cmp(d.Permit.Amount) > 0 {
		return x402.Amount{}, fmt.Errorf("evm/upto: transaction %s is not the settlement of this payment", tx)
	}
	return x402.AmountFromBig(call.amount)
}
