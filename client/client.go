package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go402/go402/x402"
)

// DefaultMaxBodyBuffer is the largest request body without GetBody that is
// buffered so that it can be sent again with the payment.
const DefaultMaxBodyBuffer = 8 << 20

// Config configures a [Client]. Schemes must hold at least one scheme
// client ([NewEVM] registers the EVM "exact" one); every other field has a
// documented default.
type Config struct {
	// Schemes are the scheme clients that sign payments, keyed by x402
	// version, scheme and network pattern. An option of a 402 is payable
	// when a scheme client is registered for its version, scheme and
	// network; the others are skipped. A scheme client that also has a
	// CanPay(version int, req x402.PaymentRequirements) error method is
	// asked first, and one with a Payer() string method names the payer in
	// receipts.
	Schemes *x402.Registry[x402.SchemeClient]
	// Assets gives the decimals, symbols and dollar status of assets, for
	// the policy and for display. If nil, [DefaultAssets] (the built-in
	// EVM stablecoins); add user-declared assets to it with Assets.Add.
	Assets *Assets
	// Policy limits what is paid. The zero Policy pays anything payable.
	Policy Policy
	// Prefer orders the options the policy allows; the first is paid. It
	// returns a negative number when a is preferred to b, as for
	// slices.SortFunc. If nil, [Cheapest]: the lowest price in whole units
	// first, ties kept in the server's order.
	Prefer func(a, b Option) int
	// Base sends the requests. If nil, http.DefaultTransport.
	Base http.RoundTripper
	// MaxBodyBuffer is the largest request body without GetBody that is
	// buffered for the paid retry. If zero, DefaultMaxBodyBuffer.
	MaxBodyBuffer int64
	// Logger receives debug logs (never keys, signatures or payment
	// headers). If nil, logs are discarded.
	Logger *slog.Logger
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// RPCURLs are JSON-RPC endpoints by network ("eip155:8453"), through
	// which the client reads whether a payment it sent was used on chain
	// (for the EVM "exact" scheme: the token's authorizationState of the
	// EIP-3009 nonce). Without one for a network, a payment sent on it
	// stays counted against the budgets even when the server answers that
	// it did not take it. [NewEVM] hands them to its scheme client.
	RPCURLs map[x402.Network]string
}

// payableChecker is a scheme client that can say, without signing,
// whether it can pay requirements.
type payableChecker interface {
	CanPay(version int, req x402.PaymentRequirements) error
}

// authorizationTracker is a scheme client whose signed payloads can be
// found on chain (the EVM "exact" one: an EIP-3009 nonce). With it, a
// payment the server did not take can be proven unspent, and its budget
// released.
type authorizationTracker interface {
	// Authorization returns the on-chain key of the authorization in a
	// payload signed for req, and when it stops being usable.
	Authorization(req x402.PaymentRequirements, payload x402.Object) (x402.SettlementKey, time.Time, error)
	// AuthorizationState reads whether the authorization of key was used,
	// and whether it can no longer be (the chain is past validBefore).
	AuthorizationState(ctx context.Context, key x402.SettlementKey, validBefore time.Time) (used, expired bool, err error)
}

// payerNamer is a scheme client that knows the payer's address.
type payerNamer interface {
	Payer() string
}

// Client pays for HTTP resources that answer 402 Payment Required, within
// its [Policy]. It is an http.RoundTripper; use [Client.HTTPClient] for an
// *http.Client. It is safe for concurrent use.
type Client struct {
	base    http.RoundTripper
	schemes *x402.Registry[x402.SchemeClient]
	assets  *Assets
	policy  *policy
	prefer  func(a, b Option) int
	budget  *budgetStore
	log     *slog.Logger
	now     func() time.Time
	maxBody int64
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Schemes == nil || len(cfg.Schemes.Kinds()) == 0 {
		return nil, errNoSchemes
	}
	c := &Client{base: cfg.Base, schemes: cfg.Schemes, assets: cfg.Assets, prefer: cfg.Prefer, log: cfg.Logger, now: cfg.Now, maxBody: cfg.MaxBodyBuffer}
	if c.base == nil {
		c.base = http.DefaultTransport
	}
	if c.assets == nil {
		c.assets = DefaultAssets()
	}
	if c.prefer == nil {
		c.prefer = Cheapest
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "client")
	if c.now == nil {
		c.now = time.Now
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBuffer
	}
	var err error
	if c.policy, err = compilePolicy(cfg.Policy); err != nil {
		return nil, err
	}
	if c.budget, err = openBudget(cfg.Policy.BudgetFile, c.now); err != nil {
		return nil, err
	}
	return c, nil
}

// HTTPClient returns a new *http.Client that sends its requests through c.
func (c *Client) HTTPClient() *http.Client { return &http.Client{Transport: c} }

// Spending reports what was spent so far: by this Client, or, with a
// BudgetFile, by every Client sharing the file.
func (c *Client) Spending(ctx context.Context) (Spending, error) {
	return c.budget.spending(ctx)
}

// hasPayment reports whether a request already carries a payment.
func hasPayment(h http.Header) bool {
	return h.Get(x402.HeaderPaymentSignature) != "" || h.Get(x402.HeaderXPayment) != ""
}

// RoundTrip sends req. If the answer is 402 with x402 payment requirements,
// it chooses an option the policy allows, reserves its price against the
// budgets, signs the payment and sends req once more with it
// (PAYMENT-SIGNATURE for v2 servers, X-PAYMENT for v1). The response to a
// paid request carries a [Receipt]: see [ReceiptFromResponse].
//
// A request that already carries a payment header is sent as it is and
// never paid again. A 402 without x402 requirements is returned as it is.
// The errors are a *PolicyError (nothing was signed), a *PaymentError
// wrapping ErrPaymentRejected (the server answered the paid request with
// 402; unless the chain showed the payment unused, it also wraps
// ErrPaymentOutcomeUnknown), an *OutcomeUnknownError wrapping ErrPaymentOutcomeUnknown (the
// payment may have been charged, but its answer was lost), or errors
// wrapping ErrNoPayableOption, ErrInvalidPaymentRequired,
// ErrBodyNotReplayable or the transport's error.
//
// req is not modified. Its body is replayed through req.GetBody or, if
// that is nil, buffered up to Config.MaxBodyBuffer.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if hasPayment(req.Header) {
		return c.base.RoundTrip(req)
	}
	first, body, err := c.prepareBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.base.RoundTrip(first)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		return resp, nil
	}
	off, err := readOffer(resp)
	if errors.Is(err, ErrNotX402) {
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	if !body.replayable {
		return nil, fmt.Errorf("%w: %s asks for payment and the body is larger than %d bytes", ErrBodyNotReplayable, redact(req.URL), c.maxBody)
	}
	return c.pay(req, off, body)
}

// body says how to send a request body again.
type body struct {
	replayable bool
	get        func() (io.ReadCloser, error) // nil when there is no body
}

// prepareBody returns the request to send first and how to replay its
// body. A body without GetBody is buffered, up to c.maxBody; a larger one
// is streamed and cannot be replayed. req.Body is closed on error.
func (c *Client) prepareBody(req *http.Request) (*http.Request, body, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, body{replayable: true}, nil
	}
	if req.GetBody != nil {
		return req, body{replayable: true, get: req.GetBody}, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, c.maxBody+1))
	if err != nil {
		_ = req.Body.Close()
		return nil, body{}, fmt.Errorf("client: reading the request body: %w", err)
	}
	out := req.Clone(req.Context())
	if int64(len(buf)) > c.maxBody {
		out.Body = restoredBody{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return out, body{}, nil
	}
	_ = req.Body.Close()
	get := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	out.Body, _ = get()
	out.GetBody = get
	return out, body{replayable: true, get: get}, nil
}

// hostKey is the per-host budget key of a URL: its host, and its port when
// it is not the scheme's default.
//
// Spellings of one host share a key: case, a final dot and the scheme's
// default port ("API.example.", "api.example:443" for https) do not make a
// new host with a fresh per-host budget. Another port is another host.
func hostKey(u *url.URL) string {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" || port == "443" && strings.EqualFold(u.Scheme, "https") || port == "80" && strings.EqualFold(u.Scheme, "http") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// redact renders a URL for logs and errors without its query, fragment and
// user info, which may hold secrets.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// choice is the outcome of applying the policy to an offer.
type choice struct {
	options []Option     // every payable option, in preference order
	allowed []Option     // those the policy allows, in preference order
	refusal *PolicyError // the most relevant refusal, if none is allowed
	// schemeErr is why a channel scheme could not pay an option (a
	// channel it stopped, a deposit above its cap); reported when no
	// option is allowed.
	schemeErr error
}

// choose applies the policy to the payable options of off, with the
// budgets checked against what is spent or reserved now.
func (c *Client) choose(ctx context.Context, off *offer, host string) (*choice, error) {
	opts, err := c.options(off)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(opts, c.prefer)
	u, err := c.budget.usage(ctx, host)
	if err != nil {
		return nil, err
	}
	ch := &choice{options: opts}
	for i := range opts {
		o := &opts[i]
		if o.channel != nil {
			if pe := c.checkChannel(ctx, off.version, o, u, ch); pe != nil {
				ch.refusal = moreRelevant(ch.refusal, pe)
			}
			continue
		}
		if pe := c.policy.check(o, u); pe != nil {
			ch.refusal = moreRelevant(ch.refusal, pe)
			continue
		}
		ch.allowed = append(ch.allowed, *o)
	}
	return ch, nil
}

// quote builds the Quote of an option of off.
func (c *Client) quote(req *http.Request, off *offer, o *Option) Quote {
	oc := *o
	return Quote{URL: req.URL.String(), Option: &oc, Resource: off.resourceFor(o.index), StatusCode: http.StatusPaymentRequired}
}

// pay chooses, reserves, approves, signs and sends the paid request.
func (c *Client) pay(req *http.Request, off *offer, b body) (*http.Response, error) {
	ctx := req.Context()
	host := hostKey(req.URL)
	c.log.DebugContext(ctx, "payment required", "url", redact(req.URL), "version", off.version, "options", len(off.accepts))
	c.reclaimDue(ctx)
	ch, err := c.choose(ctx, off, host)
	if err != nil {
		return nil, err
	}
	if len(ch.allowed) == 0 && ch.schemeErr != nil {
		return nil, ch.schemeErr
	}
	res, err := c.reserveFirst(ctx, ch, host)
	if err != nil {
		c.log.DebugContext(ctx, "payment refused by policy", "url", redact(req.URL), "err", err)
		return nil, err
	}
	chosen := res.option
	// From here the reservation must be settled one way or the other.
	if c.policy.approve != nil {
		if err := c.policy.approve(ctx, c.quote(req, off, chosen)); err != nil {
			res.finish(ctx, resolvedUnspent)
			oc := *chosen
			return nil, &PolicyError{Rule: RuleApproval, Price: chosen.Price, Option: &oc, Err: err}
		}
	}
	pid := paymentIDFor(off)
	name, value, auth, obj, err := c.sign(ctx, off, chosen, pid)
	if err != nil {
		res.finish(ctx, resolvedUnspent)
		return nil, err
	}
	// From here the authorization is a bearer instrument: it counts as
	// spent until it is proven unspent.
	res.payload = obj
	res.sending(ctx, auth)
	c.log.DebugContext(ctx, "paying", "url", redact(req.URL), "network", chosen.Requirements.Network, "price", chosen.Price, "payTo", chosen.Requirements.PayTo, "version", off.version)
	receipt := &Receipt{Option: *chosen, PaymentID: pid}
	if p, ok := chosen.scheme.(payerNamer); ok {
		receipt.Payer = p.Payer()
	}
	resp, delivered, err := c.sendPaid(req, b, name, value, receipt)
	if chosen.channel != nil {
		return c.concludeChannel(req, off, b, res, receipt, obj, resp, delivered, err)
	}
	if err != nil {
		// Only a payment that never left is certainly unspent; one that
		// may have reached the server may be settled by it.
		if delivered {
			res.unresolved(ctx)
			oc := *chosen
			c.log.DebugContext(ctx, "payment outcome unknown", "url", redact(req.URL), "err", err)
			return nil, &OutcomeUnknownError{Option: &oc, ValidBefore: res.validBefore(), Err: fmt.Errorf("sending the paid request to %s: %w", redact(req.URL), err)}
		}
		res.finish(ctx, resolvedUnspent)
		return nil, fmt.Errorf("client: sending the paid request to %s: %w", redact(req.URL), err)
	}
	return c.conclude(req, resp, delivered, res, receipt)
}

// paymentIDFor returns a fresh payment identifier when the 402 declares
// the payment-identifier extension (v2 only), and "" otherwise. The id
// names the one payment signed for this request: a resend after a lost
// answer carries the same header, so the same id, and a server that keeps
// the first outcome answers it without charging again.
func paymentIDFor(off *offer) string {
	if off.version != x402.V2 {
		return ""
	}
	p, err := x402.ParsePaymentIdentifier(off.extensions)
	if err != nil || !p.Declared {
		return ""
	}
	return x402.NewPaymentID()
}

// sign creates the payment header for o: its name and value, and the
// authorization signed when its scheme can read its state on chain.
func (c *Client) sign(ctx context.Context, off *offer, o *Option, pid string) (_, _ string, _ *outstanding, _ x402.Object, rerr error) {
	// Sign the server's own entry, not the copy handed to callbacks, with
	// a validity window no longer than the policy allows; the payload
	// still names the server's entry as the one accepted.
	req := off.accepts[o.index]
	signed := req
	if max := int(c.policy.maxValidity / time.Second); signed.MaxTimeoutSeconds > max {
		signed.MaxTimeoutSeconds = max
	}
	var obj, added x402.Object
	var err error
	ec, withExtensions := o.scheme.(x402.ExtensionsClient)
	switch {
	case o.channel != nil:
		obj, err = o.channel.CreateFundedPayload(ctx, off.version, signed, o.deposit)
	case withExtensions && off.version == x402.V2:
		obj, added, err = ec.CreatePayloadExtensions(ctx, off.version, signed, off.extensions)
	default:
		obj, err = o.scheme.CreatePayload(ctx, off.version, signed)
	}
	if err != nil {
		return "", "", nil, nil, fmt.Errorf("client: signing the payment: %w", err)
	}
	if o.channel != nil {
		defer func() {
			if rerr != nil { // the payload never leaves: release its channel
				_, _ = o.channel.Conclude(ctx, off.version, req, obj, x402.PaymentAnswer{})
			}
		}()
	}
	auth := c.authorizationOf(ctx, off.version, o, req, obj)
	if off.version == x402.V1 {
		v1 := off.v1[o.index]
		h, err := x402.EncodeXPayment(&x402.PaymentPayloadV1{X402Version: x402.V1, Scheme: v1.Scheme, Network: v1.Network, Payload: obj})
		if err != nil {
			return "", "", nil, nil, fmt.Errorf("client: encoding X-PAYMENT: %w", err)
		}
		return x402.HeaderXPayment, h, auth, obj, nil
	}
	res := off.resource
	exts, err := mergeExtensions(off.extensions, added)
	if err != nil {
		return "", "", nil, nil, fmt.Errorf("client: payment extensions: %w", err)
	}
	if pid != "" {
		if exts, err = x402.WithPaymentID(exts, pid); err != nil {
			return "", "", nil, nil, fmt.Errorf("client: payment extensions: %w", err)
		}
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &res, Accepted: req, Payload: obj, Extensions: exts})
	if err != nil {
		return "", "", nil, nil, fmt.Errorf("client: encoding PAYMENT-SIGNATURE: %w", err)
	}
	return x402.HeaderPaymentSignature, h, auth, obj, nil
}

// authorizationOf describes the authorization in a signed payload, for the
// budget, when the scheme client can find it on chain; nil otherwise.
func (c *Client) authorizationOf(ctx context.Context, version int, o *Option, req x402.PaymentRequirements, obj x402.Object) *outstanding {
	tr, ok := o.scheme.(authorizationTracker)
	if !ok {
		return nil
	}
	key, validBefore, err := tr.Authorization(req, obj)
	if err != nil {
		c.log.DebugContext(ctx, "the scheme cannot describe its authorization; it will count as spent", "err", err)
		return nil
	}
	return &outstanding{Version: version, Scheme: req.Scheme, Network: key.Network, Asset: key.Asset, Payer: key.Payer, Nonce: key.Nonce, ValidBefore: validBefore}
}

// sendPaid sends a clone of req with the payment header. A transport error
// is retried once with the same header (never a new payment) when the
// body can be replayed; so is, after its Retry-After, an answer that the
// payment identifier's first request is still in progress (409
// payment_identifier_in_progress), up to maxInProgressWaits times. delivered reports whether an earlier send of the
// payment (by this loop, or by the transport itself) may have reached the
// server: then a 402 may refuse a copy of a payment that was served.
func (c *Client) sendPaid(req *http.Request, b body, name, value string, receipt *Receipt) (resp *http.Response, delivered bool, err error) {
	ctx := req.Context()
	retry := b.replayable && ctx.Err() == nil
	waits := 0
	for attempt := 0; ; attempt++ {
		// http.Transport itself sends an idempotent request again when a
		// reused connection fails before the answer: count the complete
		// writes, so that such a hidden second send is known. The first
		// may have been served.
		var writes atomic.Int32
		trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				writes.Add(1)
			}
		}}
		r := req.Clone(httptrace.WithClientTrace(context.WithValue(ctx, receiptKey{}, receipt), trace))
		r.Header.Set(name, value)
		r.Body, r.GetBody = nil, b.get
		if b.get != nil {
			if r.Body, err = b.get(); err != nil {
				return nil, delivered, fmt.Errorf("replaying the request body: %w", err)
			}
		} else if req.Body == http.NoBody {
			r.Body = http.NoBody
		}
		resp, err = c.base.RoundTrip(r)
		if writes.Load() > 1 {
			delivered = true
		}
		if err == nil && retry && waits < maxInProgressWaits && inProgress(resp) {
			// A resend reached the server while the first send of this
			// payment was still being processed there: wait and ask
			// again for its outcome, with the same payment.
			waits++
			delivered = true
			if !sleepCtx(ctx, retryAfter(resp)) {
				return nil, delivered, ctx.Err()
			}
			continue
		}
		if err == nil {
			resp.Request = r
			return resp, delivered, nil
		}
		if !neverSent(err) {
			delivered = true
		}
		if attempt > 0 || !retry || ctx.Err() != nil {
			return nil, delivered, err
		}
		c.log.DebugContext(ctx, "paid request failed, resending the same payment", "url", redact(req.URL), "err", err)
	}
}

// neverSent reports whether a transport error shows that the request did
// not leave: the connection could not be established.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// settlementFrom decodes PAYMENT-RESPONSE or, failing that,
// X-PAYMENT-RESPONSE; nil if neither is present and valid.
func settlementFrom(h http.Header) *x402.SettleResponse {
	for _, name := range []string{x402.HeaderPaymentResponse, x402.HeaderXPaymentResponse} {
		if v := h.Get(name); v != "" {
			if sr, err := x402.DecodePaymentResponse(v); err == nil {
				return sr
			}
		}
	}
	return nil
}

// rejection builds the PaymentError of a 402 answer to a paid request and
// closes its body.
func rejection(resp *http.Response, sr *x402.SettleResponse) *PaymentError {
	pe := &PaymentError{StatusCode: resp.StatusCode, Settlement: sr}
	if sr != nil {
		pe.Reason, pe.Message = sr.ErrorReason, sr.ErrorMessage
	}
	var msg string
	if off, err := readOffer(resp); err == nil {
		msg = off.errMsg
	} else if errors.Is(err, ErrNotX402) {
		drainClose(resp.Body)
	}
	switch {
	case pe.Reason == "" && looksLikeReason(msg):
		pe.Reason = x402.Reason(msg)
	case pe.Message == "" && msg != string(pe.Reason):
		pe.Message = msg
	}
	return pe
}
