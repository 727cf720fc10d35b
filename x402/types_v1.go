package x402

import (
	"fmt"
)

// PaymentRequiredV1 is the JSON body of a v1 402 response.
type PaymentRequiredV1 struct {
	X402Version int                     `json:"x402Version"`
	Error       string                  `json:"error"`
	Accepts     []PaymentRequirementsV1 `json:"accepts"`
}

// Validate checks a v1 402 body: version 1 and at least one valid
// requirement.
func (p *PaymentRequiredV1) Validate() error {
	if p.X402Version != V1 {
		return fmt.Errorf("%w: %d in a v1 402 body", ErrUnsupportedVersion, p.X402Version)
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

// PaymentRequirementsV1 is one way to pay in x402 v1. Network is a legacy
// name ("base-sepolia"); the resource description travels inside each
// requirement.
type PaymentRequirementsV1 struct {
	Scheme            string  `json:"scheme"`
	Network           Network `json:"network"`
	MaxAmountRequired Amount  `json:"maxAmountRequired"`
	Resource          string  `json:"resource"`
	Description       string  `json:"description"`
	MimeType          string  `json:"mimeType"`
	OutputSchema      Object  `json:"outputSchema"`
	PayTo             string  `json:"payTo"`
	MaxTimeoutSeconds int     `json:"maxTimeoutSeconds"`
	Asset             string  `json:"asset"`
	Extra             Object  `json:"extra,omitempty"`
}

// Validate checks the fields the v1 specification requires.
func (r *PaymentRequirementsV1) Validate() error {
	switch {
	case r.Scheme == "":
		return fmt.Errorf("%w: scheme is missing", ErrInvalidMessage)
	case !wireNetworkOK(r.Network, false):
		return fmt.Errorf("%w: network %s is invalid", ErrInvalidMessage, quoteShort(string(r.Network)))
	case r.Resource == "":
		return fmt.Errorf("%w: resource is missing", ErrInvalidMessage)
	case r.PayTo == "":
		return fmt.Errorf("%w: payTo is missing", ErrInvalidMessage)
	case r.Asset == "":
		return fmt.Errorf("%w: asset is missing", ErrInvalidMessage)
	case r.MaxTimeoutSeconds <= 0:
		return fmt.Errorf("%w: maxTimeoutSeconds must be positive", ErrInvalidMessage)
	}
	return nil
}

// ToV2 converts v1 requirements to the v2 shape: the legacy network name
// becomes CAIP-2 (an unknown name is kept as is) and the resource fields move
// to a ResourceInfo. OutputSchema has no v2 counterpart and is dropped.
func (r *PaymentRequirementsV1) ToV2() (PaymentRequirements, ResourceInfo) {
	return PaymentRequirements{
			Scheme:            r.Scheme,
			Network:           r.Network.Canonical(),
			Amount:            r.MaxAmountRequired,
			Asset:             r.Asset,
			PayTo:             r.PayTo,
			MaxTimeoutSeconds: r.MaxTimeoutSeconds,
			Extra:             r.Extra,
		}, ResourceInfo{
			URL:         r.Resource,
			Description: r.Description,
			MimeType:    r.MimeType,
		}
}

// RequirementsV1 converts v2 requirements and their resource to the v1 shape,
// for serving v1 clients. It fails if the network has no v1 legacy name.
func RequirementsV1(r *PaymentRequirements, res *ResourceInfo) (PaymentRequirementsV1, error) {
	name, ok := r.Network.V1Name()
	if !ok {
		return PaymentRequirementsV1{}, newError(ReasonInvalidNetwork, nil, "network %s has no x402 v1 name", r.Network)
	}
	v1 := PaymentRequirementsV1{
		Scheme:            r.Scheme,
		Network:           Network(name),
		MaxAmountRequired: r.Amount,
		PayTo:             r.PayTo,
		MaxTimeoutSeconds: r.MaxTimeoutSeconds,
		Asset:             r.Asset,
		Extra:             r.Extra,
	}
	if res != nil {
		v1.Resource, v1.Description, v1.MimeType = res.URL, res.Description, res.MimeType
	}
	return v1, nil
}

// PaymentPayloadV1 is what a v1 client sends, base64-encoded in the
// X-PAYMENT header.
type PaymentPayloadV1 struct {
	X402Version int     `json:"x402Version"`
	Scheme      string  `json:"scheme"`
	Network     Network `json:"network"`
	Payload     Object  `json:"payload"`
}

// Validate checks a v1 payload: version 1, scheme, network and a payload
// object.
func (p *PaymentPayloadV1) Validate() error {
	switch {
	case p.X402Version != V1:
		return fmt.Errorf("%w: %d in a v1 PaymentPayload", ErrUnsupportedVersion, p.X402Version)
	case p.Scheme == "":
		return fmt.Errorf("%w: scheme is missing", ErrInvalidMessage)
	case !wireNetworkOK(p.Network, false):
		return fmt.Errorf("%w: network %s is invalid", ErrInvalidMessage, quoteShort(string(p.Network)))
	case p.Payload.IsNull():
		return fmt.Errorf("%w: payload is missing", ErrInvalidMessage)
	}
	return nil
}
