package x402http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go402/go402/x402"
)

// PaymentIDMode says whether a route declares the payment-identifier
// extension (see "Idempotent retries" in the package documentation).
type PaymentIDMode int

const (
	// PaymentIDOff: the route does not declare the extension (unless its
	// Extensions do).
	PaymentIDOff PaymentIDMode = iota
	// PaymentIDOptional declares the extension with required false: a
	// payment that carries an id is answered once per id.
	PaymentIDOptional
	// PaymentIDRequired declares it with required true: a payment without
	// an id is refused with 400.
	PaymentIDRequired
)

// DefaultMaxStoredResponse is the largest response body kept for the
// resends of a payment identifier.
const DefaultMaxStoredResponse = 1 << 20

// StoredResponse is the response sent to the first request of a payment
// identifier, kept to answer its resends.
type StoredResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// Errors of [ResponseStore.Begin].
var (
	// ErrPaymentIDConflict: the id was begun with another payment.
	ErrPaymentIDConflict = errors.New("x402http: payment identifier used with another payment")
	// ErrPaymentIDInProgress: the first request of the id is not finished.
	ErrPaymentIDInProgress = errors.New("x402http: payment identifier in progress")
)

// ResponseStore keeps the first outcome of each payment identifier, so
// that a resend of a paid request whose answer was lost gets that answer
// back instead of paying or being refused.
//
// Atomicity contract: Begin is an atomic test-and-set across every process
// sharing the store: of concurrent Begins of one key, exactly one returns
// (nil, nil). Finish of a key makes a later Begin with the same
// fingerprint return the stored response (resp non-nil) or forget the key
// (resp nil). Entries may be dropped after their until time.
type ResponseStore interface {
	// Begin looks key up: unknown (or forgotten, or past its until), it
	// records it as in progress for the payment fingerprint fp, until the
	// given time, and returns (nil, nil): the caller processes the
	// request and must call Finish. Known with fp and finished, it returns
	// the stored response. Known with another fingerprint, it returns an
	// error wrapping ErrPaymentIDConflict; in progress with fp, one
	// wrapping ErrPaymentIDInProgress.
	Begin(ctx context.Context, key, fp string, until time.Time) (*StoredResponse, error)
	// Finish stores the response of key (begun), or forgets key if resp
	// is nil (the payment was not used: it may be sent again).
	Finish(ctx context.Context, key string, resp *StoredResponse) error
}

// MemoryResponses is a ResponseStore for one process. The zero value is
// ready to use; it is safe for concurrent use.
type MemoryResponses struct {
	mu      sync.Mutex
	entries map[string]*memoryResponse
	// Now returns the current time; if nil, time.Now.
	Now func() time.Time
}

type memoryResponse struct {
	fp    string
	until time.Time
	resp  *StoredResponse // nil while in progress
}

// Begin implements ResponseStore.
func (s *MemoryResponses) Begin(_ context.Context, key, fp string, until time.Time) (*StoredResponse, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = map[string]*memoryResponse{}
	}
	if e, ok := s.entries[key]; ok && now.Before(e.until) {
		switch {
		case e.fp != fp:
			return nil, ErrPaymentIDConflict
		case e.resp == nil:
			return nil, ErrPaymentIDInProgress
		}
		return e.resp, nil
	}
	if len(s.entries) > 0 && len(s.entries)%256 == 0 {
		for k, e := range s.entries { // sweep the expired
			if !now.Before(e.until) {
				delete(s.entries, k)
			}
		}
	}
	s.entries[key] = &memoryResponse{fp: fp, until: until}
	return nil, nil
}

// Finish implements ResponseStore.
func (s *MemoryResponses) Finish(_ context.Context, key string, resp *StoredResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	switch {
	case !ok:
	case resp == nil:
		delete(s.entries, key)
	default:
		e.resp = resp
	}
	return nil
}

// declarePaymentID adds the route's payment-identifier declaration to its
// Extensions, and reads the mode back from Extensions declared by hand.
func declarePaymentID(r *Route) error {
	if r.PaymentIdentifier != PaymentIDOff {
		ext, err := x402.NewObject(map[string]x402.Object{x402.ExtensionPaymentIdentifier: x402.DeclarePaymentIdentifier(r.PaymentIdentifier == PaymentIDRequired)})
		if err != nil {
			return err
		}
		if r.Extensions, err = addMissing(r.Extensions, ext); err != nil {
			return err
		}
	}
	p, err := x402.ParsePaymentIdentifier(r.Extensions)
	switch {
	case err != nil:
		return err
	case p.Required:
		r.PaymentIdentifier = PaymentIDRequired
	case p.Declared:
		r.PaymentIdentifier = PaymentIDOptional
	}
	return nil
}

// idemState is what serve reports to the idempotent wrapper: whether the
// payment was used for a response.
type idemState struct {
	out  payOutcome
	done bool
}

type idemKey struct{}

// idempotent looks the request's payment identifier up before the payment
// is verified (a resend may no longer verify once its payment settled). It
// answers the request itself when it returns a nil finish: from the
// stored response, or with a refusal. Otherwise serve proceeds with w and
// r as returned and calls finish at the end.
func (m *Middleware) idempotent(w http.ResponseWriter, r *http.Request, route *compiledRoute, header string) (http.ResponseWriter, *http.Request, func()) {
	pp, err := x402.DecodePaymentSignature(header)
	if err != nil {
		return w, r, func() {} // v1, or malformed: matchPayment answers
	}
	p, err := x402.ParsePaymentIdentifier(pp.Extensions)
	if err != nil {
		msg := "payment identifier must be 16-128 characters of letters, digits, hyphens and underscores"
		var xe *x402.Error
		if errors.As(err, &xe) {
			msg = xe.Message
		}
		writeReason(w, http.StatusBadRequest, x402.ReasonInvalidPaymentID, msg)
		return nil, nil, nil
	}
	if p.ID == "" {
		if route.PaymentIdentifier == PaymentIDRequired {
			writeReason(w, http.StatusBadRequest, x402.ReasonPaymentIDRequired, "this resource requires a payment identifier (extension payment-identifier)")
			return nil, nil, nil
		}
		return w, r, func() {}
	}
	key := idKey(r.Method, route.Pattern, r.URL.EscapedPath(), p.ID)
	sum := sha256.Sum256([]byte(strings.TrimSpace(header)))
	fp := hex.EncodeToString(sum[:])
	timeout := route.MaxTimeoutSeconds
	if timeout <= 0 {
		timeout = DefaultMaxTimeoutSeconds
	}
	until := m.cfg.Now().Add(time.Duration(timeout)*time.Second + claimSlack)
	stored, err := m.responses.Begin(r.Context(), key, fp, until)
	switch {
	case errors.Is(err, ErrPaymentIDConflict):
		m.log.Info("payment identifier reused with another payment; refusing")
		writeReason(w, http.StatusConflict, x402.ReasonPaymentIDConflict, "payment identifier already used with another payment")
		return nil, nil, nil
	case errors.Is(err, ErrPaymentIDInProgress):
		w.Header().Set("Retry-After", "1")
		writeReason(w, http.StatusConflict, x402.ReasonPaymentIDInProgress, "the first request with this payment identifier is still being processed; send it again later")
		return nil, nil, nil
	case err != nil:
		m.log.Error("payment identifier store failed; refusing to serve", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, "payment could not be processed")
		return nil, nil, nil
	case stored != nil:
		m.log.Info("payment identifier seen: answering with the first response", "status", stored.Status)
		replay(w, stored)
		return nil, nil, nil
	}
	st := &idemState{}
	rec := &recordingWriter{ResponseWriter: w, max: m.maxStored}
	finish := func() {
		ctx := context.WithoutCancel(r.Context())
		var resp *StoredResponse
		if st.done && st.out != unused && !rec.overflow && rec.status != 0 && (st.out != inFlight || rec.status < 500) {
			resp = &StoredResponse{Status: rec.status, Header: withTrailers(rec.header, w.Header()), Body: rec.body}
		}
		if err := m.responses.Finish(ctx, key, resp); err != nil {
			m.log.Error("storing the response of a payment identifier failed", "err", err)
		}
	}
	return rec, r.WithContext(context.WithValue(r.Context(), idemKey{}, st)), finish
}

// addMissing adds the members of add that exts lacks: a declaration
// written by hand in Route.Extensions wins.
func addMissing(exts, add x402.Object) (x402.Object, error) {
	all := map[string]json.RawMessage{}
	if !exts.IsNull() {
		if err := json.Unmarshal(exts, &all); err != nil {
			return nil, fmt.Errorf("extensions: %w", err)
		}
	}
	var more map[string]json.RawMessage
	if err := json.Unmarshal(add, &more); err != nil {
		return nil, err
	}
	for k, v := range more {
		if _, ok := all[k]; !ok {
			all[k] = v
		}
	}
	return x402.NewObject(all)
}

// withTrailers returns the header sent, with the values of the trailers
// it announced (a streamed receipt) as the handler set them at the end.
func withTrailers(sent, final http.Header) http.Header {
	out := sent.Clone()
	for _, names := range sent.Values("Trailer") {
		for _, name := range strings.Split(names, ",") {
			if name = http.CanonicalHeaderKey(strings.TrimSpace(name)); name != "" {
				out[name] = final.Values(name)
			}
		}
	}
	out.Del("Trailer")
	for k, v := range final {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			out[http.CanonicalHeaderKey(strings.TrimPrefix(k, http.TrailerPrefix))] = v
		}
	}
	return out
}

// idKey scopes an id to the route, method and path: the same id at
// another resource is another key.
func idKey(method, pattern, path, id string) string {
	return strings.ToUpper(method) + " " + pattern + " " + path + " " + id
}

// noteOutcome tells the idempotent wrapper, if any, what became of the
// request's payment.
func noteOutcome(r *http.Request, out payOutcome) {
	if st, ok := r.Context().Value(idemKey{}).(*idemState); ok {
		st.out, st.done = out, true
	}
}

// replay writes a stored response; the CORS headers are this request's.
func replay(w http.ResponseWriter, s *StoredResponse) {
	h := w.Header()
	for k, v := range s.Header {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			continue
		}
		h[k] = v
	}
	w.WriteHeader(s.Status)
	_, _ = w.Write(s.Body)
}

// writeReason answers {"error":reason,"message":msg} with status.
func writeReason(w http.ResponseWriter, status int, reason x402.Reason, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b := appendJSONString([]byte(`{"error":`), string(reason))
	b = appendJSONString(append(b, `,"message":`...), msg)
	_, _ = w.Write(append(b, "}\n"...))
}

// recordingWriter passes a response through and keeps a copy of it, up to
// max body bytes.
type recordingWriter struct {
	http.ResponseWriter
	max      int
	status   int
	header   http.Header
	body     []byte
	overflow bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.header = w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.overflow {
		if len(w.body)+len(b) > w.max {
			w.overflow, w.body = true, nil
		} else {
			w.body = append(w.body, b...)
		}
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on.
func (w *recordingWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
