// Package failover composes several facilitators into one
// [x402.Facilitator] that uses the next when one is unreachable, so that a
// resource server (the x402http middleware, the gateway, x402mcp) keeps
// taking payments while one facilitator is down.
//
// # Routing
//
// A payment goes only to a facilitator whose /supported lists its version,
// scheme and network (a "namespace:*" network matches the namespace), and
// whose kind's extra agrees with the payment's requirements on every string
// field both carry: a requirement naming a facilitator-specific value, such
// as upto's extra.facilitatorAddress, an SVM feePayer or a batch-settlement
// receiverAuthorizer, pins the payment to the facilitator that announced
// it. [Facilitator.Supported] is the union of the members' answers (kinds
// deduplicated, in member order; extensions and signers merged), so such a
// value read from it belongs to the first member that announced one.
//
// Verify and settle of one payment go to the same facilitator: the member
// that verified a payment is asked first to settle it, and another only if
// that one is provably unreachable (a facilitator verifies a payment again
// when settling it). Payments are told apart by their version, scheme,
// network and payload.
//
// # Failing over
//
// Verify moves no money: when a member gives no verdict (it is unreachable,
// the request got no answer, or the answer was a server error), the next
// member is asked. A verdict, valid or invalid, is final and is never asked
// of another member; so is a member refusing the request itself (a 4xx
// status other than 408 and 429), which neither fails over nor counts
// against the member's health, so that hostile payloads cannot make the
// members back off.
//
// Settle moves money, so it fails over only when the request provably never
// reached the member: the connection could not be established (a dial
// error, a DNS failure, a TLS handshake failure). After anything else (a
// timeout or a connection cut once the request was sent, a 5xx answer, a
// malformed answer, the caller's context ending) the outcome is unknown:
// Settle returns an [*UnknownOutcomeError], which wraps
// remote.ErrSettleOutcomeUnknown, and from then on the payment is held by
// that member: every later Verify or Settle of it goes to that member only,
// whatever its health, so that it is reconciled with the facilitator that
// got it (a go402 facilitator answers a repeated settle with the first
// outcome) and never settled elsewhere. The same holds once a member
// answered a settle at all (settled, pending or refused). The x402http
// middleware already treats a Settle error as a payment possibly settled:
// a settle-before-serve route answers 502 and keeps the payment's claim,
// and a serve-then-settle queue retries it, which reaches the holder.
// [Facilitator.Holder] reports which member holds a payment.
//
// Holds are kept in memory: a process restart forgets them. Held payments
// are rare (each needs a failure mid-settle); a deployment that must
// reconcile them across restarts should use one facilitator per payment
// network or a shared ledger behind the facilitators.
//
// # Health
//
// A member that failed to answer (or whose /supported failed) is skipped
// for a back-off period that starts at [Options.Cooldown] and doubles with
// each further failure up to [Options.MaxCooldown]; it is tried again
// after that, and a success resets it. When every member able to take a
// payment is backing off they are tried anyway, in order. Which member
// served each call is logged (Info for settle, Debug for verify), and
// each failure at Warn with its kind ([Classify]).
package failover
