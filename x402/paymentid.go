package x402

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
)

// The payment-identifier extension: a client names each paid request with
// an id that servers and facilitators use as an idempotency key, so that a
// request sent again (its answer lost) gets the first outcome instead of a
// second charge. The server declares it in the 402's extensions, saying
// whether an id is required; the client echoes the declaration with
// info.id added.
const (
	// ExtensionPaymentIdentifier is the extension's key in extensions.
	ExtensionPaymentIdentifier = "payment-identifier"
	// PaymentIDMinLength and PaymentIDMaxLength bound an id's length.
	PaymentIDMinLength = 16
	PaymentIDMaxLength = 128
)

// Reasons of the payment-identifier extension.
const (
	// ReasonInvalidPaymentID: an id that is not 16 to 128 characters of
	// ASCII letters, digits, '-' and '_', or an extension that is not the
	// declared shape.
	ReasonInvalidPaymentID Reason = "invalid_payment_identifier"
	// ReasonPaymentIDRequired: the server requires an id and the payment
	// has none.
	ReasonPaymentIDRequired Reason = "payment_identifier_required"
	// ReasonPaymentIDConflict: the id was used before with another
	// payment.
	ReasonPaymentIDConflict Reason = "payment_identifier_conflict"
	// ReasonPaymentIDInProgress: the first request with the id is still
	// being processed; send it again later.
	ReasonPaymentIDInProgress Reason = "payment_identifier_in_progress"
)

// paymentIDSchema is the JSON schema declared with the extension.
const paymentIDSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",` +
	`"properties":{"required":{"type":"boolean"},"id":{"type":"string","minLength":16,"maxLength":128,"pattern":"^[a-zA-Z0-9_-]+$"}},` +
	`"required":["required"]}`

// invalidPaymentIDMessage says what a valid id is.
const invalidPaymentIDMessage = "payment identifier must be 16-128 characters of letters, digits, hyphens and underscores"

// ValidPaymentID reports whether id is 16 to 128 characters, each an ASCII
// letter or digit, '-' or '_'.
func ValidPaymentID(id string) bool {
	if len(id) < PaymentIDMinLength || len(id) > PaymentIDMaxLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// NewPaymentID returns a fresh random id: "pay_" and 32 hex digits.
func NewPaymentID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "pay_" + hex.EncodeToString(b[:])
}

// DeclarePaymentIdentifier returns the extension's declaration for a 402's
// extensions: its info ({"required": required}) and schema.
func DeclarePaymentIdentifier(required bool) Object {
	r := "false"
	if required {
		r = "true"
	}
	return Object(`{"info":{"required":` + r + `},"schema":` + paymentIDSchema + `}`)
}

// PaymentIdentifier is the extension as found in extensions.
type PaymentIdentifier struct {
	// Declared is true if extensions hold the extension.
	Declared bool
	// Required is the declaration's info.required.
	Required bool
	// ID is info.id; "" if absent.
	ID string
}

// paymentIDExtension is the extension's wire shape.
type paymentIDExtension struct {
	Info *struct {
		Required *bool   `json:"required"`
		ID       *string `json:"id"`
	} `json:"info"`
}

// ParsePaymentIdentifier reads the payment-identifier extension in a
// payment's or a 402's extensions (which may be null). An absent extension
// is no error; one whose info is not an object with a boolean "required"
// (a declaration with no "required" is read as false), or whose id is not
// a string of 16 to 128 valid characters, is an *Error with reason
// [ReasonInvalidPaymentID].
func ParsePaymentIdentifier(extensions Object) (PaymentIdentifier, error) {
	if extensions.IsNull() {
		return PaymentIdentifier{}, nil
	}
	raw, ok := extensions.Field(ExtensionPaymentIdentifier)
	if !ok || string(raw) == "null" {
		return PaymentIdentifier{}, nil
	}
	var ext paymentIDExtension
	if err := json.Unmarshal(raw, &ext); err != nil || ext.Info == nil {
		return PaymentIdentifier{}, newError(ReasonInvalidPaymentID, ErrInvalidMessage, "payment-identifier extension must be an object with an info object")
	}
	p := PaymentIdentifier{Declared: true}
	if ext.Info.Required != nil {
		p.Required = *ext.Info.Required
	}
	if ext.Info.ID != nil {
		if !ValidPaymentID(*ext.Info.ID) {
			return PaymentIdentifier{}, newError(ReasonInvalidPaymentID, ErrInvalidMessage, invalidPaymentIDMessage)
		}
		p.ID = *ext.Info.ID
	}
	return p, nil
}

// WithPaymentID returns extensions with id set as the payment-identifier
// extension's info.id, the rest of the declaration echoed. Extensions that
// do not declare the extension are returned as they are: a client sends an
// id only to a server that declared it.
func WithPaymentID(extensions Object, id string) (Object, error) {
	if !ValidPaymentID(id) {
		return nil, newError(ReasonInvalidPaymentID, ErrInvalidMessage, invalidPaymentIDMessage)
	}
	if _, err := ParsePaymentIdentifier(extensions); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if extensions.IsNull() || json.Unmarshal(extensions, &all) != nil {
		return extensions, nil
	}
	raw, ok := all[ExtensionPaymentIdentifier]
	if !ok || string(raw) == "null" {
		return extensions, nil
	}
	var ext map[string]json.RawMessage
	var info map[string]json.RawMessage
	if json.Unmarshal(raw, &ext) != nil || json.Unmarshal(ext["info"], &info) != nil {
		return nil, newError(ReasonInvalidPaymentID, ErrInvalidMessage, "payment-identifier extension must be an object with an info object")
	}
	if info == nil {
		info = map[string]json.RawMessage{}
	}
	info["id"], _ = json.Marshal(id)
	var err error
	if ext["info"], err = json.Marshal(info); err != nil {
		return nil, err
	}
	if all[ExtensionPaymentIdentifier], err = json.Marshal(ext); err != nil {
		return nil, err
	}
	out, err := json.Marshal(all)
	return Object(out), err
}
