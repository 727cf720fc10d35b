// Package x402 is the protocol core of go402: the data model and codecs of
// the x402 payment protocol (versions 1 and 2), and the interfaces the rest
// of go402 is built around. It imports no chain code and nothing outside the
// standard library.
//
// # What it owns
//
//   - Wire types: [PaymentRequired], [PaymentRequirements], [PaymentPayload],
//     [VerifyResponse], [SettleResponse], [SupportedResponse] and the
//     facilitator request body [FacilitatorRequest] for v2, and
//     [PaymentRequiredV1], [PaymentRequirementsV1], [PaymentPayloadV1] for v1.
//     Open-ended fields (extra, payload, extensions, outputSchema) are
//     [Object] values that keep unknown keys through a decode/encode round
//     trip; inside them, keys that differ only in case are distinct.
//   - Header codecs for PAYMENT-REQUIRED, PAYMENT-SIGNATURE and
//     PAYMENT-RESPONSE (v2) and X-PAYMENT and X-PAYMENT-RESPONSE (v1). They
//     emit standard padded base64; they accept standard, URL-safe and
//     unpadded base64, and reject oversized headers ([MaxHeaderSize]) and
//     hostile JSON with an [*Error] carrying a [Reason].
//   - Money: [Amount], an allocation-free uint256 of atomic units, and
//     [Price], an exact decimal such as "$0.001" converted to atomic units
//     without floating point.
//   - Networks: CAIP-2 [Network] ids, the v1 legacy name table and wildcard
//     patterns such as "eip155:*".
//   - [Reason] codes of the specification, the reference SDKs and legacy v1.
//   - The seams where the roles meet: [Facilitator] (what a resource server
//     calls), and the three sides of a payment scheme — [SchemeClient] (the
//     payer signs), [SchemeServer] (the resource server prices a route and
//     identifies a payment by its settle-once key, optionally verifying
//     locally with [LocalVerifier]) and [SchemeFacilitator] (verify and
//     settle, with [SettleHooks] called before broadcast; optionally
//     [Identifier] and [Reconciler]) — each kept in a [Registry] keyed by
//     (version, scheme, network pattern). A [Payment] is decoded once per
//     request: [FacilitatorRequest.Payment] and [Payment.Decoded] memoise.
//
// # Verdicts and errors
//
// A bad payment is a verdict (VerifyResponse.IsValid false with a reason),
// never a Go error; a Go error means no verdict could be reached. Decoding
// errors are [*Error] values: inspect them with errors.As, or with errors.Is
// against [ErrHeaderTooLarge], [ErrMalformedBase64], [ErrMalformedJSON],
// [ErrUnsupportedVersion] and [ErrInvalidMessage].
//
// See docs/architecture.md in the repository for the package graph and how a
// scheme plugs into these interfaces, and docs/security.md for the input
// limits.
package x402
