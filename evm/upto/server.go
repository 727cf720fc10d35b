package upto

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// Extra is the requirements' extra of an "upto" payment: the token's
// EIP-712 domain, the facilitator the payer must name in its witness, and
// the transfer method (always "permit2").
type Extra struct {
	Name                string `json:"name"`
	Version             string `json:"version"`
	FacilitatorAddress  string `json:"facilitatorAddress,omitempty"`
	AssetTransferMethod string `json:"assetTransferMethod,omitempty"`
}

// transferPermit2 is the assetTransferMethod of every upto payment.
const transferPermit2 = "permit2"

// Server is the resource server's side of the scheme: it prices a route at
// its maximum and turns the accepted requirements into the settle-time
// ones for the amount used. It implements [x402.SchemeServer] and
// [x402.MeteredScheme].
type Server struct {
	// Networks resolves prices; if nil, [evm.DefaultNetworks]. Any ERC-20
	// asset of it can be paid through Permit2, EIP-3009 or not.
	Networks *evm.Networks
	// Facilitators is the address that settles, per network: the one the
	// facilitator announces (see [FacilitatorAddress]). Requirements on a
	// network without one fail, since no payer could sign them.
	Facilitators map[x402.Network]common.Address
}

var (
	_ x402.SchemeServer  = (*Server)(nil)
	_ x402.MeteredScheme = (*Server)(nil)
)

// RegisterServer registers s for x402 v2 "upto" on every eip155 network
// (the scheme has no v1 form).
func RegisterServer(reg *x402.Registry[x402.SchemeServer], s *Server) error {
	return reg.Register(x402.V2, Scheme, "eip155:*", s)
}

// Scheme returns "upto".
func (s *Server) Scheme() string { return Scheme }

// Requirements resolves price (the maximum a request may cost) on network
// to "upto" requirements paid to payTo.
func (s *Server) Requirements(network x402.Network, price x402.Price, payTo string, maxTimeoutSeconds int) (x402.PaymentRequirements, error) {
	to := common.HexToAddress(payTo)
	if evm.AddressProblem(payTo) != "" || to == (common.Address{}) {
		return x402.PaymentRequirements{}, fmt.Errorf("evm/upto: payTo %.64q is not a non-zero address", payTo)
	}
	network = network.Canonical()
	fac, ok := s.Facilitators[network]
	if !ok || fac == (common.Address{}) {
		return x402.PaymentRequirements{}, fmt.Errorf("evm/upto: no facilitator address for %s (read it from the facilitator's /supported with FacilitatorAddress)", network)
	}
	asset, amount, err := resolvePrice(s.Networks, network, price)
	if err != nil {
		return x402.PaymentRequirements{}, err
	}
	if maxTimeoutSeconds <= 0 {
		maxTimeoutSeconds = evm.DefaultMaxTimeoutSeconds
	}
	extra, err := x402.NewObject(Extra{Name: asset.Name, Version: asset.Version, FacilitatorAddress: fac.Hex(), AssetTransferMethod: transferPermit2})
	if err != nil {
		return x402.PaymentRequirements{}, err
	}
	return x402.PaymentRequirements{
		Scheme: Scheme, Network: network, Amount: amount, Asset: asset.Address.Hex(), PayTo: to.Hex(),
		MaxTimeoutSeconds: maxTimeoutSeconds, Extra: extra,
	}, nil
}

// resolvePrice is [evm.Networks.ResolvePrice] for any transfer method:
// every ERC-20 can be paid through Permit2.
func resolvePrice(nets *evm.Networks, network x402.Network, p x402.Price) (evm.Asset, x402.Amount, error) {
	if nets == nil {
		nets = evm.DefaultNetworks()
	}
	c, err := nets.Lookup(network)
	if err != nil {
		return evm.Asset{}, x402.Amount{}, err
	}
	if len(c.Assets) == 0 {
		return evm.Asset{}, x402.Amount{}, fmt.Errorf("%w: %s has no assets", evm.ErrUnknownAsset, network)
	}
	asset := c.Assets[0]
	if p.Unit != "" && p.Unit != "USD" {
		i := slices.IndexFunc(c.Assets, func(a evm.Asset) bool { return strings.EqualFold(a.Symbol, p.Unit) })
		if i < 0 {
			return evm.Asset{}, x402.Amount{}, fmt.Errorf("%w: no %s on %s", evm.ErrUnknownAsset, p.Unit, network)
		}
		asset = c.Assets[i]
	}
	amount, err := p.Atomic(asset.Decimals)
	if err != nil {
		return evm.Asset{}, x402.Amount{}, err
	}
	return asset, amount, nil
}

// Identify reads an "upto" payload, decoded as strictly as the facilitator
// decodes it: its key is (network, asset, payer, Permit2 nonce), it
// expires at its deadline, and it names its payee, token and maximum.
func (s *Server) Identify(p *x402.Payment) (x402.PaymentID, error) {
	d, err := decode(p)
	if err != nil {
		return x402.PaymentID{}, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: err.Error()}
	}
	pm := &d.Permit
	id := x402.PaymentID{
		Key:    key(p.Requirements.Network, pm),
		PayTo:  pm.To.Hex(),
		Asset:  pm.Token.Hex(),
		Amount: pm.Amount.String(),
	}
	if pm.Deadline.IsInt64() && pm.Deadline.Int64() > 0 && pm.Deadline.Int64() < 1<<40 {
		id.Expires = time.Unix(pm.Deadline.Int64(), 0)
	}
	return id, nil
}

// UsageRequirements returns the requirements to settle a payment made
// against accepted when the response used used: accepted with its amount
// replaced by used, which the facilitator's /settle transfers (0: nothing).
// It fails with invalid_upto_evm_payload_settlement_exceeds_amount when used
// is more than the maximum accepted.Amount, whatever a handler reports.
func (s *Server) UsageRequirements(accepted x402.PaymentRequirements, used x402.Amount) (x402.PaymentRequirements, error) {
	if accepted.Scheme != Scheme {
		return x402.PaymentRequirements{}, &x402.Error{Reason: x402.ReasonUptoScheme, Message: fmt.Sprintf("requirements are %q, not %q", accepted.Scheme, Scheme)}
	}
	if used.Cmp(accepted.Amount) > 0 {
		return x402.PaymentRequirements{}, &x402.Error{Reason: x402.ReasonUptoSettlementExceedsAmount,
			Message: fmt.Sprintf("used amount %s is more than the %s authorized", used, accepted.Amount)}
	}
	out := accepted
	out.Amount = used
	return out, nil
}

// FacilitatorAddress returns the address fac settles "upto" payments from
// on network: the extra.facilitatorAddress of its v2 "upto" kind for the
// network in /supported (a kind for "eip155:*" counts too).
func FacilitatorAddress(ctx context.Context, fac x402.Facilitator, network x402.Network) (common.Address, error) {
	sup, err := fac.Supported(ctx)
	if err != nil {
		return common.Address{}, fmt.Errorf("evm/upto: reading the facilitator's /supported: %w", err)
	}
	network = network.Canonical()
	for _, k := range sup.Kinds {
		if k.X402Version != x402.V2 || k.Scheme != Scheme || (k.Network != network && k.Network != "eip155:*") {
			continue
		}
		s, ok := k.Extra.StringField("facilitatorAddress")
		if ok && evm.AddressProblem(s) == "" && common.HexToAddress(s) != (common.Address{}) {
			return common.HexToAddress(s), nil
		}
	}
	return common.Address{}, ErrNoFacilitatorAddress
}

// ErrNoFacilitatorAddress: the facilitator announces no "upto" kind with a
// facilitatorAddress for the network.
var ErrNoFacilitatorAddress = errors.New("evm/upto: the facilitator announces no upto facilitatorAddress for the network")
