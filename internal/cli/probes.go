package cli

import (
	"net/http"

	"github.com/go402/go402/health"
)

// withProbes serves GET /health (liveness) and GET /ready (the checks
// given, 503 when one fails) in front of h, as every go402 server does.
func withProbes(h http.Handler, checks func() []health.Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", health.Live)
	mux.Handle("GET /ready", health.New(health.Config{Checks: checks}))
	mux.Handle("/", h)
	return mux
}
