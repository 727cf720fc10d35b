package x402http

import (
	"context"
	"math/big"
	"net/http"
	"net/url"

	"github.com/go402/go402/internal/routepattern"
	"github.com/go402/go402/x402"
)

// Recorder receives the middleware's countable events (Config.Metrics);
// package metrics implements it with Prometheus counters. route is always
// a configured Route.Pattern (or "" for a queued settlement whose resource
// matches no route), never a request's raw path; network and asset are
// those of a configured payment option. Its methods must be safe for
// concurrent use and quick.
type Recorder interface {
	// PaymentRequired counts a 402 answer on route.
	PaymentRequired(route string)
	// Paid counts a request on route whose handler ran on a verified
	// payment.
	Paid(route string)
	// Settled counts a successful settlement of amount atomic units of
	// asset on network, for route.
	Settled(route string, network x402.Network, asset string, amount *big.Int)
}

type routeKey struct{}

// withRoute marks r as a request to route, for the Recorder.
func (m *Middleware) withRoute(r *http.Request, route *compiledRoute) *http.Request {
	if m.cfg.Metrics == nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), routeKey{}, route.Pattern))
}

// routeOf is the pattern withRoute marked r with.
func routeOf(r *http.Request) string {
	s, _ := r.Context().Value(routeKey{}).(string)
	return s
}

func (m *Middleware) countPaymentRequired(r *http.Request) {
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.PaymentRequired(routeOf(r))
	}
}

func (m *Middleware) countPaid(r *http.Request) {
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.Paid(routeOf(r))
	}
}

// countSettled counts a successful settlement of req for route.
func (m *Middleware) countSettled(route string, req *x402.FacilitatorRequest, sr *x402.SettleResponse) {
	if m.cfg.Metrics == nil || req == nil || sr == nil || !sr.Success {
		return
	}
	p, err := req.Payment()
	if err != nil {
		return
	}
	amt := p.Requirements.Amount.String()
	if sr.Amount != nil {
		amt = sr.Amount.String()
	}
	n, ok := new(big.Int).SetString(amt, 10)
	if !ok || n.Sign() < 0 {
		return
	}
	m.cfg.Metrics.Settled(route, p.Requirements.Network, p.Requirements.Asset, n)
}

// ResourceRouter is implemented by a Recorder that knows routes the
// middleware does not (a gateway's settlement worker, which has none):
// RouteOfResource names the route of a queued settlement's resource URL,
// or "".
type ResourceRouter interface {
	RouteOfResource(resourceURL string) string
}

// routeOfResource is the pattern of the first route whose path matches
// the path of a queued settlement's resource URL, whatever its method, or
// the Recorder's answer (see ResourceRouter), or "".
func (m *Middleware) routeOfResource(req *x402.FacilitatorRequest) string {
	if m.cfg.Metrics == nil || req == nil {
		return ""
	}
	p, err := req.Payment()
	if err != nil || p.Resource == nil {
		return ""
	}
	u, err := url.Parse(p.Resource.URL)
	if err != nil {
		return ""
	}
	segs := routepattern.Decoded(u)
	for _, rt := range m.routes {
		if rt.pat.Match(segs) {
			return rt.Pattern
		}
	}
	if rr, ok := m.cfg.Metrics.(ResourceRouter); ok {
		return rr.RouteOfResource(p.Resource.URL)
	}
	return ""
}
