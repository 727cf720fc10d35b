package client

import (
	"errors"
	"strings"
	"time"

	"github.com/go402/go402/x402"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrPaymentRejected is wrapped (through a *PaymentError) when the
	// server answered 402 again to the paid request: it says that the
	// facilitator found the payment invalid or that its settlement failed.
	// The signed authorization was sent, though, and a dishonest server
	// can settle it itself: unless the chain shows it unused
	// (PaymentError.Unspent), the error also wraps
	// ErrPaymentOutcomeUnknown and the budget keeps counting it.
	ErrPaymentRejected = errors.New("client: payment rejected by the server")
	// ErrPaymentOutcomeUnknown is wrapped by a *PaymentError whose
	// authorization is not proven unspent, and (through an
	// *OutcomeUnknownError) when the paid request may have reached the
	// server but no answer tells whether the payment was taken: the
	// connection failed after the request was sent, or the request was
	// sent again with the same payment after such a failure and the server
	// refused the copy (it may have served, and charged, the first). The
	// payment may have been charged, and the budget counts it as spent.
	// Check the payer's balance or the server before paying again.
	ErrPaymentOutcomeUnknown = errors.New("client: payment outcome unknown: it may have been charged")
	// ErrLimitCurrency is wrapped by a *PolicyError when a money limit
	// cannot be compared with an option's price: the limit is in dollars
	// ("$0.10") and the asset is not a known US dollar stablecoin, or the
	// limit names another asset ("0.10 EURC"). See [Policy].
	ErrLimitCurrency = errors.New("client: the limit is in another currency than the price")
	// ErrNoPayableOption: the server asks for payment, but none of the
	// options it offers is one this client can pay (scheme "exact" on an
	// eip155 network over EIP-3009, with the token's EIP-712 domain in
	// extra).
	ErrNoPayableOption = errors.New("client: no payment option this client can pay")
	// ErrInvalidPaymentRequired: a 402 carries x402 payment requirements
	// that do not decode or validate.
	ErrInvalidPaymentRequired = errors.New("client: invalid payment requirements")
	// ErrNotX402: a 402 response carries neither a PAYMENT-REQUIRED header
	// nor a v1 JSON body. Only [Client.Quote] returns it: RoundTrip hands
	// such a response to the caller as it is.
	ErrNotX402 = errors.New("client: 402 response without x402 payment requirements")
	// ErrBodyNotReplayable: the request must be paid and sent again, but
	// its body cannot be replayed (it has no GetBody and is larger than
	// Config.MaxBodyBuffer).
	ErrBodyNotReplayable = errors.New("client: request body cannot be replayed for the paid retry")
)

// PaymentError is the server's refusal of a payment: the paid request was
// answered 402 again. It wraps [ErrPaymentRejected] and, unless Unspent,
// [ErrPaymentOutcomeUnknown].
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
	// Unspent reports that the chain showed the authorization unused
	// after the refusal (read through Config.RPCURLs): nothing was taken,
	// and the budget no longer counts it. When false, the server holds a
	// signed authorization it may still settle until ValidBefore, and the
	// budget counts it until the chain shows it unused past then.
	Unspent bool
	// ValidBefore is when the authorization stops being usable, when it
	// is not Unspent and its scheme tells; zero otherwise.
	ValidBefore time.Time
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
	if !e.Unspent {
		b.WriteString("; the authorization was sent and is not proven unspent")
		if !e.ValidBefore.IsZero() {
			b.WriteString(": it may still be settled until " + e.ValidBefore.UTC().Format(time.RFC3339))
		}
	}
	return b.String()
}

// Unwrap returns ErrPaymentRejected, and ErrPaymentOutcomeUnknown unless
// the authorization is proven unspent.
func (e *PaymentError) Unwrap() []error {
	if e.Unspent {
		return []error{ErrPaymentRejected}
	}
	return []error{ErrPaymentRejected, ErrPaymentOutcomeUnknown}
}

// OutcomeUnknownError is a paid request whose payment may have been
// charged although no response says so. It wraps
// [ErrPaymentOutcomeUnknown] and, after a transport failure, that failure.
//
//	if errors.Is(err, client.ErrPaymentOutcomeUnknown) { /* do not pay again blindly */ }
type OutcomeUnknownError struct {
	// Option is the option paid.
	Option *Option
	// StatusCode is 402 when the server refused the payment sent again,
	// 0 after a transport failure.
	StatusCode int
	// Reason and Message are the server's reason for refusing the payment
	// sent again, if it gave one ("payment already used" is what a
	// go402 server says of a copy of a payment it served).
	Reason  x402.Reason
	Message string
	// ValidBefore is when the authorization sent stops being usable, if
	// its scheme tells; zero otherwise.
	ValidBefore time.Time
	// Err is the transport failure, if any.
	Err error
}

// Error implements error.
func (e *OutcomeUnknownError) Error() string {
	var b strings.Builder
	b.WriteString(ErrPaymentOutcomeUnknown.Error())
	if e.Option != nil && e.Option.Price != "" {
		b.WriteString(" (price " + e.Option.Price + ")")
	}
	switch {
	case e.Err != nil:
		b.WriteString(": the paid request was sent but its answer was lost: " + e.Err.Error())
	case e.StatusCode != 0:
		b.WriteString(": the payment was sent again after its first answer was lost, and the server refused the copy")
		if e.Reason != "" {
			b.WriteString(": " + string(e.Reason))
		}
		if e.Message != "" && e.Message != string(e.Reason) {
			b.WriteString(": " + e.Message)
		}
	}
	if !e.ValidBefore.IsZero() {
		b.WriteString("; the authorization may be settled until " + e.ValidBefore.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// Unwrap returns ErrPaymentOutcomeUnknown and Err.
func (e *OutcomeUnknownError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrPaymentOutcomeUnknown}
	}
	return []error{ErrPaymentOutcomeUnknown, e.Err}
}

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
