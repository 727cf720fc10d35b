package evm

import (
	"errors"
	"fmt"
	"time"

	"github.com/go402/go402/x402"
)

// ExactServer is the resource server's side of the "exact" scheme on EVM
// networks: it prices routes in the assets of a [Networks] registry and reads
// what an "exact" payment spends, for EIP-3009 payloads (which go402's
// facilitator settles) and for Permit2 payloads (which a remote facilitator
// may settle). It implements [x402.SchemeServer].
type ExactServer struct {
	// Networks resolves prices; if nil, [DefaultNetworks].
	Networks *Networks
}

var _ x402.SchemeServer = (*ExactServer)(nil)

// ServerSchemes returns a registry holding an [ExactServer] over nets for
// x402 v2 "exact" on every eip155 network: what x402http and the gateway
// take to price routes and identify payments.
func ServerSchemes(nets *Networks) *x402.Registry[x402.SchemeServer] {
	r := new(x402.Registry[x402.SchemeServer])
	if err := r.Register(x402.V2, SchemeExact, "eip155:*", &ExactServer{Networks: nets}); err != nil {
		panic(err) // a constant registration into an empty registry cannot fail
	}
	return r
}

// Scheme returns "exact".
func (s *ExactServer) Scheme() string { return SchemeExact }

// Requirements resolves price on network to "exact" requirements paid to
// payTo (see [Networks.Requirements]).
func (s *ExactServer) Requirements(network x402.Network, price x402.Price, payTo string, maxTimeoutSeconds int) (x402.PaymentRequirements, error) {
	addr, ok := hexAddress(payTo)
	if !ok {
		return x402.PaymentRequirements{}, fmt.Errorf("evm: payTo %q is not an address", payTo)
	}
	nets := s.Networks
	if nets == nil {
		nets = DefaultNetworks()
	}
	return nets.Requirements(network, price, addr, maxTimeoutSeconds)
}

// Identify reads an "exact" payload. An EIP-3009 payload is decoded exactly
// as [ExactFacilitator] decodes it and keyed by the same key (network,
// asset, payer, nonce); a Permit2 payload is keyed by (network, asset,
// owner, Permit2 nonce), after the same strict decoding as the
// facilitator's. Either expires at its validBefore or deadline.
func (s *ExactServer) Identify(p *x402.Payment) (x402.PaymentID, error) {
	d, err := decodeExact(p)
	if err != nil {
		if _, eip3009 := p.Payload.Field("authorization"); !eip3009 {
			if _, ok := p.Payload.Field("permit2Authorization"); ok {
				return identifyPermit2(p)
			}
		}
		return x402.PaymentID{}, reasoned(err)
	}
	if !d.fast {
		// Not the canonical form: a payload that also carries a Permit2
		// authorization is ambiguous (a facilitator might settle either),
		// so it is refused rather than keyed by one of the two.
		if _, ok := p.Payload.Field("permit2Authorization"); ok {
			return x402.PaymentID{}, &x402.Error{Reason: x402.ReasonExactEVMPayload, Message: "the payload carries both an EIP-3009 and a Permit2 authorization"}
		}
	}
	asset, ok := hexAddress(p.Requirements.Asset)
	if !ok {
		return x402.PaymentID{}, fmt.Errorf("evm: asset %q is not an address", p.Requirements.Asset)
	}
	id := x402.PaymentID{
		Key:    exactKey(p.Requirements.Network, asset, d.auth),
		PayTo:  lowerHex(d.auth.To[:]),
		Amount: d.auth.Value.String(),
	}
	if d.auth.ValidBefore.IsInt64() {
		id.Expires = unixExpiry(d.auth.ValidBefore.Int64())
	}
	return id, nil
}

// reasoned turns a payload rejection into an *x402.Error with its reason
// code, the verdict the facilitator would give, so that a server answering
// it early says the same.
func reasoned(err error) error {
	var pe *payloadError
	if errors.As(err, &pe) {
		return &x402.Error{Reason: pe.reason, Message: pe.msg}
	}
	return err
}

// unixExpiry is the time of a unix-seconds expiry; zero for values that are
// not a plausible time (a payment that says "valid forever" is kept no
// longer than the server's own timeout).
func unixExpiry(n int64) time.Time {
	if n <= 0 || n > 1<<40 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}
