package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	s := "facilitator/remote: " + e.Endpoint + ": HTTP " + strconv.Itoa(e.StatusCode)
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

	// After waits out the delay before a retry: it returns a channel that
	// receives once d has passed. nil means time.After. Tests set it to
	// run retries without sitting through their delays.
	After func(d time.Duration) <-chan time.Time

	// ReservesFunds says that the facilitator reserves a payer's funds
	// from verify to settle, so that it refuses to verify payments the
	// payer could not pay all at once: true for a go402 facilitator,
	// false (the zero value) for the x402.org facilitator and any other
	// that does not. [Client.ReservesFunds] reports it; x402http's
	// serve-then-settle routes serve at most one unsettled payment per
	// payer at a time from a facilitator that does not reserve (see
	// x402http.Config.MaxUnsettledPerPayer).
	ReservesFunds bool
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
	after      func(time.Duration) <-chan time.Time
	reserves   bool

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
		after:      cfg.After,
		reserves:   cfg.ReservesFunds,
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
	if c.after == nil {
		c.after = time.After
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
		return "", errors.New("facilitator/remote: facilitator URL is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("facilitator/remote: facilitator URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("facilitator/remote: facilitator URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return "", fmt.Errorf("facilitator/remote: facilitator URL %q has no host", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("facilitator/remote: facilitator URL %q has a query", u.Redacted())
	case u.Fragment != "":
		return "", fmt.Errorf("facilitator/remote: facilitator URL %q has a fragment", u.Redacted())
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

// ReservesFunds reports Config.ReservesFunds: whether the remote
// facilitator reserves a payer's funds between verify and settle. The
// client cannot find it out; it is told.
func (c *Client) ReservesFunds() bool { return c.reserves }

// Verify implements [x402.Facilitator]: POST {URL}/verify.
func (c *Client) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	ep := &c.verify
	body, err := marshalRequest(req)
	if err != nil {
		return nil, fmt.Errorf("facilitator/remote: verify: %w", err)
	}
	res, err := c.do(ctx, ep, body)
	if err != nil {
		return nil, err
	}
	if res.is2xx() {
		if res.tooLarge {
			return nil, fmt.Errorf("facilitator/remote: verify: %w", ErrResponseTooLarge)
		}
		v, err := decodeVerify(res.body)
		if err != nil {
			return nil, fmt.Errorf("facilitator/remote: verify: HTTP %d: %w", res.status, err)
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
		return nil, fmt.Errorf("facilitator/remote: settle: %w", err)
	}
	res, err := c.do(ctx, ep, body)
	if err != nil {
		return nil, err
	}
	if res.is2xx() {
		if res.tooLarge {
			return nil, fmt.Errorf("facilitator/remote: settle: %w: %w", ErrSettleOutcomeUnknown, ErrResponseTooLarge)
		}
		s, err := decodeSettle(res.body, req.Scheme(), true)
		if err != nil {
			return nil, fmt.Errorf("facilitator/remote: settle: HTTP %d: %w: %w", res.status, ErrSettleOutcomeUnknown, err)
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
		return nil, fmt.Errorf("facilitator/remote: supported: %w", ErrResponseTooLarge)
	}
	s, err := c.decodeSupported(ctx, res.body)
	if err != nil {
		return nil, fmt.Errorf("facilitator/remote: supported: HTTP %d: %w", res.status, err)
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
