// Package remote is an HTTP client for x402 facilitators: it implements
// [x402.Facilitator] by calling POST {URL}/verify, POST {URL}/settle and
// GET {URL}/supported of any facilitator that speaks the x402 HTTP API (the
// hosted CDP facilitator, x402.org, the reference TypeScript and Go
// facilitators, or go402's own).
//
// # Verdicts and errors
//
// A bad payment is a verdict, not an error. A 2xx answer with
// {"isValid":false,...} is returned as a [x402.VerifyResponse] with IsValid
// false and a nil error, and a 2xx {"success":false,...} as a
// [x402.SettleResponse] with Success false (this includes a pending
// settlement, reason settlement_pending, whose transaction hash is kept).
// Some facilitators send a rejection with a client-error status instead: the
// hosted CDP facilitator answers 400 with a VerifyResponse body. A 400, 402,
// 409 or 422 response whose body is a VerifyResponse with isValid false (or a
// SettleResponse with success false) is therefore returned as that verdict.
//
// Everything else is an error, meaning that no verdict was reached:
//   - any other non-2xx response is an [*HTTPError] carrying the status, the
//     endpoint, the start of the body and the facilitator's message (the
//     "error" field of a body such as {"error":"<reason>: <msg>"}, which is
//     what the Go reference facilitator sends with a 500). A 5xx answer is
//     never a verdict, even when its body looks like one; such a body is
//     kept decoded in HTTPError.Verify or HTTPError.Settle;
//   - a 2xx body that is not JSON, lacks isValid (verify), lacks success or
//     network, or claims success without a transaction (settle) wraps
//     [ErrMalformedResponse]; a 2xx body over [MaxResponseSize] wraps
//     [ErrResponseTooLarge];
//   - transport failures, timeouts and the end of the caller's context are
//     returned wrapped, so errors.Is(err, context.Canceled) and
//     errors.Is(err, context.DeadlineExceeded) work.
//
// A Settle error after which the payment may nevertheless have been settled
// (the request may have reached the facilitator but no valid answer came
// back: a broken connection, a timeout, a 5xx status, a malformed body)
// also wraps [ErrSettleOutcomeUnknown]. Callers that must not lose track of
// money should treat such a payment as possibly settled and reconcile it
// rather than serve or refuse blindly.
//
// # Retries
//
// Retries happen only where they are safe:
//   - /verify and /supported are idempotent. They are retried (Config.Retries
//     times, 2 by default) after a transport failure or per-attempt timeout
//     and after a 429, 502, 503 or 504 response, with a jittered exponential
//     backoff (100 ms, 200 ms, ... by default) that honours the context. A
//     Retry-After header (seconds or an HTTP date) on such a response is
//     honoured; when it asks for more than 10 seconds the call is not
//     retried and the response is returned as an [*HTTPError].
//   - /settle moves money and is never retried once the request may have
//     reached the facilitator: not after a response of any status (including
//     429 and 503), not after a timeout, not after a connection that broke
//     while the request was being sent or the answer read. It is retried
//     only when the connection could not be established at all: the error
//     is a *net.OpError whose Op is "dial", or a *net.DNSError.
//
// No retry waits past the context's deadline: if the next attempt could not
// start before it, the last result is returned at once.
//
// # Logging
//
// Request and response bodies contain payment signatures and are never
// logged, and neither are error texts. At Debug level the client logs, for
// each attempt, the endpoint, the attempt number, the status (or, after a
// transport failure, whether it was a failure to connect), the duration and
// any retry delay.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go402/go402/x402"
)

// Defaults applied to a zero [Config].
const (
	// DefaultTimeout is the per-attempt timeout of /verify and /supported.
	DefaultTimeout = 30 * time.Second
	// DefaultSettleTimeout is the timeout of a /settle attempt. It is long
	// because a facilitator usually answers only after the settlement
	// transaction is confirmed on chain.
	DefaultSettleTimeout = 90 * time.Second
	// DefaultRetries is the number of retries after a first attempt.
	DefaultRetries = 2
	// DefaultRetryDelay is the backoff before the first retry; it doubles
	// for each further retry and is jittered.
	DefaultRetryDelay = 100 * time.Millisecond
)

// MaxResponseSize is the largest response body the client reads, in bytes.
const MaxResponseSize = 1 << 20

// Endpoint names, passed to [Config.Headers] and reported in [HTTPError].
const (
	EndpointVerify    = "verify"
	EndpointSettle    = "settle"
	EndpointSupported = "supported"
)

const (
	// maxRetryAfter is the longest Retry-After the client waits for; a
	// longer one ends the retries.
	maxRetryAfter = 10 * time.Second
	// maxBackoff caps the exponential backoff.
	maxBackoff = 5 * time.Second
	// maxErrorBody is how much of a non-2xx body an HTTPError keeps.
	maxErrorBody = 1 << 10
	// maxErrorMessage is how much of a facilitator's message an HTTPError
	// keeps.
	maxErrorMessage = 512
	// modulePath is go402's module, used to find its version for the
	// default User-Agent.
	modulePath = "github.com/go402/go402"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrMalformedResponse: a 2xx response body is not the JSON document
	// the endpoint must return.
	ErrMalformedResponse = errors.New("malformed facilitator response")
	// ErrResponseTooLarge: a response body exceeds [MaxResponseSize].
	ErrResponseTooLarge = errors.New("facilitator response too large")
	// ErrSettleOutcomeUnknown: a settle request may have reached the
	// facilitator, but no valid answer came back, so the payment may or
	// may not have been settled.
	ErrSettleOutcomeUnknown = errors.New("settlement outcome unknown")
)

// HTTPError is a facilitator response with a status that is not a verdict.
// Inspect it with errors.As.
type HTTPError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Endpoint is "verify", "settle" or "supported".
	Endpoint string
	// Body is the start of the response body (at most 1 KiB, valid UTF-8).
	// It may echo the request, so do not log it carelessly.
	Body string
	// Message is the facilitator's explanation, taken from an "error",
	// "message" or "errorMessage" field of a JSON body, or from the reason
	// and message of a typed body; "" when there is none.
	Message string
	// Verify is the body decoded as a VerifyResponse when it is one (for
	// example a 500 with {"isValid":false,...}); nil otherwise.
	Verify *x402.VerifyResponse
	// Settle is the body decoded as a SettleResponse when it is one; nil
	// otherwise. A transaction hash in it may identify a settlement whose
	// outcome is unknown.
	Settle *x402.SettleResponse
}

// Error implements error. It includes the facilitator's message but not the
// body.
func (e *HTTPError) Error() string {
	s := "remote: " + e.Endpoint + ": HTTP " + strconv.Itoa(e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		s += " " + t
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Config configures a [Client]. The zero value of each field but URL
// selects the documented default.
type Config struct {
	// URL is the facilitator's base URL, such as
	// "https://x402.org/facilitator". It must be http or https, with a host
	// and without a query or fragment; trailing slashes are removed. The
	// endpoints are URL + "/verify", "/settle" and "/supported".
	URL string

	// HTTPClient sends the requests. nil means a new client using
	// http.DefaultTransport. The client is used as given, never modified;
	// it must follow redirects (http.Client does by default) for
	// facilitators that redirect, such as x402.org. Request bodies are
	// replayable, so a 307 or 308 redirect of a POST keeps its body.
	HTTPClient *http.Client

	// Timeout bounds each attempt of /verify and /supported, from sending
	// the request to reading the whole answer. 0 means [DefaultTimeout];
	// negative means no per-attempt timeout (only the context's). It is
	// applied through the request's context, so it works with any
	// HTTPClient, whose own Timeout also applies.
	Timeout time.Duration

	// SettleTimeout bounds each attempt of /settle like Timeout. 0 means
	// [DefaultSettleTimeout]; negative means none.
	SettleTimeout time.Duration

	// Headers, if not nil, returns extra headers for a request to endpoint
	// ("verify", "settle" or "supported"), such as
	// "Authorization: Bearer ...". It is called for every attempt, so it
	// may mint short-lived tokens. Its headers replace the client's for
	// the same names. An error fails the call before anything is sent.
	Headers func(ctx context.Context, endpoint string) (http.Header, error)

	// Retries is how many times an idempotent call (verify, supported) is
	// retried after a retryable failure, and how many times settle is
	// retried after a failure to connect (see the package documentation).
	// 0 means [DefaultRetries]; negative means no retries.
	Retries int

	// RetryDelay is the backoff before the first retry; it doubles for each
	// further retry (capped at 5 s) and is jittered by up to half. 0 means
	// [DefaultRetryDelay].
	RetryDelay time.Duration

	// UserAgent is the User-Agent header. "" means "go402/<version>".
	UserAgent string

	// Logger receives Debug records about attempts, never bodies. nil
	// discards them.
	Logger *slog.Logger
}

// Client is an [x402.Facilitator] that calls a remote facilitator over
// HTTP. It is safe for concurrent use.
type Client struct {
	hc         *http.Client
	headers    func(ctx context.Context, endpoint string) (http.Header, error)
	retries    int
	retryDelay time.Duration
	userAgent  string
	log        *slog.Logger

	verify, settle, supported endpoint
}

var _ x402.Facilitator = (*Client)(nil)

// endpoint describes one facilitator endpoint.
type endpoint struct {
	name    string
	method  string
	url     string
	timeout time.Duration // per attempt; <= 0 means none
	// idempotent endpoints are retried after any retryable failure; the
	// others only after a failure to connect.
	idempotent bool
}

// New returns a client for the facilitator at cfg.URL.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		hc:         cfg.HTTPClient,
		headers:    cfg.Headers,
		retries:    cfg.Retries,
		retryDelay: cfg.RetryDelay,
		userAgent:  cfg.UserAgent,
		log:        cfg.Logger,
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.retryDelay <= 0 {
		c.retryDelay = DefaultRetryDelay
	}
	if c.userAgent == "" {
		c.userAgent = "go402/" + moduleVersion()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	timeout := orDefault(cfg.Timeout, DefaultTimeout)
	c.verify = endpoint{name: EndpointVerify, method: http.MethodPost, url: base + "/verify", timeout: timeout, idempotent: true}
	c.settle = endpoint{name: EndpointSettle, method: http.MethodPost, url: base + "/settle", timeout: orDefault(cfg.SettleTimeout, DefaultSettleTimeout)}
	c.supported = endpoint{name: EndpointSupported, method: http.MethodGet, url: base + "/supported", timeout: timeout, idempotent: true}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// parseBaseURL validates a facilitator URL and returns it without trailing
// slashes.
func parseBaseURL(s string) (string, error) {
	if s == "" {
		return "", errors.New("remote: facilitator URL is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("remote: facilitator URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("remote: facilitator URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return "", fmt.Errorf("remote: facilitator URL %q has no host", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("remote: facilitator URL %q has a query", u.Redacted())
	case u.Fragment != "":
		return "", fmt.Errorf("remote: facilitator URL %q has a fragment", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// moduleVersion returns go402's version from the build information, or
// "dev" when it is not known (as in go402's own builds and tests).
func moduleVersion() string {
	v := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == modulePath {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				v = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					v = d.Replace.Version
				}
			}
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return strings.TrimPrefix(v, "v")
}

// Verify implements [x402.Facilitator]: POST {URL}/verify.
func (c *Client) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	ep := &c.verify
	body, err := marshalRequest(req)
	if err != nil {
		return nil, fmt.Errorf("remote: verify: %w", err)
	}
	res, err := c.do(ctx, ep, body)
	if err != nil {
		return nil, err
	}
	if res.is2xx() {
		if res.tooLarge {
			return nil, fmt.Errorf("remote: verify: %w", ErrResponseTooLarge)
		}
		v, err := decodeVerify(res.body)
		if err != nil {
			return nil, fmt.Errorf("remote: verify: HTTP %d: %w", res.status, err)
		}
		return v, nil
	}
	v, verr := decodeVerify(res.body)
	if verr != nil || res.tooLarge {
		v = nil
	}
	if v != nil && !v.IsValid && verdictStatus(res.status) {
		return v, nil
	}
	herr := newHTTPError(ep.name, res)
	herr.Verify = v
	if v != nil && herr.Message == "" {
		herr.Message = reasonMessage(v.InvalidReason, v.InvalidMessage)
	}
	return nil, herr
}

// Settle implements [x402.Facilitator]: POST {URL}/settle. See the package
// documentation for its retry rule: it is retried only when the connection
// could not be established.
func (c *Client) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	ep := &c.settle
	body, err := marshalRequest(req)
	if err != nil {
		return nil, fmt.Errorf("remote: settle: %w", err)
	}
	res, err := c.do(ctx, ep, body)
	if err != nil {
		return nil, err
	}
	if res.is2xx() {
		if res.tooLarge {
			return nil, fmt.Errorf("remote: settle: %w: %w", ErrSettleOutcomeUnknown, ErrResponseTooLarge)
		}
		s, err := decodeSettle(res.body, req.Scheme(), true)
		if err != nil {
			return nil, fmt.Errorf("remote: settle: HTTP %d: %w: %w", res.status, ErrSettleOutcomeUnknown, err)
		}
		return s, nil
	}
	s, serr := decodeSettle(res.body, req.Scheme(), false)
	if serr != nil || res.tooLarge {
		s = nil
	}
	if s != nil && !s.Success && verdictStatus(res.status) {
		return s, nil
	}
	herr := newHTTPError(ep.name, res)
	herr.Settle = s
	if s != nil && herr.Message == "" {
		herr.Message = reasonMessage(s.ErrorReason, s.ErrorMessage)
	}
	if res.status >= 500 {
		return nil, fmt.Errorf("%w (%w)", herr, ErrSettleOutcomeUnknown)
	}
	return nil, herr
}

// Supported implements [x402.Facilitator]: GET {URL}/supported. Missing
// extensions and signers decode as empty; kinds that cannot be decoded are
// skipped, and unknown versions, schemes and networks are kept.
func (c *Client) Supported(ctx context.Context) (*x402.SupportedResponse, error) {
	ep := &c.supported
	res, err := c.do(ctx, ep, nil)
	if err != nil {
		return nil, err
	}
	if !res.is2xx() {
		return nil, newHTTPError(ep.name, res)
	}
	if res.tooLarge {
		return nil, fmt.Errorf("remote: supported: %w", ErrResponseTooLarge)
	}
	s, err := c.decodeSupported(ctx, res.body)
	if err != nil {
		return nil, fmt.Errorf("remote: supported: HTTP %d: %w", res.status, err)
	}
	return s, nil
}

func marshalRequest(req *x402.FacilitatorRequest) ([]byte, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	return json.Marshal(req)
}

// verdictStatus reports whether a non-2xx status may carry a verdict: the
// client-error statuses facilitators use to reject a payment. Statuses that
// speak of the call itself (401, 403, 404, 429, ...) never do.
func verdictStatus(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusPaymentRequired, http.StatusConflict, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

func decodeVerify(body []byte) (*x402.VerifyResponse, error) {
	var probe struct {
		IsValid *bool `json:"isValid"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	if probe.IsValid == nil {
		return nil, fmt.Errorf("%w: isValid is missing", ErrMalformedResponse)
	}
	var v x402.VerifyResponse
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	return &v, nil
}

// decodeSettle decodes a SettleResponse, which must have success. When
// strict it must also pass SettleResponse.ValidateFor the payment's scheme
// (a network, and a transaction if it succeeded, except for upto's $0).
func decodeSettle(body []byte, scheme string, strict bool) (*x402.SettleResponse, error) {
	var probe struct {
		Success *bool `json:"success"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	if probe.Success == nil {
		return nil, fmt.Errorf("%w: success is missing", ErrMalformedResponse)
	}
	var s x402.SettleResponse
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	if strict {
		if err := s.ValidateFor(scheme); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
	}
	return &s, nil
}

func (c *Client) decodeSupported(ctx context.Context, body []byte) (*x402.SupportedResponse, error) {
	var w struct {
		Kinds      *[]json.RawMessage `json:"kinds"`
		Extensions json.RawMessage    `json:"extensions"`
		Signers    json.RawMessage    `json:"signers"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	if w.Kinds == nil {
		return nil, fmt.Errorf("%w: kinds is missing", ErrMalformedResponse)
	}
	s := &x402.SupportedResponse{
		Kinds:      make([]x402.SupportedKind, 0, len(*w.Kinds)),
		Extensions: []string{},
		Signers:    map[string][]string{},
	}
	for i, raw := range *w.Kinds {
		var k x402.SupportedKind
		if err := json.Unmarshal(raw, &k); err != nil || k.Scheme == "" || k.Network == "" {
			c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: skipping undecodable supported kind", slog.Int("index", i))
			continue
		}
		s.Kinds = append(s.Kinds, k)
	}
	if !isNull(w.Extensions) {
		var ext []string
		if err := json.Unmarshal(w.Extensions, &ext); err == nil {
			s.Extensions = append(s.Extensions, ext...)
		} else {
			c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: ignoring undecodable supported extensions")
		}
	}
	if !isNull(w.Signers) {
		var sig map[string][]string
		if err := json.Unmarshal(w.Signers, &sig); err == nil {
			for k, v := range sig {
				s.Signers[k] = v
			}
		} else {
			c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: ignoring undecodable supported signers")
		}
	}
	return s, nil
}

func isNull(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || string(t) == "null"
}

// response is a complete HTTP answer.
type response struct {
	status   int
	header   http.Header
	body     []byte // at most MaxResponseSize bytes
	tooLarge bool   // the body was longer than MaxResponseSize
}

func (r *response) is2xx() bool { return r.status >= 200 && r.status < 300 }

// do calls ep, retrying as the package documentation says. It returns the
// last response, whatever its status, or an error when no response was
// received.
func (c *Client) do(ctx context.Context, ep *endpoint, body []byte) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("remote: %s: %w", ep.name, err)
	}
	for attempt := 1; ; attempt++ {
		res, sent, err := c.attempt(ctx, ep, body, attempt)
		if err != nil && !sent {
			// Nothing was sent (a Headers error) or the context ended.
			return nil, err
		}
		if ctx.Err() != nil && err != nil {
			return nil, c.transportError(ep, err)
		}
		wait, retry := c.retryable(ep, res, err, attempt)
		if !retry || attempt > c.retries {
			if err != nil {
				return nil, c.transportError(ep, err)
			}
			return res, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			// The next attempt could not start in time.
			if err != nil {
				return nil, c.transportError(ep, err)
			}
			return res, nil
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: retrying",
			slog.String("endpoint", ep.name), slog.Int("attempt", attempt), slog.Duration("wait", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("remote: %s: %w", ep.name, ctx.Err())
		case <-t.C:
		}
	}
}

// transportError wraps an error of a request that got no response. For a
// non-idempotent endpoint it marks the outcome unknown unless the
// connection was never established.
func (c *Client) transportError(ep *endpoint, err error) error {
	if !ep.idempotent && !isDialError(err) {
		return fmt.Errorf("remote: %s: %w: %w", ep.name, ErrSettleOutcomeUnknown, err)
	}
	return fmt.Errorf("remote: %s: %w", ep.name, err)
}

// attempt makes one request and reads the whole answer. sent is false when
// the request was not handed to the HTTP client.
func (c *Client) attempt(ctx context.Context, ep *endpoint, body []byte, n int) (res *response, sent bool, err error) {
	actx := ctx
	if ep.timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, ep.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body) // sets GetBody, so redirects replay it
	}
	req, err := http.NewRequestWithContext(actx, ep.method, ep.url, rd)
	if err != nil {
		return nil, false, fmt.Errorf("remote: %s: %w", ep.name, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.headers != nil {
		h, err := c.headers(actx, ep.name)
		if err != nil {
			return nil, false, fmt.Errorf("remote: %s: headers: %w", ep.name, err)
		}
		for k, v := range h {
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: request failed",
			slog.String("endpoint", ep.name), slog.Int("attempt", n),
			slog.Duration("duration", time.Since(start)), slog.Bool("dial_error", isDialError(err)))
		return nil, true, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: reading response failed",
			slog.String("endpoint", ep.name), slog.Int("attempt", n), slog.Int("status", resp.StatusCode),
			slog.Duration("duration", time.Since(start)))
		return nil, true, fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, err)
	}
	res = &response{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > MaxResponseSize {
		res.body, res.tooLarge = b[:MaxResponseSize], true
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: response",
		slog.String("endpoint", ep.name), slog.Int("attempt", n), slog.Int("status", resp.StatusCode),
		slog.Duration("duration", time.Since(start)))
	return res, true, nil
}

// retryable decides whether a failed attempt is retried and after how long.
// err is a transport error (then res is nil).
func (c *Client) retryable(ep *endpoint, res *response, err error, attempt int) (time.Duration, bool) {
	backoff := c.backoff(attempt)
	if err != nil {
		if ep.idempotent || isDialError(err) {
			return backoff, true
		}
		return 0, false
	}
	if !ep.idempotent {
		return 0, false // a response means the request reached the facilitator
	}
	switch res.status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return 0, false
	}
	if ra, ok := retryAfter(res.header.Get("Retry-After")); ok {
		if ra > maxRetryAfter {
			return 0, false
		}
		return max(ra, backoff), true
	}
	return backoff, true
}

// backoff returns the jittered delay before retry number attempt (1-based):
// between half and all of RetryDelay*2^(attempt-1), capped at maxBackoff.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryDelay
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter + time.Second, true // too long: only its size matters
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// isDialError reports whether err means that no connection was established,
// so that the request cannot have reached the server.
func isDialError(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func newHTTPError(endpoint string, res *response) *HTTPError {
	b := res.body
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody]
	}
	return &HTTPError{
		StatusCode: res.status,
		Endpoint:   endpoint,
		Body:       strings.ToValidUTF8(string(b), "\uFFFD"),
		Message:    errorMessage(res.body),
	}
}

// errorMessage extracts a facilitator's explanation from an error body:
// {"error":"..."}, {"error":{"message":"..."}}, {"message":"..."} or
// {"errorMessage":"..."}.
func errorMessage(body []byte) string {
	var w struct {
		Error        json.RawMessage `json:"error"`
		Message      string          `json:"message"`
		ErrorMessage string          `json:"errorMessage"`
	}
	if json.Unmarshal(body, &w) != nil {
		return ""
	}
	var msg string
	if json.Unmarshal(w.Error, &msg) != nil || msg == "" {
		var nested struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(w.Error, &nested) == nil {
			msg = nested.Message
		}
	}
	if msg == "" {
		msg = w.Message
	}
	if msg == "" {
		msg = w.ErrorMessage
	}
	return truncate(msg, maxErrorMessage)
}

func reasonMessage(r x402.Reason, msg string) string {
	switch {
	case r == "":
		return truncate(msg, maxErrorMessage)
	case msg == "":
		return truncate(string(r), maxErrorMessage)
	}
	return truncate(string(r)+": "+msg, maxErrorMessage)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
