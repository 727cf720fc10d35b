package x402

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// Facilitator verifies and settles payments. It is implemented by go402's
// in-process facilitator and by the HTTP client for a remote one, so resource
// servers work with either.
//
// Verify and Settle return a verdict, not an error, for a bad payment: an
// invalid payment is a VerifyResponse with IsValid false, a failed settlement
// a SettleResponse with Success false. A non-nil error means no verdict was
// reached (the facilitator was unreachable, the chain RPC failed, the context
// ended).
type Facilitator interface {
	Verify(ctx context.Context, req *FacilitatorRequest) (*VerifyResponse, error)
	Settle(ctx context.Context, req *FacilitatorRequest) (*SettleResponse, error)
	Supported(ctx context.Context) (*SupportedResponse, error)
}

// SchemeClient is the payer's side of a payment scheme: it signs a payload
// that satisfies given requirements.
type SchemeClient interface {
	// Scheme returns the scheme name, such as "exact".
	Scheme() string
	// CreatePayload returns the scheme-specific payload object (the payload
	// field of a PaymentPayload) that pays req. req is in v2 shape even for
	// a v1 server, with its network converted to CAIP-2; version says which
	// protocol version the payload is for.
	CreatePayload(ctx context.Context, version int, req PaymentRequirements) (Object, error)
}

// SchemeFacilitator is the facilitator's side of a payment scheme on a set of
// networks. Like [Facilitator], it reports a bad payment as a verdict and
// returns an error only when it could not reach one.
type SchemeFacilitator interface {
	// Scheme returns the scheme name, such as "exact".
	Scheme() string
	Verify(ctx context.Context, p *Payment) (*VerifyResponse, error)
	// Settle moves the funds of a verified payment. hooks.BeforeBroadcast,
	// if set, is called before anything is sent (see [SettleHooks]).
	Settle(ctx context.Context, p *Payment, hooks SettleHooks) (*SettleResponse, error)
}

// FacilitatorRequest is the body of a facilitator's POST /verify and
// POST /settle: {x402Version, paymentPayload, paymentRequirements}. It holds
// either v2 shapes (Payload, Requirements) or v1 shapes (PayloadV1,
// RequirementsV1), according to X402Version.
type FacilitatorRequest struct {
	X402Version    int
	Payload        *PaymentPayload
	Requirements   *PaymentRequirements
	PayloadV1      *PaymentPayloadV1
	RequirementsV1 *PaymentRequirementsV1

	cache *viewCache // Payment's result, computed once; nil in a literal
}

type viewCache struct{ v atomic.Pointer[requestView] }

// requestView is the Payment of a request and the messages it was built
// from: a copy of the request given other messages gets a new view.
type requestView struct {
	p       *Payment
	p2      *PaymentPayload
	r2      *PaymentRequirements
	p1      *PaymentPayloadV1
	r1      *PaymentRequirementsV1
	version int
}

// NewFacilitatorRequest builds a v2 request.
func NewFacilitatorRequest(p *PaymentPayload, r *PaymentRequirements) *FacilitatorRequest {
	return &FacilitatorRequest{X402Version: V2, Payload: p, Requirements: r, cache: new(viewCache)}
}

// NewFacilitatorRequestV1 builds a v1 request.
func NewFacilitatorRequestV1(p *PaymentPayloadV1, r *PaymentRequirementsV1) *FacilitatorRequest {
	return &FacilitatorRequest{X402Version: V1, PayloadV1: p, RequirementsV1: r, cache: new(viewCache)}
}

type facilitatorRequestWire struct {
	X402Version         int             `json:"x402Version"`
	PaymentPayload      json.RawMessage `json:"paymentPayload"`
	PaymentRequirements json.RawMessage `json:"paymentRequirements"`
}

// Validate checks that the request holds valid messages of its version.
// In a v2 request maxTimeoutSeconds may be 0 for two schemes:
// @x402/evm's batch-settlement server sends its own claim, settle and
// refund payloads to /settle with requirements {amount "0",
// maxTimeoutSeconds 0}, and the upto spec's settle request carries only
// scheme, network, asset, payTo and the amount used. A scheme that needs a
// positive timeout (exact) checks it itself.
func (r *FacilitatorRequest) Validate() error {
	switch r.X402Version {
	case V2:
		if r.Payload == nil || r.Requirements == nil {
			return fmt.Errorf("%w: paymentPayload or paymentRequirements is missing", ErrInvalidMessage)
		}
		if err := r.Payload.validate(true); err != nil {
			return fmt.Errorf("paymentPayload: %w", err)
		}
		if err := r.Requirements.validate(true); err != nil {
			return fmt.Errorf("paymentRequirements: %w", err)
		}
	case V1:
		if r.PayloadV1 == nil || r.RequirementsV1 == nil {
			return fmt.Errorf("%w: paymentPayload or paymentRequirements is missing", ErrInvalidMessage)
		}
		if err := r.PayloadV1.Validate(); err != nil {
			return fmt.Errorf("paymentPayload: %w", err)
		}
		if err := r.RequirementsV1.Validate(); err != nil {
			return fmt.Errorf("paymentRequirements: %w", err)
		}
	default:
		return fmt.Errorf("%w: %d", ErrUnsupportedVersion, r.X402Version)
	}
	return nil
}

// MarshalJSON encodes the request in its version's wire shape.
func (r *FacilitatorRequest) MarshalJSON() ([]byte, error) {
	w := facilitatorRequestWire{X402Version: r.X402Version}
	var p, q any
	switch r.X402Version {
	case V2:
		p, q = r.Payload, r.Requirements
	case V1:
		p, q = r.PayloadV1, r.RequirementsV1
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, r.X402Version)
	}
	var err error
	if w.PaymentPayload, err = json.Marshal(p); err != nil {
		return nil, err
	}
	if w.PaymentRequirements, err = json.Marshal(q); err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a request of either version. A missing top-level
// x402Version is taken from the payload.
func (r *FacilitatorRequest) UnmarshalJSON(b []byte) error { return r.decode(b) }

// decode implements UnmarshalJSON.
func (r *FacilitatorRequest) decode(b []byte) error {
	var w struct {
		X402Version         *int            `json:"x402Version"`
		PaymentPayload      json.RawMessage `json:"paymentPayload"`
		PaymentRequirements json.RawMessage `json:"paymentRequirements"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	if isJSONNull(w.PaymentPayload) || isJSONNull(w.PaymentRequirements) {
		return fmt.Errorf("%w: paymentPayload or paymentRequirements is missing", ErrInvalidMessage)
	}
	pv, err := detectPayloadVersion(w.PaymentPayload)
	if err != nil {
		return err
	}
	if w.X402Version != nil && *w.X402Version != pv {
		return fmt.Errorf("%w: request says x402Version %d but its payload says %d", ErrUnsupportedVersion, *w.X402Version, pv)
	}
	*r = FacilitatorRequest{X402Version: pv, cache: new(viewCache)}
	if pv == V2 {
		r.Payload, r.Requirements = new(PaymentPayload), new(PaymentRequirements)
		if err := json.Unmarshal(w.PaymentPayload, r.Payload); err != nil {
			return err
		}
		return json.Unmarshal(w.PaymentRequirements, r.Requirements)
	}
	r.PayloadV1, r.RequirementsV1 = new(PaymentPayloadV1), new(PaymentRequirementsV1)
	if err := json.Unmarshal(w.PaymentPayload, r.PayloadV1); err != nil {
		return err
	}
	return json.Unmarshal(w.PaymentRequirements, r.RequirementsV1)
}

// detectPayloadVersion is DetectVersion in one walk of data, which checks
// its keys (checkJSON) and finds x402Version together, as DecodePayment
// does; DetectVersion reports what is wrong when it finds no supported
// version.
func detectPayloadVersion(data []byte) (int, error) {
	raw, err := walkKeys(data, false)
	if err == nil {
		switch string(raw) {
		case "1":
			return V1, nil
		case "2":
			return V2, nil
		}
	}
	return DetectVersion(data)
}

// DecodeFacilitatorRequest decodes and validates a /verify or /settle body
// with the same hostile-input checks as the header decoders. Errors are
// *Error values with reason invalid_payload, invalid_payment_requirements or
// invalid_x402_version.
func DecodeFacilitatorRequest(body []byte) (*FacilitatorRequest, error) {
	if len(body) > MaxJSONSize {
		return nil, newError(ReasonInvalidPayload, ErrHeaderTooLarge, "request is %d bytes, more than %d", len(body), MaxJSONSize)
	}
	if err := checkJSON(body); err != nil {
		return nil, newError(ReasonInvalidPayload, err, "undecodable request")
	}
	// Decoded directly rather than through json.Unmarshal, which would
	// validate the whole body once more before calling UnmarshalJSON.
	var r FacilitatorRequest
	if err := r.decode(body); err != nil {
		return nil, newError(reasonFor(err, ReasonInvalidPayload), err, "undecodable request")
	}
	if err := r.Validate(); err != nil {
		return nil, newError(reasonFor(err, ReasonInvalidPayload), err, "invalid request")
	}
	return &r, nil
}

// Payment is a facilitator request seen the same way for both protocol
// versions, which is how schemes receive it: networks are CAIP-2 (v1 legacy
// names are converted when known), amounts are v2 amounts.
type Payment struct {
	// Version is the protocol version of the request (1 or 2).
	Version int
	// Accepted is what the payer says it pays for: the payload's accepted
	// requirements (v2), or the server's requirements with the payload's
	// scheme and network (v1, whose payload carries only those two).
	Accepted PaymentRequirements
	// Requirements is what the resource server requires.
	Requirements PaymentRequirements
	// Payload is the scheme-specific payload object.
	Payload Object
	// Resource describes the paid resource, when known.
	Resource *ResourceInfo
	// Extensions are the payload's extensions (v2 only).
	Extensions Object

	memo *paymentMemo // see Decoded
}

// Payment returns the version-independent view of a valid request. The view
// is computed once and shared by later calls (so that a scheme decodes the
// payload once, see [Payment.Decoded]): do not modify a request after
// calling Payment, nor the Payment it returned.
func (r *FacilitatorRequest) Payment() (*Payment, error) {
	var v *requestView
	if r.cache != nil {
		v = r.cache.v.Load()
	}
	if v != nil && v.version == r.X402Version && v.p2 == r.Payload && v.r2 == r.Requirements && v.p1 == r.PayloadV1 && v.r1 == r.RequirementsV1 {
		return v.p, nil
	}
	p, err := r.payment()
	if err != nil {
		return nil, err
	}
	p.memo = new(paymentMemo)
	if r.cache == nil {
		return p, nil
	}
	r.cache.v.Store(&requestView{p: p, p2: r.Payload, r2: r.Requirements, p1: r.PayloadV1, r1: r.RequirementsV1, version: r.X402Version})
	return p, nil
}

func (r *FacilitatorRequest) payment() (*Payment, error) {
	if err := r.Validate(); err != nil {
		return nil, newError(reasonFor(err, ReasonInvalidPayload), err, "invalid request")
	}
	if r.X402Version == V2 {
		return &Payment{
			Version:      V2,
			Accepted:     r.Payload.Accepted,
			Requirements: *r.Requirements,
			Payload:      r.Payload.Payload,
			Resource:     r.Payload.Resource,
			Extensions:   r.Payload.Extensions,
		}, nil
	}
	req, res := r.RequirementsV1.ToV2()
	acc := req
	acc.Scheme = r.PayloadV1.Scheme
	acc.Network = r.PayloadV1.Network.Canonical()
	return &Payment{
		Version:      V1,
		Accepted:     acc,
		Requirements: req,
		Payload:      r.PayloadV1.Payload,
		Resource:     &res,
	}, nil
}

// Scheme returns the scheme the payer used.
func (r *FacilitatorRequest) Scheme() string {
	switch {
	case r.Payload != nil:
		return r.Payload.Accepted.Scheme
	case r.PayloadV1 != nil:
		return r.PayloadV1.Scheme
	}
	return ""
}

// Network returns the network the payer used, as it appears on the wire for
// the request's version (CAIP-2 for v2, a legacy name for v1).
func (r *FacilitatorRequest) Network() Network {
	switch {
	case r.Payload != nil:
		return r.Payload.Accepted.Network
	case r.PayloadV1 != nil:
		return r.PayloadV1.Network
	}
	return ""
}

func isJSONNull(b json.RawMessage) bool {
	return len(b) == 0 || string(b) == "null"
}
