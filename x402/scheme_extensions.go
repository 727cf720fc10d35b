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
	// extensions it adds to the payment's (nil when none). A client echoes
	// the declared extensions and merges the added ones in field by field
	// (objects recursively, any other value of the scheme's replacing the
	// declared one), so that the fields the server declared and the scheme
	// does not set are echoed unchanged, as official servers check.
	CreatePayloadExtensions(ctx context.Context, version int, req PaymentRequirements, declared Object) (payload, extensions Object, err error)
}
