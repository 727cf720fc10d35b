package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/go402/go402/internal/routepattern"
	"github.com/go402/go402/x402"
)

// proxy returns the reverse proxy of an upstream route. The router has
// already replaced the request path by its cleaned form; strip removes
// that many leading segments.
func (g *Gateway) proxy(target *url.URL, strip int, log *slog.Logger) http.Handler {
	upstream := target.Scheme + "://" + target.Host
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			p := pr.In.URL.Path
			if strip > 0 {
				p = routepattern.StripSegments(p, strip)
			}
			pr.Out.URL.Path, pr.Out.URL.RawPath = p, ""
			pr.SetURL(target)
			pr.SetXForwarded()
			// The upstream has no use for the payment itself.
			pr.Out.Header.Del(x402.HeaderPaymentSignature)
			pr.Out.Header.Del(x402.HeaderXPayment)
		},
		Transport:     g.transport,
		FlushInterval: -1, // stream: server-sent events reach the client at once
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				log.Debug("client went away before the upstream answered", "upstream", upstream)
			} else {
				log.Warn("upstream unavailable", "upstream", upstream, "err", err)
			}
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "upstream unavailable"})
		},
	}
}
