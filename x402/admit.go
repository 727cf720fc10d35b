package x402

import "context"

// ChargeAdmitter is implemented by a [SchemeServer] whose payments draw on
// state the server keeps from one request to the next, such as a payment
// channel paid with cumulative vouchers ("batch-settlement"): a payment is
// then not one verify and one settle with the facilitator, but a charge
// against that state, checked by the scheme's server (locally when it can),
// reserved while the handler runs and recorded only when the answer is
// charged.
//
// A resource server that finds the scheme server of a payment implementing
// ChargeAdmitter hands the payment to Admit instead of verifying it with the
// facilitator, and follows the [Admission]:
//
//   - Charge set: it runs the handler with the answer held back, then
//     calls Charge.Commit if the answer is chargeable (and sends the answer
//     with the returned SettleResponse in PAYMENT-RESPONSE only when it
//     succeeds), else Charge.Abort. Exactly one of the two is called, also
//     when the handler panics.
//   - Refused set: it answers 402 with the verdict's reason as the error,
//     and with Corrected, if set, in place of the requirements the payment
//     accepted (a corrective 402: the state the payer needs to recover).
//   - Done set: the payload was an operation of the scheme rather than a
//     payment for the resource (a cooperative refund, say), carried out by
//     Admit; the server answers with it and does not run the handler.
//
// The server's own one-payment-one-response bookkeeping (claims, queue)
// does not apply to admitted payments: replay protection is the scheme's,
// through its state.
type ChargeAdmitter interface {
	// Admit decides on p. An error means no decision was reached (the
	// state store or the facilitator failed): the server answers 5xx and
	// nothing is charged.
	Admit(ctx context.Context, p *Payment) (*Admission, error)
}

// Admission is a [ChargeAdmitter]'s decision on a payment: exactly one of
// Charge, Refused and Done is set.
type Admission struct {
	// Payer is the payer, when known.
	Payer string
	// Charge is the reserved charge: serve, then commit or abort it.
	Charge PendingCharge
	// Refused is why the payment does not pay (IsValid false).
	Refused *VerifyResponse
	// Corrected, with Refused, replaces the requirements the payment
	// accepted in the 402 answer's accepts.
	Corrected *PaymentRequirements
	// Done is an operation of the scheme already carried out.
	Done *Operation
}

// Operation is the outcome of a payload that was an operation of the
// scheme rather than a payment for the resource.
type Operation struct {
	// Response goes in PAYMENT-RESPONSE; with Success false the server
	// answers 402.
	Response *SettleResponse
	// Body is the JSON body of a successful answer (200).
	Body Object
}

// PendingCharge is a charge reserved by [ChargeAdmitter.Admit]. Commit and
// Abort are each safe to call once; after one, the other does nothing.
type PendingCharge interface {
	// Commit records the charge. A response with Success false means
	// nothing was charged (the state moved on meanwhile, the settlement
	// failed) and the answer must be withheld; an error means the outcome
	// is not known, and the answer must be withheld too.
	Commit(ctx context.Context) (*SettleResponse, error)
	// Abort releases the reservation: nothing is charged.
	Abort(ctx context.Context) error
}
