package x402http

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

func newCORSPolicy(c CORS) (corsPolicy, error) {
	p := corsPolicy{credentials: c.AllowCredentials, allowHeaders: allowedHeaders}
	for _, o := range c.AllowOrigins {
		o = strings.TrimSpace(o)
		switch {
		case o == "*":
			p.anyOrigin = true
		case o == "" || strings.ContainsAny(o, " ,\r\n"):
			return p, fmt.Errorf("x402http: CORS.AllowOrigins: %q is not an origin such as https://app.example", o)
		default:
			if p.origins == nil {
				p.origins = map[string]bool{}
			}
			p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
		}
	}
	if p.anyOrigin && p.credentials {
		// Echoing any origin with credentials would let every web page read
		// paid answers with the visitor's cookies.
		return p, errors.New(`x402http: CORS: AllowOrigins "*" cannot go with AllowCredentials; list the origins`)
	}
	if p.anyOrigin && p.origins == nil {
		p.origins = map[string]bool{}
	}
	for _, h := range c.AllowHeaders {
		h = strings.TrimSpace(h)
		if !httpguts.ValidHeaderFieldName(h) {
			return p, fmt.Errorf("x402http: CORS.AllowHeaders: %q is not a header name", h)
		}
		p.allowHeaders += ", " + h
	}
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultCORSMaxAge
	}
	p.maxAge = fmt.Sprint(int64(maxAge / time.Second))
	return p, nil
}

// isPreflight reports whether r is a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// decorate adds the x402 and CORS headers of every answer of a priced
// route, merged with those already set.
func (m *Middleware) decorate(h http.Header, r *http.Request) {
	addTokens(h, "Access-Control-Expose-Headers", exposedHeaders)
	addTokens(h, "Vary", "Accept")
	if m.cors.origins == nil {
		return // the application's policy
	}
	origin := r.Header.Get("Origin")
	allowed := origin != "" && (m.cors.anyOrigin || m.cors.origins[strings.ToLower(origin)])
	if m.cors.anyOrigin && !m.cors.credentials {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	addTokens(h, "Vary", "Origin")
	if !allowed {
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Allow-Credentials")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if m.cors.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// preflight answers a CORS preflight for a priced route; it never reaches
// the handler, which might serve content to it.
func (m *Middleware) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	addTokens(h, "Access-Control-Allow-Methods", strings.ToUpper(r.Header.Get("Access-Control-Request-Method")))
	addTokens(h, "Access-Control-Allow-Headers", m.cors.allowHeaders)
	if h.Get("Access-Control-Max-Age") == "" {
		h.Set("Access-Control-Max-Age", m.cors.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// addTokens adds the comma-separated tokens of list to the header key,
// keeping its values and leaving out tokens it has already
// (case-insensitively).
func addTokens(h http.Header, key, list string) {
	vals := h[key]
	if len(vals) == 0 {
		h[key] = []string{list}
		return
	}
	var missing []string
	for t := range strings.SplitSeq(list, ",") {
		if t = strings.TrimSpace(t); t != "" && !hasToken(vals, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		h[key] = append(vals, strings.Join(missing, ", "))
	}
}

// hasToken reports whether the comma-separated values hold token.
func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// keepPrivate makes a paid response uncacheable by shared caches: its
// Cache-Control becomes "private, no-store" unless the handler's already
// has an unqualified private or no-store directive (a handler may let the
// payer's own browser keep what it paid for, with "private, max-age=60").
func keepPrivate(h http.Header) {
	// Directives addressed to shared caches alone (RFC 9213's
	// CDN-Cache-Control and the vendors' variants, Surrogate-Control,
	// Akamai's Edge-Control) would let a CDN keep the paid answer whatever
	// Cache-Control says: they go.
	for k := range h {
		if sharedCacheDirective(k) {
			delete(h, k)
		}
	}
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "private" || d == "no-store" {
				return
			}
		}
	}
	h.Set("Cache-Control", paidCacheControl)
}

// sharedCacheDirective reports whether a header (canonical form) gives
// caching directives to shared caches only.
func sharedCacheDirective(key string) bool {
	switch key {
	case "Cdn-Cache-Control", "Surrogate-Control", "Edge-Control":
		return true
	}
	return strings.HasSuffix(key, "-Cdn-Cache-Control")
}
