package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402"
)

const secret = "0xSECRETSIGNATURE"

func sampleRequest() *x402.FacilitatorRequest {
	req := x402.PaymentRequirements{
		Scheme:            "exact",
		Network:           "eip155:84532",
		Amount:            x402.NewAmount(1000),
		Asset:             "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
		PayTo:             "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
		MaxTimeoutSeconds: 60,
		Extra:             x402.Object(`{"name":"USDC","version":"2"}`),
	}
	p := &x402.PaymentPayload{
		X402Version: x402.V2,
		Accepted:    req,
		Payload:     x402.Object(`{"signature":"` + secret + `","authorization":{}}`),
	}
	return x402.NewFacilitatorRequest(p, &req)
}

// serve starts a loopback server closed at the end of the test.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a client for url with fast retries, adjusted by mod.
func newClient(t *testing.T, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: url, RetryDelay: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// reply returns a handler that answers every request with status and body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// block waits until the client goes away or the test server is closed.
func block(w http.ResponseWriter, r *http.Request) {
	// The server notices a closed connection only once the body is read.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

// waits is a Config.After that records the delays asked for and lets each
// pass at once.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) after(d time.Duration) <-chan time.Time {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (w *waits) got() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.d)
}

// deadlines is an HTTP transport that records, for each request, how long
// its context had left when it was sent.
type deadlines struct {
	mu   sync.Mutex
	left []time.Duration // -1: no deadline
}

func (d *deadlines) RoundTrip(r *http.Request) (*http.Response, error) {
	left := time.Duration(-1)
	if dl, ok := r.Context().Deadline(); ok {
		left = max(time.Until(dl), 0)
	}
	d.mu.Lock()
	d.left = append(d.left, left)
	d.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// check fails unless n requests were sent, each with a deadline at most
// limit away.
func (d *deadlines) check(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.left) != n {
		t.Fatalf("%d requests sent, want %d", len(d.left), n)
	}
	for i, left := range d.left {
		if left < 0 || left > limit {
			t.Errorf("request %d: %v left of its deadline (-1: none), want at most %v", i+1, left, limit)
		}
	}
}

// failSafe runs call, failing the test if it has not returned after a
// minute (it would otherwise hang the test binary).
func failSafe(t *testing.T, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("the call did not return")
		return nil
	}
}

func TestNew(t *testing.T) {
	good := []string{
		"https://x402.org/facilitator",
		"https://x402.org/facilitator/",
		"http://127.0.0.1:8080",
		"http://localhost:8080/",
	}
	for _, u := range good {
		if _, err := New(Config{URL: u}); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	bad := []string{
		"",
		"x402.org/facilitator",
		"ftp://x402.org/facilitator",
		"file:///etc/passwd",
		"https://",
		"https:///facilitator",
		"https://x402.org/facilitator?key=1",
		"https://x402.org/facilitator#frag",
		"http://[::1",
	}
	for _, u := range bad {
		if _, err := New(Config{URL: u}); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestVerify(t *testing.T) {
	// A valid body of exactly MaxResponseSize bytes.
	bigValid := `{"isValid":true,"payer":"` + strings.Repeat("a", MaxResponseSize-len(`{"isValid":true,"payer":""}`)) + `"}`
	tests := []struct {
		name      string
		status    int
		body      string
		wantValid *bool // a verdict is expected
		reason    x402.Reason
		wantHTTP  int    // an *HTTPError with this status is expected
		wantMsg   string // HTTPError.Message
		wantIs    error
		typedBody bool // HTTPError.Verify is set
	}{
		{name: "200 valid", status: 200, body: `{"isValid":true,"payer":"0xabc"}`, wantValid: ptr(true)},
		{name: "200 invalid verdict", status: 200, body: `{"isValid":false,"invalidReason":"insufficient_funds","invalidMessage":"balance 0","payer":"0xabc"}`, wantValid: ptr(false), reason: x402.ReasonInsufficientFunds},
		{name: "400 CDP verdict", status: 400, body: `{"isValid":false,"invalidReason":"invalid_exact_evm_payload_signature","payer":"0xabc"}`, wantValid: ptr(false), reason: x402.ReasonInvalidExactEVMPayloadSignature},
		{name: "422 verdict", status: 422, body: `{"isValid":false,"invalidReason":"invalid_payload"}`, wantValid: ptr(false), reason: x402.ReasonInvalidPayload},
		{name: "400 error body", status: 400, body: `{"error":"Missing paymentPayload or paymentRequirements"}`, wantHTTP: 400, wantMsg: "Missing paymentPayload or paymentRequirements"},
		{name: "500 Go reference", status: 500, body: `{"error":"invalid_exact_evm_signature: bad signature"}`, wantHTTP: 500, wantMsg: "invalid_exact_evm_signature: bad signature"},
		{name: "500 with verdict body", status: 500, body: `{"isValid":false,"invalidReason":"unexpected_verify_error","invalidMessage":"rpc down"}`, wantHTTP: 500, wantMsg: "unexpected_verify_error: rpc down", typedBody: true},
		{name: "401 with verdict body", status: 401, body: `{"isValid":false,"invalidReason":"unauthorized"}`, wantHTTP: 401, wantMsg: "unauthorized", typedBody: true},
		{name: "400 claiming valid", status: 400, body: `{"isValid":true}`, wantHTTP: 400, typedBody: true},
		{name: "404 text", status: 404, body: `404 page not found`, wantHTTP: 404},
		{name: "400 nested error", status: 400, body: `{"error":{"message":"bad"}}`, wantHTTP: 400, wantMsg: "bad"},
		{name: "200 missing isValid", status: 200, body: `{"payer":"0xabc"}`, wantIs: ErrMalformedResponse},
		{name: "200 null isValid", status: 200, body: `{"isValid":null}`, wantIs: ErrMalformedResponse},
		{name: "200 isValid not bool", status: 200, body: `{"isValid":"true"}`, wantIs: ErrMalformedResponse},
		{name: "200 not JSON", status: 200, body: `<html>ok</html>`, wantIs: ErrMalformedResponse},
		{name: "200 trailing data", status: 200, body: `{"isValid":true} {}`, wantIs: ErrMalformedResponse},
		{name: "200 array", status: 200, body: `[]`, wantIs: ErrMalformedResponse},
		{name: "204 empty", status: 204, body: ``, wantIs: ErrMalformedResponse},
		{name: "200 at size limit", status: 200, body: bigValid, wantValid: ptr(true)},
		{name: "200 oversized", status: 200, body: `{"isValid":true,"payer":"` + strings.Repeat("a", MaxResponseSize) + `"}`, wantIs: ErrResponseTooLarge},
	}
	if len(bigValid) != MaxResponseSize {
		t.Fatalf("bigValid is %d bytes", len(bigValid))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				reply(tc.status, tc.body)(w, r)
			})
			c := newClient(t, srv.URL, nil)
			v, err := c.Verify(context.Background(), sampleRequest())
			if tc.wantValid != nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if v.IsValid != *tc.wantValid || v.InvalidReason != tc.reason {
					t.Fatalf("verdict = %+v", v)
				}
				return
			}
			if v != nil || err == nil {
				t.Fatalf("Verify = %+v, %v; want an error", v, err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("error %v is not %v", err, tc.wantIs)
			}
			var he *HTTPError
			if tc.wantHTTP != 0 {
				if !errors.As(err, &he) {
					t.Fatalf("error %T %v is not an *HTTPError", err, err)
				}
				if he.StatusCode != tc.wantHTTP || he.Endpoint != EndpointVerify || he.Message != tc.wantMsg {
					t.Fatalf("HTTPError = %+v", he)
				}
				if he.Body != tc.body {
					t.Fatalf("HTTPError.Body = %q", he.Body)
				}
				if (he.Verify != nil) != tc.typedBody {
					t.Fatalf("HTTPError.Verify = %+v", he.Verify)
				}
				if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("error %q lacks the message", err)
				}
			} else if errors.As(err, &he) {
				t.Fatalf("unexpected HTTPError %v", he)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("%d attempts, want 1", n)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestVerifyRequestShape(t *testing.T) {
	v1 := x402.NewFacilitatorRequestV1(
		&x402.PaymentPayloadV1{X402Version: 1, Scheme: "exact", Network: "base-sepolia", Payload: x402.Object(`{"signature":"0x1"}`)},
		&x402.PaymentRequirementsV1{Scheme: "exact", Network: "base-sepolia", MaxAmountRequired: x402.NewAmount(5), Resource: "https://r", PayTo: "0xp", MaxTimeoutSeconds: 30, Asset: "0xa"},
	)
	for _, req := range []*x402.FacilitatorRequest{sampleRequest(), v1} {
		want, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		var hdr http.Header
		var method, path string
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
			hdr, method, path = r.Header.Clone(), r.Method, r.URL.Path
			reply(200, `{"isValid":true}`)(w, r)
		})
		c := newClient(t, srv.URL, nil)
		if _, err := c.Verify(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if method != http.MethodPost || path != "/verify" {
			t.Fatalf("%s %s", method, path)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("body %s, want %s", got, want)
		}
		var shape map[string]json.RawMessage
		if err := json.Unmarshal(got, &shape); err != nil || len(shape) != 3 || string(shape["x402Version"]) != string(rune('0'+req.X402Version)) {
			t.Fatalf("body shape %s", got)
		}
		if hdr.Get("Content-Type") != "application/json" || hdr.Get("Accept") != "application/json" {
			t.Fatalf("headers %v", hdr)
		}
		if !strings.HasPrefix(hdr.Get("User-Agent"), "go402/") {
			t.Fatalf("User-Agent %q", hdr.Get("User-Agent"))
		}
	}
	c := newClient(t, "http://127.0.0.1:1", nil)
	if _, err := c.Verify(context.Background(), nil); err == nil {
		t.Fatal("nil request accepted")
	}
	if _, err := c.Verify(context.Background(), &x402.FacilitatorRequest{X402Version: 3}); !errors.Is(err, x402.ErrUnsupportedVersion) {
		t.Fatalf("version 3: %v", err)
	}
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		success  *bool
		reason   x402.Reason
		tx       string
		wantHTTP int
		wantIs   []error
		notIs    []error
	}{
		{name: "200 success", status: 200, body: `{"success":true,"transaction":"0xt","network":"eip155:84532","payer":"0xabc","amount":"1000"}`, success: ptr(true), tx: "0xt"},
		{name: "200 failure", status: 200, body: `{"success":false,"errorReason":"invalid_exact_evm_transaction_failed","transaction":"0xr","network":"eip155:84532"}`, success: ptr(false), reason: x402.ReasonExactEVMTransactionFailed, tx: "0xr"},
		{name: "200 pending", status: 200, body: `{"success":false,"errorReason":"settlement_pending","errorMessage":"receipt not seen","transaction":"0xpending","network":"eip155:84532"}`, success: ptr(false), reason: x402.ReasonSettlementPending, tx: "0xpending"},
		{name: "400 verdict", status: 400, body: `{"success":false,"errorReason":"invalid_payload"}`, success: ptr(false), reason: x402.ReasonInvalidPayload},
		{name: "409 duplicate", status: 409, body: `{"success":false,"errorReason":"duplicate_settlement","transaction":"0xt","network":"eip155:84532"}`, success: ptr(false), reason: x402.ReasonDuplicateSettlement, tx: "0xt"},
		{name: "200 missing success", status: 200, body: `{"transaction":"0xt","network":"eip155:84532"}`, wantIs: []error{ErrMalformedResponse, ErrSettleOutcomeUnknown}},
		{name: "200 missing network", status: 200, body: `{"success":true,"transaction":"0xt"}`, wantIs: []error{ErrMalformedResponse, ErrSettleOutcomeUnknown}},
		{name: "200 failure missing network", status: 200, body: `{"success":false,"errorReason":"invalid_payload"}`, wantIs: []error{ErrMalformedResponse}},
		{name: "200 success without transaction", status: 200, body: `{"success":true,"transaction":"","network":"eip155:84532"}`, wantIs: []error{ErrMalformedResponse, ErrSettleOutcomeUnknown}},
		{name: "200 not JSON", status: 200, body: `ok`, wantIs: []error{ErrMalformedResponse, ErrSettleOutcomeUnknown}},
		{name: "200 oversized", status: 200, body: `{"success":true,"x":"` + strings.Repeat("a", MaxResponseSize) + `"}`, wantIs: []error{ErrResponseTooLarge, ErrSettleOutcomeUnknown}},
		{name: "400 claiming success", status: 400, body: `{"success":true,"transaction":"0xt","network":"eip155:84532"}`, wantHTTP: 400, notIs: []error{ErrSettleOutcomeUnknown}},
		{name: "401", status: 401, body: `{"error":"unauthorized"}`, wantHTTP: 401, notIs: []error{ErrSettleOutcomeUnknown}},
		{name: "500 Go reference", status: 500, body: `{"error":"unexpected_settle_error: nonce too low"}`, wantHTTP: 500, wantIs: []error{ErrSettleOutcomeUnknown}},
		{name: "503", status: 503, body: ``, wantHTTP: 503, wantIs: []error{ErrSettleOutcomeUnknown}},
		{name: "429", status: 429, body: ``, wantHTTP: 429, notIs: []error{ErrSettleOutcomeUnknown}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Method != http.MethodPost || r.URL.Path != "/settle" {
					t.Errorf("%s %s", r.Method, r.URL.Path)
				}
				w.Header().Set("Retry-After", "0")
				reply(tc.status, tc.body)(w, r)
			})
			c := newClient(t, srv.URL, nil)
			s, err := c.Settle(context.Background(), sampleRequest())
			if n := hits.Load(); n != 1 {
				t.Fatalf("%d attempts reached the server, want 1", n)
			}
			if tc.success != nil {
				if err != nil {
					t.Fatalf("Settle: %v", err)
				}
				if s.Success != *tc.success || s.ErrorReason != tc.reason || s.Transaction != tc.tx {
					t.Fatalf("verdict = %+v", s)
				}
				return
			}
			if s != nil || err == nil {
				t.Fatalf("Settle = %+v, %v; want an error", s, err)
			}
			for _, target := range tc.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("error %v is not %v", err, target)
				}
			}
			for _, target := range tc.notIs {
				if errors.Is(err, target) {
					t.Errorf("error %v is %v", err, target)
				}
			}
			var he *HTTPError
			if got := errors.As(err, &he); got != (tc.wantHTTP != 0) || (got && (he.StatusCode != tc.wantHTTP || he.Endpoint != EndpointSettle)) {
				t.Fatalf("error %v: HTTPError %+v", err, he)
			}
		})
	}
}

func TestSettleHTTPErrorKeepsTypedBody(t *testing.T) {
	srv := serve(t, reply(500, `{"success":false,"errorReason":"unexpected_settle_error","transaction":"0xmaybe","network":"eip155:84532"}`))
	c := newClient(t, srv.URL, nil)
	_, err := c.Settle(context.Background(), sampleRequest())
	var he *HTTPError
	if !errors.As(err, &he) || he.Settle == nil || he.Settle.Transaction != "0xmaybe" || he.Message != "unexpected_settle_error" {
		t.Fatalf("error %v: %+v", err, he)
	}
	if !errors.Is(err, ErrSettleOutcomeUnknown) {
		t.Fatalf("error %v is not ErrSettleOutcomeUnknown", err)
	}
}

func TestHTTPErrorTruncation(t *testing.T) {
	long := strings.Repeat("é", 3000)
	srv := serve(t, reply(500, `{"error":"`+long+`"}`))
	c := newClient(t, srv.URL, nil)
	_, err := c.Verify(context.Background(), sampleRequest())
	var he *HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("error %v", err)
	}
	if len(he.Body) > maxErrorBody+3 || !strings.HasPrefix(he.Body, `{"error":"éé`) || !isValidUTF8(he.Body) {
		t.Fatalf("Body is %d bytes", len(he.Body))
	}
	if len(he.Message) > maxErrorMessage || len(he.Message) < maxErrorMessage-2 || !isValidUTF8(he.Message) {
		t.Fatalf("Message is %d bytes", len(he.Message))
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestSupported(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		kinds   int
		ext     []string
		signers map[string][]string
		wantErr bool
	}{
		{
			name:    "full",
			body:    `{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:84532","extra":{"feePayer":"x"}},{"x402Version":1,"scheme":"exact","network":"base-sepolia"}],"extensions":["bazaar"],"signers":{"eip155:*":["0xf"]}}`,
			kinds:   2,
			ext:     []string{"bazaar"},
			signers: map[string][]string{"eip155:*": {"0xf"}},
		},
		{name: "no extensions or signers", body: `{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:8453"}]}`, kinds: 1, ext: []string{}, signers: map[string][]string{}},
		{name: "null extensions and signers", body: `{"kinds":[],"extensions":null,"signers":null}`, kinds: 0, ext: []string{}, signers: map[string][]string{}},
		{
			name:    "unknown kinds kept, undecodable skipped",
			body:    `{"kinds":[{"x402Version":3,"scheme":"stream","network":"future:1","extra":{}},42,{"scheme":"exact"},{"x402Version":2,"scheme":"exact","network":"eip155:1","extra":"not an object"}],"unknownField":true}`,
			kinds:   1,
			ext:     []string{},
			signers: map[string][]string{},
		},
		{name: "odd extensions and signers ignored", body: `{"kinds":[],"extensions":{"a":1},"signers":["0xf"]}`, ext: []string{}, signers: map[string][]string{}},
		{name: "missing kinds", body: `{"extensions":[]}`, wantErr: true},
		{name: "not JSON", body: `nope`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/supported" {
					t.Errorf("%s %s", r.Method, r.URL.Path)
				}
				if r.Header.Get("Content-Type") != "" || r.Header.Get("Accept") != "application/json" {
					t.Errorf("headers %v", r.Header)
				}
				reply(200, tc.body)(w, r)
			})
			c := newClient(t, srv.URL, nil)
			s, err := c.Supported(context.Background())
			if tc.wantErr {
				if !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("Supported = %+v, %v", s, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Kinds) != tc.kinds {
				t.Fatalf("kinds %+v", s.Kinds)
			}
			if s.Extensions == nil || s.Signers == nil {
				t.Fatalf("nil extensions or signers: %+v", s)
			}
			if strings.Join(s.Extensions, ",") != strings.Join(tc.ext, ",") || len(s.Signers) != len(tc.signers) {
				t.Fatalf("got %+v", s)
			}
			for k, v := range tc.signers {
				if strings.Join(s.Signers[k], ",") != strings.Join(v, ",") {
					t.Fatalf("signers %v", s.Signers)
				}
			}
		})
	}
	var hits atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		reply(503, `{"error":"down"}`)(w, r)
	})
	_, err := newClient(t, srv.URL, nil).Supported(context.Background())
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 503 || he.Endpoint != EndpointSupported || he.Message != "down" || hits.Load() != 3 {
		t.Fatalf("error %v after %d attempts", err, hits.Load())
	}
}

func TestHeadersPerEndpoint(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("Authorization") + "|" + r.Header.Get("X-Extra") + "|" + r.Header.Get("User-Agent")
		mu.Unlock()
		switch r.URL.Path {
		case "/verify":
			reply(200, `{"isValid":true}`)(w, r)
		case "/settle":
			reply(200, `{"success":true,"transaction":"0xt","network":"eip155:84532"}`)(w, r)
		default:
			reply(200, `{"kinds":[]}`)(w, r)
		}
	})
	c := newClient(t, srv.URL, func(cfg *Config) {
		cfg.UserAgent = "test-agent/1"
		cfg.Headers = func(ctx context.Context, endpoint string) (http.Header, error) {
			h := http.Header{}
			h.Set("Authorization", "Bearer token-"+endpoint)
			h["x-extra"] = []string{endpoint} // not canonical on purpose
			return h, nil
		}
	})
	ctx := context.Background()
	if _, err := c.Verify(ctx, sampleRequest()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Settle(ctx, sampleRequest()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Supported(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/verify":    "Bearer token-verify|verify|test-agent/1",
		"/settle":    "Bearer token-settle|settle|test-agent/1",
		"/supported": "Bearer token-supported|supported|test-agent/1",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: got %q, want %q", p, got[p], w)
		}
	}

	var hits atomic.Int32
	srv2 := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	failing := newClient(t, srv2.URL, func(cfg *Config) {
		cfg.Headers = func(context.Context, string) (http.Header, error) { return nil, errors.New("no token") }
	})
	if _, err := failing.Settle(ctx, sampleRequest()); err == nil || !strings.Contains(err.Error(), "no token") || errors.Is(err, ErrSettleOutcomeUnknown) {
		t.Fatalf("Settle with failing Headers: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("a request was sent despite the Headers error")
	}
}

func TestTrailingSlash(t *testing.T) {
	var path atomic.Value
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		reply(200, `{"isValid":true}`)(w, r)
	})
	for _, suffix := range []string{"/facilitator", "/facilitator/", "/facilitator//"} {
		c := newClient(t, srv.URL+suffix, nil)
		if _, err := c.Verify(context.Background(), sampleRequest()); err != nil {
			t.Fatal(err)
		}
		if p := path.Load(); p != "/facilitator/verify" {
			t.Fatalf("%s: path %v", suffix, p)
		}
	}
}

// TestRetries checks which statuses /verify and /supported retry.
func TestRetries(t *testing.T) {
	tests := []struct {
		status  int
		retried bool
	}{
		{502, true}, {503, true}, {504, true}, {429, true},
		{500, false}, {400, false}, {401, false}, {404, false}, {501, false},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			var hits atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) < 3 {
					reply(tc.status, `{"error":"try later"}`)(w, r)
					return
				}
				reply(200, `{"isValid":true}`)(w, r)
			})
			c := newClient(t, srv.URL, nil)
			v, err := c.Verify(context.Background(), sampleRequest())
			if tc.retried {
				if err != nil || !v.IsValid || hits.Load() != 3 {
					t.Fatalf("Verify = %+v, %v after %d attempts", v, err, hits.Load())
				}
				return
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != tc.status || hits.Load() != 1 {
				t.Fatalf("Verify = %+v, %v after %d attempts", v, err, hits.Load())
			}
		})
	}
}

func TestRetryLimit(t *testing.T) {
	for _, tc := range []struct {
		retries int
		want    int32
	}{{0, 3}, {-1, 1}, {1, 2}, {4, 5}} {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			reply(503, ``)(w, r)
		})
		c := newClient(t, srv.URL, func(cfg *Config) { cfg.Retries = tc.retries })
		_, err := c.Verify(context.Background(), sampleRequest())
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != 503 {
			t.Fatalf("Retries %d: %v", tc.retries, err)
		}
		if hits.Load() != tc.want {
			t.Fatalf("Retries %d: %d attempts, want %d", tc.retries, hits.Load(), tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Run("honoured", func(t *testing.T) {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				reply(429, ``)(w, r)
				return
			}
			reply(200, `{"isValid":true}`)(w, r)
		})
		var w waits
		c := newClient(t, srv.URL, func(cfg *Config) { cfg.After = w.after })
		if _, err := c.Verify(context.Background(), sampleRequest()); err != nil {
			t.Fatal(err)
		}
		if got := w.got(); len(got) != 1 || got[0] != time.Second || hits.Load() != 2 {
			t.Fatalf("retried after %v, %d attempts", got, hits.Load())
		}
	})
	t.Run("too long", func(t *testing.T) {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Retry-After", "3600")
			reply(429, `{"error":"slow down"}`)(w, r)
		})
		var w waits
		c := newClient(t, srv.URL, func(cfg *Config) { cfg.After = w.after })
		_, err := c.Supported(context.Background())
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != 429 || hits.Load() != 1 || len(w.got()) != 0 {
			t.Fatalf("error %v after %d attempts, waits %v", err, hits.Load(), w.got())
		}
	})
	t.Run("past the deadline", func(t *testing.T) {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Retry-After", "2")
			reply(503, ``)(w, r)
		})
		var w waits
		c := newClient(t, srv.URL, func(cfg *Config) { cfg.After = w.after })
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := c.Verify(ctx, sampleRequest())
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != 503 || hits.Load() != 1 || len(w.got()) != 0 {
			t.Fatalf("error %v after %d attempts, waits %v", err, hits.Load(), w.got())
		}
	})
}

func TestRetryAfterParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 2 ", 2 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
		{"999999999999", maxRetryAfter + time.Second, true},
		{"Sun, 06 Nov 1994 07:49:37 GMT", 0, true},               // an hour ago
		{"Sun, 06 Nov 1994 08:49:42 GMT", 5 * time.Second, true}, // in 5 s
	} {
		now := time.Date(1994, time.November, 6, 8, 49, 37, 0, time.UTC)
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v", tc.in, got, ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", func(cfg *Config) { cfg.RetryDelay = 0 })
	for attempt, base := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		for range 50 {
			d := c.backoff(attempt + 1)
			if d < base/2 || d > base {
				t.Fatalf("backoff(%d) = %v", attempt+1, d)
			}
		}
	}
	if d := c.backoff(40); d > maxBackoff || d < maxBackoff/2 {
		t.Fatalf("backoff(40) = %v", d)
	}
}

// hijackClose reads the request, then drops the connection without
// answering: the request reached the server but no response came back.
func hijackClose(hits *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
	}
}

func TestSettleNotRetriedAfterReachingServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    func(*atomic.Int32) http.HandlerFunc
	}{
		{"503", func(h *atomic.Int32) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { h.Add(1); reply(503, ``)(w, r) }
		}},
		{"502", func(h *atomic.Int32) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { h.Add(1); reply(502, ``)(w, r) }
		}},
		{"connection dropped", hijackClose},
		{"truncated body", func(h *atomic.Int32) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				h.Add(1)
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(200)
				_, _ = io.WriteString(w, `{"success":tr`)
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := serve(t, tc.h(&hits))
			c := newClient(t, srv.URL, func(cfg *Config) { cfg.Retries = 5 })
			s, err := c.Settle(context.Background(), sampleRequest())
			if err == nil || s != nil {
				t.Fatalf("Settle = %+v, %v", s, err)
			}
			if !errors.Is(err, ErrSettleOutcomeUnknown) {
				t.Fatalf("error %v is not ErrSettleOutcomeUnknown", err)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("%d attempts reached the server, want exactly 1", n)
			}
		})
	}
}

func TestVerifyRetriedAfterConnectionDrop(t *testing.T) {
	var hits atomic.Int32
	drop := hijackClose(&hits)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Load() < 2 {
			drop(w, r)
			return
		}
		hits.Add(1)
		reply(200, `{"isValid":true}`)(w, r)
	})
	c := newClient(t, srv.URL, nil)
	v, err := c.Verify(context.Background(), sampleRequest())
	if err != nil || !v.IsValid || hits.Load() != 3 {
		t.Fatalf("Verify = %+v, %v after %d attempts", v, err, hits.Load())
	}
}

// flakyDialer fails its first fail dials with a dial *net.OpError.
type flakyDialer struct {
	fail  int32
	dials atomic.Int32
}

func (d *flakyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.dials.Add(1) <= d.fail {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connect: connection refused")}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func TestSettleRetriedWhenDialFails(t *testing.T) {
	var hits atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		reply(200, `{"success":true,"transaction":"0xt","network":"eip155:84532"}`)(w, r)
	})
	d := &flakyDialer{fail: 1}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.HTTPClient = hc })
	s, err := c.Settle(context.Background(), sampleRequest())
	if err != nil || !s.Success {
		t.Fatalf("Settle = %+v, %v", s, err)
	}
	if d.dials.Load() != 2 || hits.Load() != 1 {
		t.Fatalf("%d dials, %d requests; want 2 and 1", d.dials.Load(), hits.Load())
	}
	if hc.Transport != tr || hc.Timeout != 0 || hc.CheckRedirect != nil || hc.Jar != nil {
		t.Fatal("the caller's client was modified")
	}

	// A dial that never succeeds: Retries+1 dials, and the error says the
	// payment was not settled.
	d = &flakyDialer{fail: 100}
	tr2 := &http.Transport{DialContext: d.DialContext}
	defer tr2.CloseIdleConnections()
	c = newClient(t, srv.URL, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: tr2} })
	_, err = c.Settle(context.Background(), sampleRequest())
	var opErr *net.OpError
	if !errors.As(err, &opErr) || errors.Is(err, ErrSettleOutcomeUnknown) || d.dials.Load() != 3 {
		t.Fatalf("error %v after %d dials", err, d.dials.Load())
	}
}

func TestSettleClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, "http://"+addr, nil)
	_, err = c.Settle(context.Background(), sampleRequest())
	if err == nil || !isDialError(err) || errors.Is(err, ErrSettleOutcomeUnknown) {
		t.Fatalf("Settle to a closed port: %v", err)
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("verify per attempt", func(t *testing.T) {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1); block(w, r) })
		var dl deadlines
		c := newClient(t, srv.URL, func(cfg *Config) {
			cfg.Timeout = 50 * time.Millisecond
			cfg.Retries = 1
			cfg.HTTPClient = &http.Client{Transport: &dl}
		})
		_, err := c.Verify(context.Background(), sampleRequest())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v", err)
		}
		if hits.Load() != 2 {
			t.Fatalf("%d attempts, want 2", hits.Load())
		}
		dl.check(t, 2, 50*time.Millisecond)
	})
	t.Run("settle per attempt", func(t *testing.T) {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1); block(w, r) })
		var dl deadlines
		c := newClient(t, srv.URL, func(cfg *Config) {
			cfg.Timeout = time.Nanosecond // must not apply to settle
			cfg.SettleTimeout = 100 * time.Millisecond
			cfg.HTTPClient = &http.Client{Transport: &dl}
		})
		_, err := c.Settle(context.Background(), sampleRequest())
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrSettleOutcomeUnknown) {
			t.Fatalf("error %v", err)
		}
		if hits.Load() != 1 {
			t.Fatalf("%d attempts, want 1", hits.Load())
		}
		dl.check(t, 1, 100*time.Millisecond)
	})
	t.Run("context cancelled", func(t *testing.T) {
		// Cancelled once the request reached the server, which then
		// never answers.
		ctx, cancel := context.WithCancel(context.Background())
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) { cancel(); block(w, r) })
		c := newClient(t, srv.URL, nil)
		err := failSafe(t, func() error { _, err := c.Verify(ctx, sampleRequest()); return err })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("context cancelled during backoff", func(t *testing.T) {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1); reply(503, ``)(w, r) })
		// The backoff's timer never fires; the caller cancels as soon as
		// the client starts waiting for it.
		ctx, cancel := context.WithCancel(context.Background())
		var wait time.Duration
		c := newClient(t, srv.URL, func(cfg *Config) {
			cfg.RetryDelay = 10 * time.Second
			cfg.After = func(d time.Duration) <-chan time.Time { wait = d; cancel(); return make(chan time.Time) }
		})
		err := failSafe(t, func() error { _, err := c.Supported(ctx); return err })
		if !errors.Is(err, context.Canceled) || hits.Load() != 1 || wait < maxBackoff/2 {
			t.Fatalf("error %v after %d attempts, backoff %v", err, hits.Load(), wait)
		}
	})
	t.Run("context already done", func(t *testing.T) {
		var hits atomic.Int32
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
		c := newClient(t, srv.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Settle(ctx, sampleRequest())
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrSettleOutcomeUnknown) || hits.Load() != 0 {
			t.Fatalf("error %v, %d attempts", err, hits.Load())
		}
	})
}

func TestRedirectKeepsBody(t *testing.T) {
	want, _ := json.Marshal(sampleRequest())
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		mux := http.NewServeMux()
		mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/new/"+strings.TrimPrefix(r.URL.Path, "/old/"), code)
		})
		var got []byte
		var gotAuth string
		mux.HandleFunc("/new/verify", func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
			gotAuth = r.Header.Get("Authorization")
			if r.Method != http.MethodPost {
				t.Errorf("method %s after redirect", r.Method)
			}
			reply(200, `{"isValid":true}`)(w, r)
		})
		srv := serve(t, mux.ServeHTTP)
		c := newClient(t, srv.URL+"/old", func(cfg *Config) {
			cfg.Headers = func(context.Context, string) (http.Header, error) {
				return http.Header{"Authorization": {"Bearer t"}}, nil
			}
		})
		v, err := c.Verify(context.Background(), sampleRequest())
		if err != nil || !v.IsValid {
			t.Fatalf("%d: Verify = %+v, %v", code, v, err)
		}
		if !bytes.Equal(got, want) || gotAuth != "Bearer t" {
			t.Fatalf("%d: body after redirect %q, auth %q", code, got, gotAuth)
		}
	}
}

func TestNoBodiesInLogs(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var hits atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			reply(503, `{"error":"0xRESPONSESECRET"}`)(w, r)
			return
		}
		reply(200, `{"isValid":true,"payer":"0xRESPONSESECRET"}`)(w, r)
	})
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.Logger = logger })
	if _, err := c.Verify(context.Background(), sampleRequest()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Contains(out, secret) || strings.Contains(out, "RESPONSESECRET") {
		t.Fatalf("a body was logged:\n%s", out)
	}
	if !strings.Contains(out, "endpoint=verify") || !strings.Contains(out, "status=503") || !strings.Contains(out, "status=200") {
		t.Fatalf("missing debug records:\n%s", out)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestConcurrentUse(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/verify":
			reply(200, `{"isValid":true}`)(w, r)
		case "/settle":
			reply(200, `{"success":true,"transaction":"0xt","network":"eip155:84532"}`)(w, r)
		default:
			reply(200, `{"kinds":[]}`)(w, r)
		}
	})
	c := newClient(t, srv.URL, nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			ctx := context.Background()
			if _, err := c.Verify(ctx, sampleRequest()); err != nil {
				t.Error(err)
			}
			if _, err := c.Settle(ctx, sampleRequest()); err != nil {
				t.Error(err)
			}
			if _, err := c.Supported(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestDefaults(t *testing.T) {
	c := newClient(t, "https://x402.org/facilitator/", func(cfg *Config) { cfg.RetryDelay = 0 })
	if c.verify.url != "https://x402.org/facilitator/verify" || c.settle.url != "https://x402.org/facilitator/settle" || c.supported.url != "https://x402.org/facilitator/supported" {
		t.Fatalf("urls %q %q %q", c.verify.url, c.settle.url, c.supported.url)
	}
	if c.verify.timeout != DefaultTimeout || c.supported.timeout != DefaultTimeout || c.settle.timeout != DefaultSettleTimeout {
		t.Fatal("timeouts")
	}
	if c.retries != DefaultRetries || c.retryDelay != DefaultRetryDelay || c.hc == nil || c.log == nil {
		t.Fatal("defaults")
	}
	if c.userAgent != "go402/"+moduleVersion() || !strings.HasPrefix(c.userAgent, "go402/") {
		t.Fatalf("User-Agent %q", c.userAgent)
	}
	if !c.verify.idempotent || !c.supported.idempotent || c.settle.idempotent {
		t.Fatal("idempotency")
	}
}

func TestHTTPErrorString(t *testing.T) {
	e := &HTTPError{StatusCode: 500, Endpoint: "verify", Body: "secret body", Message: "boom"}
	if got := e.Error(); got != "facilitator/remote: verify: HTTP 500 Internal Server Error: boom" {
		t.Fatal(got)
	}
	e = &HTTPError{StatusCode: 599, Endpoint: "settle", Body: "secret body"}
	if got := e.Error(); got != "facilitator/remote: settle: HTTP 599" {
		t.Fatal(got)
	}
}

// TestSettleSuccessWithoutTransaction: a success that names no transaction
// is the reference upto scheme's $0 settlement; for any other scheme it is
// malformed, and the outcome is unknown rather than paid.
func TestSettleSuccessWithoutTransaction(t *testing.T) {
	srv := serve(t, reply(200, `{"success":true,"transaction":"","network":"eip155:84532","amount":"0"}`))
	c := newClient(t, srv.URL, nil)
	exact := sampleRequest()
	if s, err := c.Settle(t.Context(), exact); !errors.Is(err, ErrSettleOutcomeUnknown) {
		t.Errorf("exact: %+v %v, want ErrSettleOutcomeUnknown", s, err)
	}
	upto := sampleRequest()
	upto.Payload.Accepted.Scheme = "upto"
	upto.Requirements.Scheme = "upto"
	if s, err := c.Settle(t.Context(), upto); err != nil || !s.Success {
		t.Errorf("upto: %+v %v, want the $0 success", s, err)
	}
}
