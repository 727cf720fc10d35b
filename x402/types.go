package x402

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Protocol versions.
const (
	V1 = 1 // legacy: X-PAYMENT headers, 402 body, network names
	V2 = 2 // current: PAYMENT-* headers, CAIP-2 networks
)

// ResourceInfo describes the paid resource (v2).
type ResourceInfo struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// PaymentRequirements is one way to pay for a resource (v2): the seven fields
// a server offers in accepts and a client echoes in accepted.
type PaymentRequirements struct {
	Scheme            string  `json:"scheme"`
	Network           Network `json:"network"`
	Amount            Amount  `json:"amount"`
	Asset             string  `json:"asset"`
	PayTo             string  `json:"payTo"`
	MaxTimeoutSeconds int     `json:"maxTimeoutSeconds"`
	Extra             Object  `json:"extra,omitempty"`
}

// Validate checks the fields every scheme relies on: scheme, a CAIP-2-shaped
// network, asset, payTo and a positive maxTimeoutSeconds.
func (r *PaymentRequirements) Validate() error { return r.validate(false) }

// validate is Validate; with zeroTimeout a maxTimeoutSeconds of 0 passes for
// the batch-settlement and upto schemes (see FacilitatorRequest.Validate).
func (r *PaymentRequirements) validate(zeroTimeout bool) error {
	switch {
	case r.Scheme == "":
		return fmt.Errorf("%w: scheme is missing", ErrInvalidMessage)
	case !wireNetworkOK(r.Network, true):
		return fmt.Errorf("%w: network %s is not a CAIP-2 id", ErrInvalidMessage, quoteShort(string(r.Network)))
	case r.Asset == "":
		return fmt.Errorf("%w: asset is missing", ErrInvalidMessage)
	case r.PayTo == "":
		return fmt.Errorf("%w: payTo is missing", ErrInvalidMessage)
	case r.MaxTimeoutSeconds < 0 || (r.MaxTimeoutSeconds == 0 && !(zeroTimeout && (r.Scheme == batchScheme || r.Scheme == uptoScheme))):
		return fmt.Errorf("%w: maxTimeoutSeconds must be positive", ErrInvalidMessage)
	}
	return nil
}

// PaymentRequired is what a v2 server sends with a 402, base64-encoded in the
// PAYMENT-REQUIRED header.
type PaymentRequired struct {
	X402Version int                   `json:"x402Version"`
	Error       string                `json:"error,omitempty"`
	Resource    ResourceInfo          `json:"resource"`
	Accepts     []PaymentRequirements `json:"accepts"`
	Extensions  Object                `json:"extensions,omitempty"`
}

// Validate checks a v2 PaymentRequired: version 2, a resource URL and at
// least one valid requirement.
func (p *PaymentRequired) Validate() error {
	if p.X402Version != V2 {
		return fmt.Errorf("%w: %d in a v2 PaymentRequired", ErrUnsupportedVersion, p.X402Version)
	}
	if p.Resource.URL == "" {
		return fmt.Errorf("%w: resource.url is missing", ErrInvalidMessage)
	}
	if len(p.Accepts) == 0 {
		return fmt.Errorf("%w: accepts is empty", ErrInvalidMessage)
	}
	for i := range p.Accepts {
		if err := p.Accepts[i].Validate(); err != nil {
			return fmt.Errorf("accepts[%d]: %w", i, err)
		}
	}
	return nil
}

// PaymentPayload is what a v2 client sends, base64-encoded in the
// PAYMENT-SIGNATURE header: the requirements it accepted, verbatim, and the
// scheme-specific signed payload.
type PaymentPayload struct {
	X402Version int                 `json:"x402Version"`
	Resource    *ResourceInfo       `json:"resource,omitempty"`
	Accepted    PaymentRequirements `json:"accepted"`
	Payload     Object              `json:"payload"`
	Extensions  Object              `json:"extensions,omitempty"`
}

// Validate checks a v2 payload: version 2, valid accepted requirements and a
// payload object.
func (p *PaymentPayload) Validate() error { return p.validate(false) }

func (p *PaymentPayload) validate(zeroTimeout bool) error {
	if p.X402Version != V2 {
		return fmt.Errorf("%w: %d in a v2 PaymentPayload", ErrUnsupportedVersion, p.X402Version)
	}
	if err := p.Accepted.validate(zeroTimeout); err != nil {
		return fmt.Errorf("accepted: %w", err)
	}
	if p.Payload.IsNull() {
		return fmt.Errorf("%w: payload is missing", ErrInvalidMessage)
	}
	return nil
}

// VerifyResponse is a facilitator's verdict on a payment. A payment that is
// not valid is a verdict, not an error: IsValid is false and InvalidReason
// says why.
type VerifyResponse struct {
	IsValid        bool   `json:"isValid"`
	InvalidReason  Reason `json:"invalidReason,omitempty"`
	InvalidMessage string `json:"invalidMessage,omitempty"`
	Payer          string `json:"payer,omitempty"`
	Extensions     Object `json:"extensions,omitempty"`
	// Extra is scheme-specific data (the reference SDK's optional extra).
	Extra Object `json:"extra,omitempty"`
}

// SettleResponse is the outcome of a settlement, sent to the client
// base64-encoded in PAYMENT-RESPONSE (v2) or X-PAYMENT-RESPONSE (v1).
// Transaction is the transaction hash, "" when nothing was broadcast.
// Network is CAIP-2 in v2 and a legacy name in v1.
type SettleResponse struct {
	Success      bool    `json:"success"`
	ErrorReason  Reason  `json:"errorReason,omitempty"`
	ErrorMessage string  `json:"errorMessage,omitempty"`
	Transaction  string  `json:"transaction"`
	Network      Network `json:"network"`
	Payer        string  `json:"payer,omitempty"`
	Amount       *Amount `json:"amount,omitempty"`
	Extensions   Object  `json:"extensions,omitempty"`
	// Extra is scheme-specific data (the reference SDK's optional extra).
	Extra Object `json:"extra,omitempty"`
}

// Validate checks that a settle response names its network, and a
// transaction when it reports success. It knows no scheme: to check the
// answer to a settlement, use [SettleResponse.ValidateFor] with the
// payment's scheme, which also accepts what that scheme alone may send.
func (s *SettleResponse) Validate() error { return s.ValidateFor("") }

// uptoScheme is the name of the reference "upto" scheme.
const uptoScheme = "upto"

// ValidateFor checks a settle response to a payment of the given scheme:
// as [SettleResponse.Validate], except that for the reference's "upto"
// scheme a success of amount exactly 0 may have no transaction: "upto"
// answers a $0 settlement with success, "transaction":"" and "amount":"0",
// since nothing goes on chain. Any other scheme ("exact" included) that
// reports success names the transaction.
func (s *SettleResponse) ValidateFor(scheme string) error {
	if s.Network == "" {
		return fmt.Errorf("%w: network is missing", ErrInvalidMessage)
	}
	if s.Success && s.Transaction == "" && scheme != batchScheme && (scheme != uptoScheme || s.Amount == nil || !s.Amount.IsZero()) {
		return fmt.Errorf("%w: a successful settlement has no transaction (only an %q settlement of amount 0, or a %q voucher, may have none)", ErrInvalidMessage, uptoScheme, batchScheme)
	}
	return nil
}

// batchScheme is the name of the reference "batch-settlement" scheme,
// whose answer to a request paid by a voucher reports success with
// "transaction":"": the voucher is claimed on chain later, in a batch.
const batchScheme = "batch-settlement"

// anySchemeSettleResponse is a SettleResponse as the PAYMENT-RESPONSE
// header codecs check it. The header does not name the scheme, so they
// accept what any scheme may send, a $0 "upto" success and a
// "batch-settlement" voucher's success without a transaction (extra with
// a channelState) included; a client
// checks a decoded response with [SettleResponse.ValidateFor] and the
// scheme it paid with.
type anySchemeSettleResponse SettleResponse

func (s *anySchemeSettleResponse) Validate() error {
	if s.Success && s.Transaction == "" && batchVoucherAnswer((*SettleResponse)(s)) {
		return (*SettleResponse)(s).ValidateFor(batchScheme)
	}
	return (*SettleResponse)(s).ValidateFor(uptoScheme)
}

// batchVoucherAnswer reports whether s has the shape of a
// "batch-settlement" answer to a voucher: its extra names the channel
// state (extra.channelState), which no other scheme sends.
func batchVoucherAnswer(s *SettleResponse) bool {
	if s.Extra.IsNull() {
		return false
	}
	if v, ok := lastMember(s.Extra, "channelState"); ok {
		return v != nil && string(v) != "null"
	}
	return hasMemberSlow(s.Extra)
}

// hasMemberSlow is batchVoucherAnswer's reference: what encoding/json
// decodes from o into a field named channelState.
func hasMemberSlow(o Object) bool {
	var w struct {
		ChannelState json.RawMessage `json:"channelState"`
	}
	return json.Unmarshal(o, &w) == nil && len(w.ChannelState) > 0 && string(w.ChannelState) != "null"
}

// SupportedKind is one (version, scheme, network) a facilitator can verify
// and settle.
type SupportedKind struct {
	X402Version int     `json:"x402Version"`
	Scheme      string  `json:"scheme"`
	Network     Network `json:"network"`
	Extra       Object  `json:"extra,omitempty"`
}

// SupportedResponse is the body of a facilitator's GET /supported. Signers
// maps a network pattern ("eip155:*") to the addresses that settle there.
//
// A v1 facilitator sends only kinds; decoding it leaves Extensions and
// Signers nil, and encoding always emits [] and {} for them, because the
// reference client's schema accepts an absent field but not null.
type SupportedResponse struct {
	Kinds      []SupportedKind     `json:"kinds"`
	Extensions []string            `json:"extensions"`
	Signers    map[string][]string `json:"signers"`
}

// MarshalJSON encodes the response with [] and {} in place of nil.
func (s SupportedResponse) MarshalJSON() ([]byte, error) {
	type plain SupportedResponse
	if s.Kinds == nil {
		s.Kinds = []SupportedKind{}
	}
	if s.Extensions == nil {
		s.Extensions = []string{}
	}
	if s.Signers == nil {
		s.Signers = map[string][]string{}
	}
	return json.Marshal(plain(s))
}

// wireNetworkOK is the structural check applied to networks in decoded
// messages: for v2 a "<namespace>:<reference>" shape, for v1 any non-empty
// token without spaces. Semantic checks (is this chain supported?) belong to
// schemes.
func wireNetworkOK(n Network, caip2 bool) bool {
	s := string(n)
	if s == "" || len(s) > maxNamespaceLen+1+maxReferenceLen || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	if !caip2 {
		return true
	}
	ns, ref, ok := strings.Cut(s, ":")
	return ok && validNamespace(ns) && validReference(ref)
}
