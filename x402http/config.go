package x402http

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/x402"
)

// Policy says when a route's payment is settled relative to serving.
type Policy int

const (
	// SettleBeforeServe buffers the handler's response and releases it only
	// after the payment settled; if settlement fails the client gets 402
	// with the settlement response and the buffered body is dropped.
	SettleBeforeServe Policy = iota
	// ServeThenSettle responds as soon as the payment is verified and
	// settles afterwards through the durable [Config.Queue]; for
	// micro-payments and streaming responses. A payment that would expire
	// within 30 s of the response starting is refused (the queue could no
	// longer settle it), so such a route's MaxTimeoutSeconds must be more
	// than 60. A payer gets at most [Config.MaxUnsettledPerPayer] such
	// payments served and not yet settled.
	ServeThenSettle
)

// PaymentOption is one way to pay for a route.
type PaymentOption struct {
	// Scheme is the payment scheme; "" means "exact".
	Scheme string
	// Network is the CAIP-2 network, such as "eip155:8453".
	Network x402.Network
	// Price is a human price ("$0.001", "0.25 USDC") resolved by the
	// scheme's server in Config.Schemes. If empty, Amount, Asset and Extra
	// are used as given.
	Price string
	// Amount, Asset and Extra give the price in atomic units of an explicit
	// asset, with the scheme's extra (for EVM exact: the token's EIP-712
	// name and version).
	Amount x402.Amount
	Asset  string
	Extra  x402.Object
	// PayTo is the address that receives the payment.
	PayTo string
	// UnitAmount is the price of one unit of usage in atomic units of the
	// option's asset, for [Use] on a metered payment; it overrides
	// [Route.UnitPrice] for this option.
	UnitAmount x402.Amount
}

// Route configures payment for the requests matching Pattern.
type Route struct {
	// Pattern is "[METHOD ]PATH". METHOD is matched case-insensitively; a
	// GET pattern also matches HEAD; without METHOD every method matches.
	// A request to a priced path with a method no route accepts is
	// answered 405. PATH segments are literals, "{name}" parameters, or a
	// final "*" or "{name...}" matching the rest, compared
	// case-insensitively with both readings of the request path (see
	// "Routes" in the package documentation), so encoded or doubled
	// slashes and dot segments cannot bypass payment. [New] refuses a
	// METHOD that is not an HTTP token, a parameter without a name, and a
	// pattern no cleaned request path could match (an empty segment as
	// in "/a//b", a "." or ".." segment, or a backslash).
	Pattern string
	// Accepts are the payment options offered, in order of preference.
	Accepts []PaymentOption
	// Description and MimeType describe the resource in the 402 answer.
	Description string
	MimeType    string
	// Extensions are the extensions the 402 answer declares
	// (PaymentRequired.extensions), as a JSON object keyed by extension:
	// for example evm/permit2.GasSponsoringDeclaration() under
	// "eip2612GasSponsoring" when the facilitator accepts EIP-2612 gas
	// sponsoring (its /supported extensions list it), so that a payer
	// without a Permit2 allowance can still pay a Permit2 asset.
	Extensions x402.Object
	// Discovery, if set, declares the route discoverable: its 402 answer
	// carries the bazaar extension (package bazaar) built from it, under
	// "bazaar" in Extensions, with the method and the route template
	// ("/users/:id") taken from Pattern when Discovery leaves them empty.
	// A facilitator that settles a payment for the route can then list it
	// (GET /discovery/resources).
	Discovery *bazaar.HTTP
	// MaxTimeoutSeconds is how long a payment authorization stays valid.
	// If zero, 300.
	MaxTimeoutSeconds int
	// Policy chooses when to settle; the zero value is SettleBeforeServe.
	Policy Policy
	// Price, if set, prices each request: its result replaces the Price of
	// every option. A zero price makes the request free.
	Price func(r *http.Request) (x402.Price, error)
	// Resource is the resource URL in the 402 answer. If empty, the
	// request's URL.
	Resource string
	// Charge reports whether an answer with the handler's final status is
	// charged (an informational status other than 101 is not final and is
	// never seen). If nil, statuses 200 to 399 are: a success, a redirect
	// and 304 Not Modified. An answer that is not charged is not settled,
	// and its payment still buys no other response (see "Charged answers"
	// in the package documentation).
	Charge func(status int) bool
	// UnitPrice is the price of one unit of usage ("$0.00002" a token),
	// for payments with a metered scheme ("upto", see [x402.MeteredScheme]):
	// the handler reports units with [Use], and the middleware charges
	// units times this price, in the asset of the option paid (priced by
	// the option's scheme server), capped at the maximum the payment
	// authorized. Empty: no unit price ([Charge] still works).
	UnitPrice string
	// RateLimits are the route's own per-IP and per-payer limits and free
	// tier (see "Rate limits and free tiers" in the package
	// documentation); the zero value limits nothing.
	RateLimits RateLimits
	// PaymentIdentifier declares the payment-identifier extension in the
	// 402 answer (also read from Extensions when declared there): a
	// payment carrying an id is then answered once per id, and a resend
	// of it (its answer lost) gets the first response back, receipt
	// included, without a second settlement; another payment under a
	// used id is refused 409. See "Idempotent retries" in the package
	// documentation.
	PaymentIdentifier PaymentIDMode
}

// Queue durably holds settlements of ServeThenSettle routes until the
// facilitator has settled them, so none is lost on restart, and the claims
// that make one payment buy one response across restarts and across the
// servers sharing the queue (see "One payment, one response" in the package
// documentation). Every method must be safe for concurrent use, and Claim
// and Enqueue atomic across every process sharing the queue.
type Queue interface {
	// Claim durably records that the payment authorization key is being
	// used for one response, until the time given (when the authorization
	// expires). It returns an error wrapping ErrDuplicate if key was
	// claimed or queued before and not released, by this process or by
	// another sharing the queue, before or after a restart.
	Claim(ctx context.Context, key string, until time.Time) error
	// Release gives up a claim whose payment was not used for any
	// response (the request was refused before its handler ran): the key
	// may be claimed again. It does nothing to a key that was queued. A
	// payment whose handler ran is never released: its claim lasts until
	// the time given to Claim.
	Release(ctx context.Context, key string) error
	// Enqueue stores the settlement of the payment claimed as key, to
	// perform. It must be durable when it returns. It returns an error
	// wrapping ErrDuplicate if key was queued already.
	Enqueue(ctx context.Context, key string, req *x402.FacilitatorRequest) error
	// Next blocks until a stored settlement is due or ctx ends, and
	// returns it with an id for Done.
	Next(ctx context.Context) (id string, req *x402.FacilitatorRequest, err error)
	// Done records the outcome of a settlement: it is removed from the
	// queue (or kept for retry if retry is true).
	Done(ctx context.Context, id string, resp *x402.SettleResponse, retry bool) error
}

// ErrDuplicate is wrapped by the errors of Queue.Claim and Queue.Enqueue
// for a payment that was claimed or queued already: the payment was used
// for another response, and this request is answered 402.
var ErrDuplicate = errors.New("x402http: payment already used")

// CORS configures the cross-origin headers of the answers of priced routes
// (402s, paid responses and preflights). The zero value leaves the origin
// policy to the application; see "CORS" in the package documentation for
// the exact headers.
type CORS struct {
	// AllowOrigins are the origins ("https://app.example") whose browser
	// scripts may call priced routes; "*" allows any origin. If empty, the
	// middleware never sets Access-Control-Allow-Origin and what an outer
	// middleware set is kept. If set, the middleware decides: an allowed
	// origin gets Access-Control-Allow-Origin (its own value, with Vary:
	// Origin, or "*"), another one none.
	AllowOrigins []string
	// AllowHeaders are request headers allowed in preflights besides
	// PAYMENT-SIGNATURE, X-PAYMENT, Content-Type and Authorization.
	AllowHeaders []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true to
	// allowed origins (with AllowOrigins set). It cannot go with "*": New
	// refuses that, since every web page could then read paid answers
	// with the visitor's cookies.
	AllowCredentials bool
	// MaxAge is how long browsers may cache a preflight answer. If zero,
	// 10 minutes.
	MaxAge time.Duration
}

// Config configures the payment middleware. Facilitator and Routes are
// required.
type Config struct {
	// Facilitator verifies and settles payments: go402's in-process
	// facilitator or a remote one (facilitator/remote).
	Facilitator x402.Facilitator
	// Schemes holds the server side of every scheme the routes offer,
	// registered under x402.V2 for the options' networks (for EVM "exact",
	// evm.ServerSchemes). A scheme server prices the options given as a
	// Price, and identifies a payment by the key its facilitator settles it
	// under, so that one payment buys one response however it is
	// re-encoded. Required with Routes: New fails for an option whose
	// scheme and network have no registration. Prices of routes without a Price func
	// are resolved once, by New.
	Schemes *x402.Registry[x402.SchemeServer]
	// Routes are matched in order; the first match applies. Requests
	// matching no route pass through untouched.
	Routes []Route
	// Queue is required if any route uses ServeThenSettle. When set, every
	// paid request (whatever its route's policy) is claimed in it before
	// its handler runs, so that one payment buys one response across
	// restarts and across every server sharing the queue.
	Queue Queue
	// MaxUnsettledPerPayer bounds the payments of one payer (one payer of
	// one asset on one network) that serve-then-settle routes have served
	// and not settled yet: a payment beyond it is refused with 402 and the
	// error payer_has_unsettled_payment ([x402.ReasonPayerHasUnsettledPayment]).
	// A facilitator that does not reserve funds between verify and settle
	// (the x402.org one) verifies each of a payer's payments against the
	// same balance, so a payer holding one price could otherwise be
	// served many times and pay once. A payment counts from its
	// verification until its queued settlement settled or was given up
	// ([Middleware.RunSettlements]), or its authorization expired; the
	// count is kept in [Config.Claims], shared by the middlewares using it.
	// Zero means 1, unless Facilitator has a method ReservesFunds() bool
	// that returns true (go402's facilitator, and facilitator/remote with
	// ReservesFunds set): then no limit. A negative value means no limit.
	MaxUnsettledPerPayer int
	// SettleWorkers is how many queued settlements RunSettlements settles
	// at once. A settlement waits for its transaction to be mined, so one
	// at a time settles one payment per block. If zero, 16
	// (DefaultSettleWorkers); 1 settles them one by one.
	SettleWorkers int
	// BackPressure is the share (0 to 1) of its time, from its claim to
	// its authorization's expiry, that the oldest queued settlement may
	// have used, or that a new payment would spend waiting behind the
	// queued ones (at the rate the queue was settled over the last 10 s,
	// but no less than SettleWorkers every 12 s), before ServeThenSettle routes answer new payments 503
	// with Retry-After, until the queue catches up (see "Settling after
	// serving" in the package documentation). It needs a Queue that
	// implements ExpiringQueue (sqlitequeue does). If zero, 0.5
	// (DefaultBackPressure); 1 turns it off.
	BackPressure float64
	// Claims, if set, is the in-process set of payments being served,
	// shared with other middlewares that must not serve one payment twice
	// (the gateway shares one across its routes and reloads). If nil, the
	// middleware has its own.
	Claims *Claims
	// Responses keeps the first response of each payment identifier, for
	// routes that declare the payment-identifier extension. Servers that
	// share a Queue should share it too. If nil: the Queue when it is one
	// too (sqlitequeue's is), else the middleware's own MemoryResponses.
	Responses ResponseStore
	// MaxStoredResponse is the largest response body kept for the
	// resends of a payment identifier; a larger one is not kept, and its
	// resend is refused as a payment already used. If zero,
	// DefaultMaxStoredResponse.
	MaxStoredResponse int
	// CORS configures the cross-origin headers of priced routes. The zero
	// value adds the x402 header names and leaves the origin policy to the
	// application.
	CORS CORS
	// Paywall, if set, renders the HTML page sent to browsers (requests
	// whose Accept includes text/html) with a 402; the PAYMENT-REQUIRED
	// header is already set and it must write the status. If nil, browsers
	// get the built-in wallet paywall (x402http/paywall).
	Paywall func(w http.ResponseWriter, r *http.Request, pr *x402.PaymentRequired)
	// MaxBufferBytes bounds the response buffered by SettleBeforeServe
	// routes; larger responses fail with 500 and are not charged. If
	// zero, 32 MiB.
	MaxBufferBytes int64
	// RateLimiter, if set, applies its limits to every route together,
	// besides each route's own RateLimits; it may be shared by several
	// middlewares (see [NewRateLimiter]).
	RateLimiter *RateLimiter
	// TrustedProxies are the networks of the reverse proxies whose
	// Forwarded or X-Forwarded-For headers name the client for the per-IP
	// limits and free tiers; the headers of any other peer are ignored.
	TrustedProxies []netip.Prefix
	// Logger receives logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Metrics, if set, counts the 402s answered, the paid requests and the
	// revenue by route (metrics.NewHTTP implements it). Nil counts nothing.
	Metrics Recorder
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Payment is a verified payment, available to the handler through
// [PaymentFromContext].
type Payment struct {
	Version      int
	Payer        string
	Requirements x402.PaymentRequirements
	// Request is what the middleware sends to the facilitator to settle.
	Request *x402.FacilitatorRequest
}

type paymentKey struct{}

// PaymentFromContext returns the verified payment of the request being
// served, if it paid.
func PaymentFromContext(ctx context.Context) (*Payment, bool) {
	p, ok := ctx.Value(paymentKey{}).(*Payment)
	return p, ok
}
