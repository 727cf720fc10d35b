package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go402/go402/health"
)

// Liveness and readiness paths, served by every gateway before its routes.
const (
	// LivenessPath answers 200 {"status":"ok"} while the process serves.
	LivenessPath = "/health"
	// ReadinessPath answers 200 when the settlement queue, the remote
	// facilitator and the Deps.ReadyChecks pass, 503 with the checks in
	// JSON otherwise.
	ReadinessPath = "/ready"
)

// probes says which of the fixed paths p (lower-cased, cleaned, without a
// trailing slash) is: "live", "ready" or "".
func probes(p, healthPath string) string {
	switch p {
	case LivenessPath, healthPath:
		return "live"
	case ReadinessPath:
		return "ready"
	}
	return ""
}

// newReadiness builds the gateway's /ready checker.
func (g *Gateway) newReadiness() *health.Checker {
	return health.New(health.Config{Checks: g.readyChecks, Now: g.deps.Now})
}

// readyChecks are the checks of GET /ready: the settlement queue's
// database (when serve-then-settle routes use one), the remote
// facilitator's /supported (when one, or a failover list, is configured), then the host's
// (Deps.ReadyChecks: `go402 gateway --devnet` adds the embedded
// facilitator's ledger, chain and gas checks).
func (g *Gateway) readyChecks() []health.Check {
	g.mu.Lock()
	q, rc := g.queue, g.remote
	g.mu.Unlock()
	st := g.cur.Load()
	var checks []health.Check
	if q != nil {
		checks = append(checks, health.PingCheck("queue", q))
	}
	remoteInUse := st != nil && g.deps.Facilitator == nil && (st.cfg.Facilitator.URL != "" || len(st.cfg.Facilitators) > 0)
	if rc != nil && remoteInUse {
		checks = append(checks, health.Check{Name: "facilitator", Run: func(ctx context.Context) (string, error) {
			s, err := rc.Supported(ctx)
			if err != nil {
				return "", err
			}
			if len(s.Kinds) == 0 {
				return "", errors.New("the facilitator supports no payment kind")
			}
			return fmt.Sprintf("%d payment kinds supported", len(s.Kinds)), nil
		}})
	}
	if g.deps.ReadyChecks != nil {
		checks = append(checks, g.deps.ReadyChecks()...)
	}
	return checks
}

// serveProbe answers a liveness or readiness probe.
func (g *Gateway) serveProbe(w http.ResponseWriter, r *http.Request, which string) {
	if which == "ready" {
		g.ready.ServeHTTP(w, r)
		return
	}
	health.Live(w, r)
}
