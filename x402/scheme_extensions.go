package x402

import "context"

// ExtensionsClient is a [SchemeClient] that reads the extensions a 402
// declares (PaymentRequired.extensions) and may answer some of them in the
// payment's extensions: the exact scheme over Permit2, say, signs an
// EIP-2612 permit into "eip2612GasSponsoring" when the server declares it
// and the payer has not yet approved Permit2. A client calls
// CreatePayloadExtensions instead of CreatePayload for x402 v2 offers.
type ExtensionsClient interface {
	SchemeClient
	// CreatePayloadExtensions is CreatePayload given the extensions the
	// 402 declared (nil when none). It returns the payload and the
	// extensions of the payment it adds (nil when none): each key it
	// returns replaces the 402's value of that key in the payment's
	// extensions, every other declared key is echoed as declared.
	CreatePayloadExtensions(ctx context.Context, version int, req PaymentRequirements, declared Object) (payload, extensions Object, err error)
}
