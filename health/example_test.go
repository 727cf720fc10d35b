package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go402/go402/health"
)

// A server with a liveness and a readiness endpoint: /ready runs the
// checks in parallel and answers 503 when one fails.
func Example() {
	checks := func() []health.Check {
		return []health.Check{
			{Name: "database", Run: func(context.Context) (string, error) { return "reachable", nil }},
			{Name: "rpc eip155:8453", Run: func(context.Context) (string, error) {
				return "", errors.New(`Post "https://rpc.example/v2/SECRET": connection refused`)
			}},
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", health.Live)
	mux.Handle("GET /ready", health.New(health.Config{Checks: checks}))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 503 {"status":"unavailable","checks":[{"name":"database","ok":true,"detail":"reachable"},{"name":"rpc eip155:8453","ok":false,"detail":"Post \"https://rpc.example/…\": connection refused"}]}
}
