package evm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
// owner, Permit2 nonce). Either expires at its validBefore or deadline.
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

// permit2Payload is the part of a Permit2 "exact" payload a server reads.
type permit2Payload struct {
	Permit2 *struct {
		From      lenientText `json:"from"`
		Permitted struct {
			Token  lenientText `json:"token"`
			Amount lenientText `json:"amount"`
		} `json:"permitted"`
		Nonce    lenientText `json:"nonce"`
		Deadline lenientText `json:"deadline"`
		Witness  struct {
			To lenientText `json:"to"`
		} `json:"witness"`
	} `json:"permit2Authorization"`
}

// identifyPermit2 keys a Permit2 payload by its owner and Permit2 nonce.
func identifyPermit2(p *x402.Payment) (x402.PaymentID, error) {
	var pl permit2Payload
	if err := p.Payload.Decode(&pl); err != nil {
		return x402.PaymentID{}, fmt.Errorf("evm: Permit2 payload: %w", err)
	}
	a := pl.Permit2
	if a == nil || a.From == "" || a.Nonce == "" {
		return x402.PaymentID{}, errors.New("evm: Permit2 payload has no owner or nonce")
	}
	// The owner is keyed as an address, so that no spelling of it makes a
	// copy look new.
	owner, ok := hexAddress(string(a.From))
	if !ok {
		return x402.PaymentID{}, fmt.Errorf("evm: Permit2 owner %q is not an address", string(a.From))
	}
	// The Permit2 nonce is a uint256: "42", "042" and 42 are one nonce, so
	// they must be one key.
	nonce, err := x402.ParseAmount(string(a.Nonce))
	if err != nil {
		return x402.PaymentID{}, fmt.Errorf("evm: Permit2 nonce: %w", err)
	}
	id := x402.PaymentID{
		Key: x402.SettlementKey{
			Network: p.Requirements.Network,
			Asset:   strings.ToLower(p.Requirements.Asset),
			Payer:   lowerHex(owner[:]),
			Nonce:   nonce.String(),
		},
		PayTo:  string(a.Witness.To),
		Asset:  string(a.Permitted.Token),
		Amount: string(a.Permitted.Amount),
	}
	if n, err := strconv.ParseInt(string(a.Deadline), 10, 64); err == nil {
		id.Expires = unixExpiry(n)
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

// lenientText is a JSON string or number, read as its text.
type lenientText string

func (l *lenientText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = lenientText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*l = lenientText(n)
	return nil
}
