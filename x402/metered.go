package x402

// MeteredScheme is implemented by a [SchemeServer] whose payments authorize
// a maximum and settle what was used (the reference "upto" scheme): the
// payer signs for the amount of the requirements it accepted, and the
// server settles any amount up to it once it knows what the response used.
//
// UsageRequirements returns the requirements to settle the payment that
// accepted with, when the response used the amount used: accepted with its
// amount replaced by used (and anything else the scheme derives from the
// amount adjusted). The server sends them to the facilitator's /settle in
// place of the accepted ones, with the payload unchanged; the facilitator
// then transfers the requirements' amount, which must not exceed the
// amount the payer authorized, as the reference "upto" scheme expects. A
// used amount of 0 settles nothing on chain: the facilitator answers
// success with no transaction and "amount":"0".
//
// It fails with an *[Error] when used exceeds accepted.Amount or the
// requirements are not the scheme's. A server never settles more than the
// payment authorized, whatever its handler reports.
type MeteredScheme interface {
	UsageRequirements(accepted PaymentRequirements, used Amount) (PaymentRequirements, error)
}
