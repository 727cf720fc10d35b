// Package x402http is the resource server side of x402 for net/http: a
// middleware, func(http.Handler) http.Handler, that answers requests to
// priced routes with 402 Payment Required, verifies the payment a client
// sends back (PAYMENT-SIGNATURE in v2, X-PAYMENT in v1) through any
// [x402.Facilitator], and settles it before serving (SettleBeforeServe) or
// after (ServeThenSettle, through a durable queue). Requests to other routes
// pass through untouched.
//
// # Routes
//
// Routes are matched in order; the first route whose path and method match
// applies. Methods are compared case-insensitively, a GET route also
// matches HEAD (as in net/http), and a route without a method matches every
// method. A request whose path is priced only for other methods is
// answered 405 Method Not Allowed, with an Allow header, and never reaches
// the handler: handlers and file servers often ignore the method.
//
// Paths are compared case-insensitively, segment by segment, with the two
// ways a handler may read the request path: decoded and cleaned (what
// http.FileServer and handlers reading r.URL.Path see: "%2F" is a slash,
// "\" reads as "/", dot segments and doubled slashes are removed), and split
// on the literal slashes before decoding (what Go's ServeMux sees: "b%2Fc"
// is one segment). If both readings select the same route, or one selects a
// route and the other nothing, that route is charged. If they select
// different routes (GET /a/{x} at $0.001 and GET /a/b/c at $10, requested as
// /a/b%2Fc), or a route and a path priced for another method, the request
// is answered 400 Bad Request and reaches no handler: an encoded separator
// must not buy one route's resource at another's price. The request reaches
// the handler unchanged.
//
// Servers behind the middleware may also map spellings of a path to it
// that its pattern does not spell: Tomcat and Jetty drop ";name=value"
// path parameters ("/premium;jsessionid=1"), Spring's suffix matching
// serves "/premium.json" from the handler of "/premium", and some servers
// trim trailing whitespace ("/premium%20"). A request with ";" parameters
// in any segment, or a "." suffix on its last segment, whose reading
// without them selects a route (other than the one it selects as spelled)
// is charged as that route; one priced for other methods only is answered
// 405. A request that selects a route only once trailing whitespace or
// control characters (%20, %09, %00...) are trimmed from its segments is
// answered 400. So GET /premium at $1 also charges $1 for
// /premium;jsessionid=1, /premium.json and /premium.tar.gz, and refuses
// /premium%20; /premiums and /premium-x.json stay unpriced.
//
// # The 402 answer
//
// A 402 carries the v2 PAYMENT-REQUIRED header (base64 JSON
// PaymentRequired), a JSON body that v1 clients understand
// ({"x402Version":1,"error":...,"accepts":[v1 requirements]}, listing the
// options whose network has a v1 name), and Cache-Control: no-store.
// Browsers (Accept: text/html) get an HTML paywall instead of the JSON
// body, still with the PAYMENT-REQUIRED header. The requirements of a route
// without a Price func, and most of the answer's JSON, are built once by
// [New].
//
// # CORS
//
// Every answer of a priced route (402, paid response, error) gets the x402
// names added to Access-Control-Expose-Headers (PAYMENT-REQUIRED,
// PAYMENT-RESPONSE, X-PAYMENT-RESPONSE) and Accept to Vary, merged with the
// values already there: an outer middleware's, and the handler's own. A
// preflight (OPTIONS with Access-Control-Request-Method) of a priced route
// is answered 204 by the middleware, never by the handler, with
// Access-Control-Allow-Methods (the requested method),
// Access-Control-Allow-Headers (PAYMENT-SIGNATURE, X-PAYMENT, Content-Type,
// Authorization and [CORS.AllowHeaders]) and Access-Control-Max-Age (600
// unless [CORS.MaxAge] says otherwise), each merged with values already set.
//
// The origin policy is the application's: by default the middleware never
// sets Access-Control-Allow-Origin, so an outer CORS middleware's value is
// kept. With [CORS.AllowOrigins] set, the middleware decides for priced
// routes: an allowed origin gets Access-Control-Allow-Origin (the origin
// itself, with Vary: Origin, or "*" when any origin is allowed without
// credentials) and, with [CORS.AllowCredentials],
// Access-Control-Allow-Credentials: true; another origin gets neither. "*"
// with credentials is refused by [New].
//
// # Paying requests
//
// A v2 payment must match a requirement built for this very request on
// every field (addresses case-insensitively, the amount exactly, extra as
// JSON). A v1 payment names only its scheme and network; what its payload
// names of the transfer (read by the scheme's server, see "Schemes") must
// be the requirement's payTo and amount exactly, and its asset where it
// names one. When several options on one network differ only in their
// asset, each is tried with the facilitator, which accepts the signature
// made for the right token only. The facilitator verifies the payment
// against the server's requirements, not the client's copy, and IsValid is
// checked explicitly. The verified payment is available to the handler
// through [PaymentFromContext].
//
// Routes whose requirements are equal (same price, asset, network, payTo
// and timeout) accept each other's payments at the middleware: a payment
// made for one is valid for the other. One payment still buys one
// response: the facilitator binds a settlement to the resource it was made
// for, so a second settlement of the authorization for another resource
// gets duplicate_settlement. Give routes distinct payTo addresses or
// prices where that matters.
//
// # Charged answers
//
// By default an answer with status 200 to 399 is charged: a success, a
// redirect, 304 Not Modified. A handler error (400 or more) is not.
// [Route.Charge] decides per route instead; an informational status is
// not final and never charged. An answer that is not charged is not
// settled, yet its payment buys no other response (see "One payment, one
// response"): with settle-before-serve, a failed answer leaves the
// payer's authorization unsettled and dead at this server, and the client
// pays again with a new one.
//
// # Caching
//
// A paid answer gets Cache-Control: private, no-store, so that no shared
// cache serves it to a client that did not pay, unless the handler's own
// Cache-Control already has an unqualified private or no-store directive
// ("private, max-age=60" lets the payer's browser keep what it paid for).
// Directives for shared caches only (CDN-Cache-Control and its vendor
// variants, Surrogate-Control, Edge-Control) are removed from paid answers.
// The 402 and the middleware's own error answers are no-store, and an
// answer refused after the handler started carries none of its headers.
//
// # Schemes
//
// The middleware knows no scheme's payload. [Config.Schemes] holds an
// [x402.SchemeServer] for each scheme and network the routes offer
// (evm.ServerSchemes for EVM "exact"): it turns a Price into requirements,
// and identifies a payment by the key under which the scheme's facilitator
// settles it at most once, with its expiry. A scheme server that also
// implements [x402.LocalVerifier] verifies the payments it can decide
// itself; the facilitator verifies the rest and settles every payment. A
// payment's header is decoded once, and its payload once per request.
//
// # Stateful schemes
//
// A scheme server that implements [x402.ChargeAdmitter] (EVM
// "batch-settlement", whose payments are cumulative vouchers against a
// payment channel: evm/batchsettlement/channelserver) takes its payments
// over: the middleware hands each one to Admit instead of verifying it
// with the facilitator, and follows the decision. A reserved charge runs
// the handler with its answer held back (as SettleBeforeServe does, and
// whatever the route's Policy); a chargeable answer is released only once
// the charge is committed, with the scheme's SettleResponse in
// PAYMENT-RESPONSE, and any other outcome (a handler error, a panic, a
// refused or failed commit) charges nothing. A refusal is answered 402,
// with the scheme's corrected requirements when it gives some (a
// corrective 402); a payload that is an operation of the scheme (a
// cooperative refund) is answered without running the handler. The claims
// and the queue below do not apply: the scheme's state makes a payment
// buy one response.
//
// # Metered pricing
//
// A scheme server that implements [x402.MeteredScheme] (EVM "upto") takes
// payments that authorize a maximum, the option's price, and settle what
// the answer used. The handler reports it with [Charge] (atomic units,
// adding up) or [Use] (units at [Route.UnitPrice]); once it returned, the
// middleware settles the sum, capped at the maximum (a larger report is
// logged as an error and [ErrOverMaximum] returned), with requirements
// the scheme builds for that amount. A charge of 0 moves nothing on chain
// and still uses the payment. A settle-before-serve route holds the answer
// back until the charge settled, with the receipt in PAYMENT-RESPONSE,
// unless the handler streams (it flushes, answers text/event-stream, or
// writes more than MaxBufferBytes): then the answer passes through as it
// is written and the receipt follows as a PAYMENT-RESPONSE trailer. A
// serve-then-settle route streams and queues the settlement of the charge
// once the handler returned. Both count against
// [Config.MaxUnsettledPerPayer] while served and not settled.
//
// # One payment, one response
//
// The facilitator only learns that an authorization is spent when it
// settles it; until then every copy of a payment verifies. The middleware
// claims each payment (by its scheme's settle-once key: for EVM "exact",
// network, asset, payer and nonce) before verifying it, and refuses a copy
// with 402 without running the handler. The claim lasts until the
// authorization expires (as its scheme reads it), also after the payment
// settled: a facilitator reading the chain through a lagging node could
// otherwise find a settled authorization unused and verify a copy. It
// also lasts when the answer was not charged (the handler failed, the
// settlement was refused): once its handler ran, a payment has bought its
// one response. Only a payment refused before its handler ran (see
// "Unsettled payments", or an authorization about to expire) is released
// and may be sent again.
//
// Claims live in memory ([Claims]), for one process. With [Config.Queue]
// set, every paid request, whatever its route's policy, is also claimed in
// the queue before its handler runs, atomically across every process
// sharing it, and a serve-then-settle payment stays recorded there once
// queued. So a payment served before a restart, or by another server behind
// the same load balancer, is answered 402 too. Servers behind a load
// balancer must share a queue to get this: sqlitequeue is shared by the
// processes of one host; servers on several hosts share a PostgreSQL
// database through pgqueue. Without a shared queue, a copy of a payment sent to two servers
// at once can be served by both while it settles once.
//
// # Idempotent retries
//
// A route with [Route.PaymentIdentifier] set declares the
// payment-identifier extension: a client names each payment with an id,
// and a resend of a paid request whose answer was lost (the identical
// payment header, so the same id) gets the first response back, headers
// and PAYMENT-RESPONSE included, without running the handler, verifying
// or settling again. The id is looked up before the payment is verified,
// scoped by method, route and path, and bound to a hash of the exact
// payment header: another payment under a used id is answered 409
// (payment_identifier_conflict), a resend while the first is still being
// processed 409 with Retry-After (payment_identifier_in_progress), and an
// id that is not 16 to 128 letters, digits, '-' or '_' 400
// (invalid_payment_identifier). Responses are kept in [Config.Responses]
// (see [ResponseStore] for its atomicity contract): the Queue when it is
// one (sqlitequeue is), else in memory.
//
// # Unsettled payments
//
// A serve-then-settle route serves before the payment settles. A
// facilitator that does not reserve a payer's funds from verify to settle
// (the x402.org facilitator) verifies each of a payer's payments against
// the same balance, so a payer holding one price could send several
// authorizations at once and be served for each while only one settles.
// Serve-then-settle routes therefore serve each payer (one payer of one
// asset on one network) at most [Config.MaxUnsettledPerPayer] payments
// that are served and not settled yet, by default one, or no limit when
// the facilitator says it reserves funds (a ReservesFunds() bool method
// that returns true). Another payment gets 402 with the error
// payer_has_unsettled_payment ([x402.ReasonPayerHasUnsettledPayment]) and
// is released, so it may be sent again later. A payment counts from its
// verification until [Middleware.RunSettlements] settled it or gave it
// up, or, for an answer that was not charged, until the answer is done.
// The count is in [Config.Claims], per process: the middleware running
// RunSettlements must share the routes' Claims and Schemes, and a payment
// settled by another process's worker counts here until its claim ends.
//
// # Settling after serving
//
// A ServeThenSettle route queues its settlements in [Config.Queue], and
// [Middleware.RunSettlements] settles them. A settlement waits for its
// transaction to be mined, so settling one at a time settles one payment
// per block; RunSettlements settles up to [Config.SettleWorkers] (16) at
// once. With an [ExpiringQueue] (sqlitequeue is one), the due payment
// whose authorization expires first is settled first, each handed to one
// worker of one process; a retry waits 1 s doubling per attempt, never
// more than half the time the authorization has left; and a payment that
// expired in the queue is dropped, logged as an error (it was served
// unpaid) and counted in [Middleware.SettlementStats].
//
// Back-pressure: while the oldest queued payment has used more than
// [Config.BackPressure] (0.5) of its time, from its claim to its
// authorization's expiry, or a new payment would spend more than that
// share of its own time waiting behind the queued ones (at the rate they
// were settled over the last 10 s, but no less than one per worker every
// 12 s), ServeThenSettle routes answer new
// payments 503 Service Unavailable with Retry-After: 2, without
// verifying them or running the handler. The payment is not used: the
// client may send it again after Retry-After. Settling those payments
// before serving instead was rejected: it would add in-band settlements
// to the facilitator and signer that are already behind, rather than
// shed load, and it would buffer the answers of routes chosen for
// streaming (an endless event stream never finishes; a large answer
// fails past MaxBufferBytes), holding each client for a block or more. A
// 503 with Retry-After is the standard signal to back off, and costs the
// payer nothing.
//
// # Rate limits and free tiers
//
// [Route.RateLimits] limits one route, and [Config.RateLimiter] (made by
// [NewRateLimiter], and shareable between middlewares) every route
// together; a request must pass both. The zero values limit nothing.
//
//   - PerIP is a token bucket per client address (golang.org/x/time/rate),
//     taken by every request to a priced route, paid or not, before
//     anything else (preflights excepted). The client is the peer's
//     address (RemoteAddr), an IPv6 one by its /64; only when the peer is
//     in [Config.TrustedProxies] are its Forwarded (RFC 7239, preferred)
//     or X-Forwarded-For hops read, from the right, the first hop that is
//     not a trusted proxy being the client. Over the limit: 429 Too Many
//     Requests with Retry-After in whole seconds.
//   - Free serves the first N requests without a payment header of each
//     client address per window (a fixed window from its first request)
//     as if the route were free: the handler runs, nothing is charged.
//     The next request gets the 402. A request that carries a payment is
//     always charged. A free request's handler finds no payment
//     ([PaymentFromContext] reports false).
//   - PerPayer is a token bucket per payer. The payer is known only from
//     the payment: before verifying it, the middleware answers 429 if the
//     payer it names has no token left (looking, not taking), so that the
//     payment is never verified and a facilitator that reserves verified
//     authorizations (go402's) holds nothing for it: the same payment can
//     be sent again after Retry-After. A token is taken only once the
//     payment is verified, so that a forged payment naming another payer
//     cannot spend that payer's tokens; concurrent requests of one payer
//     that all passed the first look and lose the race for the last token
//     are answered 429 after verifying (not settled, not served). For
//     stateful schemes ([x402.ChargeAdmitter]) the token is taken after
//     Admit and the pending charge aborted.
//
// Memory is bounded: each table (addresses, payers, free counters) holds
// at most [RateLimits.MaxEntries] (65536) entries, dropping the least
// recently seen when full, and entries idle long enough to be full again
// (or past their window) are dropped as new requests arrive. Under a
// spray of addresses beyond the bound, an evicted address starts afresh:
// set the bound above the number of clients you expect to limit at once.
//
// See docs/middleware.md in the repository for a guide to the middleware,
// with the exact headers of each answer.
package x402http
