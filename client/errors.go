package client

import (
	"errors"
	"strings"

	"github.com/go402/go402/x402"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrPaymentRejected is wrapped (through a *PaymentError) when the
	// server answered 402 again to the paid request: the facilitator found
	// the payment invalid or its settlement failed.
	ErrPaymentRejected = errors.New("go402: payment rejected by the server")
	// ErrNoPayableOption: the server asks for payment, but none of the
	// options it offers is one this client can pay (scheme "exact" on an
	// eip155 network over EIP-3009, with the token's EIP-712 domain in
	// extra).
	ErrNoPayableOption = errors.New("go402: no payment option this client can pay")
	// ErrInvalidPaymentRequired: a 402 carries x402 payment requirements
	// that do not decode or validate.
	ErrInvalidPaymentRequired = errors.New("go402: invalid payment requirements")
	// ErrNotX402: a 402 response carries neither a PAYMENT-REQUIRED header
	// nor a v1 JSON body. Only [Client.Quote] returns it: RoundTrip hands
	// such a response to the caller as it is.
	ErrNotX402 = errors.New("go402: 402 response without x402 payment requirements")
	// ErrBodyNotReplayable: the request must be paid and sent again, but
	// its body cannot be replayed (it has no GetBody and is larger than
	// Config.MaxBodyBuffer).
	ErrBodyNotReplayable = errors.New("go402: request body cannot be replayed for the paid retry")
)

// PaymentError is the server's refusal of a payment: the paid request was
// answered 402 again. It wraps [ErrPaymentRejected].
//
//	var pe *client.PaymentError
//	if errors.As(err, &pe) { log.Print(pe.Reason) }
type PaymentError struct {
	// Reason is the x402 reason code: the settlement's errorReason, or
	// the error of the new 402 when it is a code
	// ("invalid_exact_evm_signature"). Empty when the server gave none.
	Reason x402.Reason
	// Message is the human explanation the server gave, if any.
	Message string
	// Settlement is the failed settlement from PAYMENT-RESPONSE or
	// X-PAYMENT-RESPONSE; nil if the server sent none (the payment was
	// refused before settlement).
	Settlement *x402.SettleResponse
	// StatusCode is the HTTP status of the answer (402).
	StatusCode int
	// Option is the option that was paid.
	Option *Option
}

// Error implements error.
func (e *PaymentError) Error() string {
	var b strings.Builder
	b.WriteString(ErrPaymentRejected.Error())
	if e.Option != nil && e.Option.Price != "" {
		b.WriteString(" (price " + e.Option.Price + ")")
	}
	if e.Reason != "" {
		b.WriteString(": " + string(e.Reason))
	}
	if e.Message != "" && e.Message != string(e.Reason) {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Unwrap returns ErrPaymentRejected.
func (e *PaymentError) Unwrap() error { return ErrPaymentRejected }

// looksLikeReason reports whether a 402 error text is a reason code
// ("invalid_exact_evm_signature") rather than prose.
func looksLikeReason(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
