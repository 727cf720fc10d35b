package facilitator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402"
)

// HandlerConfig configures [NewHandler]. The zero value serves without
// authentication.
type HandlerConfig struct {
	// APIKeyHashes are the hex SHA-256 hashes of the bearer tokens accepted
	// for POST /verify and POST /settle (`Authorization: Bearer <token>`).
	// Tokens themselves are never stored. If empty, no authentication is
	// required. GET /supported and GET /health are always open.
	APIKeyHashes []string
	// MaxBodyBytes bounds request bodies: a larger body is answered 413.
	// If zero, or above x402.MaxJSONSize (the largest request the decoder
	// accepts), x402.MaxJSONSize.
	MaxBodyBytes int64
	// Logger receives request logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// HashAPIKey returns the hex SHA-256 of a bearer token, the form
// HandlerConfig.APIKeyHashes holds.
func HashAPIKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

type handler struct {
	fac     x402.Facilitator
	keys    [][sha256.Size]byte
	maxBody int64
	log     *slog.Logger
}

// NewHandler serves a facilitator over HTTP:
//
//	POST /verify     {x402Version, paymentPayload, paymentRequirements} → VerifyResponse
//	POST /settle     same body → SettleResponse
//	GET  /supported  → SupportedResponse
//	GET  /health     → {"status":"ok"}
//	GET  /discovery/resources → bazaar.ListResponse (when the facilitator is a [Discoverer])
//
// Status codes: 200 with the typed response for every verdict, including an
// invalid payment or a failed settlement (invalidReason/errorReason and a
// human message); 415 for a body whose Content-Type is not
// application/json; 400 for a malformed body, with a verdict-shaped body
// carrying the reason code (reference clients read a typed body on any
// status); 401 for a missing or wrong API key; 413 for an oversized body;
// 5xx only when no verdict could be reached: 503 for a settle while
// shutting down, 504 when the caller's context ended before the
// settlement it waits for was decided, 500 for a chain or ledger failure.
// A 5xx body carries a reference to the log line, never the error itself,
// and the log shows URLs without their path or query.
func NewHandler(f x402.Facilitator, cfg HandlerConfig) (http.Handler, error) {
	if f == nil {
		return nil, errors.New("facilitator: NewHandler needs a Facilitator")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{fac: f, maxBody: cfg.MaxBodyBytes, log: redact.Logger(log)}
	if h.maxBody <= 0 || h.maxBody > x402.MaxJSONSize {
		h.maxBody = x402.MaxJSONSize
	}
	for _, s := range cfg.APIKeyHashes {
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("facilitator: API key hash %d is not a hex SHA-256", len(h.keys)+1)
		}
		h.keys = append(h.keys, [sha256.Size]byte(b))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /verify", h.verify)
	mux.HandleFunc("POST /settle", h.settle)
	mux.HandleFunc("GET /supported", h.supported)
	mux.HandleFunc("GET /discovery/resources", h.discovery) // see discovery_handler.go
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux, nil
}

// authorized checks the bearer token in constant time against every key.
func (h *handler) authorized(r *http.Request) bool {
	if len(h.keys) == 0 {
		return true
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for _, k := range h.keys {
		match |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	return match == 1
}

// readRequest authenticates and decodes a /verify or /settle body. On
// failure it returns the status and a verdict-shaped error.
func (h *handler) readRequest(w http.ResponseWriter, r *http.Request) (*x402.FacilitatorRequest, int, *x402.Error) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="go402 facilitator"`)
		return nil, http.StatusUnauthorized, &x402.Error{Reason: "unauthorized", Message: "a valid API key is required (Authorization: Bearer <key>)"}
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		// A body of another type may come from a browser page cross-site
		// without a CORS preflight (text/plain, forms): never act on it.
		return nil, http.StatusUnsupportedMediaType, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "Content-Type must be application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return nil, http.StatusBadRequest, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "reading request body: " + err.Error()}
	}
	req, err := x402.DecodeFacilitatorRequest(bytes.TrimSpace(body))
	if err != nil {
		var xe *x402.Error
		if !errors.As(err, &xe) {
			xe = &x402.Error{Reason: x402.ReasonInvalidPayload, Message: err.Error()}
		}
		return nil, http.StatusBadRequest, &x402.Error{Reason: xe.Reason, Message: err.Error()}
	}
	return req, 0, nil
}

// isJSON reports whether a Content-Type is application/json (parameters
// such as charset allowed).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// errorBody is a verdict-shaped error: it decodes as a VerifyResponse or a
// SettleResponse and also carries the "error" field generic clients read.
type errorBody struct {
	IsValid        *bool       `json:"isValid,omitempty"`
	InvalidReason  x402.Reason `json:"invalidReason,omitempty"`
	InvalidMessage string      `json:"invalidMessage,omitempty"`
	Success        *bool       `json:"success,omitempty"`
	ErrorReason    x402.Reason `json:"errorReason,omitempty"`
	ErrorMessage   string      `json:"errorMessage,omitempty"`
	Transaction    *string     `json:"transaction,omitempty"`
	Network        *string     `json:"network,omitempty"`
	Error          string      `json:"error"`
}

func verifyError(e *x402.Error) errorBody {
	f := false
	return errorBody{IsValid: &f, InvalidReason: e.Reason, InvalidMessage: e.Message, Error: e.Message}
}

func settleError(e *x402.Error) errorBody {
	f, empty := false, ""
	return errorBody{Success: &f, ErrorReason: e.Reason, ErrorMessage: e.Message, Transaction: &empty, Network: &empty, Error: e.Message}
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	req, status, xe := h.readRequest(w, r)
	if xe != nil {
		writeJSON(w, status, verifyError(xe))
		return
	}
	resp, err := h.fac.Verify(r.Context(), req)
	if err != nil {
		h.fail(w, r, "verify", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) settle(w http.ResponseWriter, r *http.Request) {
	req, status, xe := h.readRequest(w, r)
	if xe != nil {
		writeJSON(w, status, settleError(xe))
		return
	}
	resp, err := h.fac.Settle(r.Context(), req)
	if err != nil {
		h.fail(w, r, "settle", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) supported(w http.ResponseWriter, r *http.Request) {
	resp, err := h.fac.Supported(r.Context())
	if err != nil {
		h.fail(w, r, "supported", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// fail answers a request that reached no verdict.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, endpoint string, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	case errors.Is(err, ErrShuttingDown):
		status = http.StatusServiceUnavailable
	}
	// The detail goes to the log only, which shows URLs without their
	// paths and queries (see redact.Logger): chain and database errors can
	// carry RPC URLs with provider keys, or connection strings.
	var id [6]byte
	_, _ = rand.Read(id[:])
	ref := hex.EncodeToString(id[:])
	h.log.Error("no verdict", "endpoint", endpoint, "status", status, "err", err, "remote", r.RemoteAddr, "ref", ref)
	msg := "no verdict could be reached (facilitator error; see its logs, ref " + ref + ")"
	if status == http.StatusServiceUnavailable {
		msg = "facilitator is shutting down"
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"encoding response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
