// Package health serves the liveness (/health) and readiness (/ready)
// endpoints of go402's servers. A [Checker] runs named checks in parallel,
// each under a short timeout, caches the report briefly so that frequent
// probes stay cheap, and answers 200 when every check passes and 503 with
// the failing ones otherwise. Every detail is passed through
// internal/redact, and through the secrets the host names, before it is
// written: RPC URLs carry API keys.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go402/go402/internal/redact"
)

// Defaults of [Config].
const (
	DefaultTimeout  = 2 * time.Second
	DefaultCacheTTL = time.Second
)

// Check is one readiness check. Run returns a short human detail on
// success, or an error.
type Check struct {
	Name string
	Run  func(ctx context.Context) (detail string, err error)
}

// Result is the outcome of one check, as /ready shows it.
type Result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is the /ready body.
type Report struct {
	Status string   `json:"status"` // "ok" or "unavailable"
	Checks []Result `json:"checks"`
}

// OK reports whether every check passed.
func (r Report) OK() bool { return r.Status == "ok" }

// Failed returns the failing checks.
func (r Report) Failed() []Result {
	var out []Result
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Config configures a [Checker].
type Config struct {
	// Checks returns the checks to run; it is called for every run, so
	// that a host whose configuration reloads can change them.
	Checks func() []Check
	// Timeout bounds each check; 0 means DefaultTimeout.
	Timeout time.Duration
	// CacheTTL is how long a report is served again; 0 means
	// DefaultCacheTTL, negative disables the cache.
	CacheTTL time.Duration
	// Secrets are strings never to show (RPC URLs, DSNs), in addition to
	// the URL reduction of internal/redact.
	Secrets []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Checker runs readiness checks and serves them. It is safe for
// concurrent use.
type Checker struct {
	cfg Config

	mu     sync.Mutex // held during a run: concurrent probes share it
	last   Report
	lastAt time.Time
}

// New returns a Checker.
func New(cfg Config) *Checker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Checker{cfg: cfg}
}

// Run returns the report, from the cache when it is fresh.
func (c *Checker) Run(ctx context.Context) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if c.cfg.CacheTTL > 0 && !c.lastAt.IsZero() && now.Sub(c.lastAt) < c.cfg.CacheTTL {
		return c.last
	}
	var checks []Check
	if c.cfg.Checks != nil {
		checks = c.cfg.Checks()
	}
	rep := Report{Status: "ok", Checks: make([]Result, len(checks))}
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Checks[i] = c.run(ctx, ch)
		}()
	}
	wg.Wait()
	for _, r := range rep.Checks {
		if !r.OK {
			rep.Status = "unavailable"
		}
	}
	c.last, c.lastAt = rep, c.cfg.Now()
	return rep
}

// run runs one check under the timeout, recovering from a panic.
func (c *Checker) run(ctx context.Context, ch Check) (res Result) {
	res.Name = ch.Name
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	type outcome struct {
		detail string
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("check failed: %v", p)}
			}
		}()
		d, err := ch.Run(ctx)
		done <- outcome{d, err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		o.err = fmt.Errorf("no answer within %v", c.cfg.Timeout)
	}
	res.OK = o.err == nil
	res.Detail = o.detail
	if o.err != nil {
		res.Detail = o.err.Error()
	}
	res.Detail = c.scrub(res.Detail)
	return res
}

// scrub removes the configured secrets and reduces URLs.
func (c *Checker) scrub(s string) string {
	for _, sec := range c.cfg.Secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redact.URL(sec))
		}
	}
	return redact.Text(s)
}

// ServeHTTP answers GET and HEAD with the report: 200 when ready, 503
// otherwise.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	rep := c.Run(r.Context())
	status := http.StatusOK
	if !rep.OK() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rep)
}

// Live answers GET and HEAD with 200 {"status":"ok"}: the process serves
// HTTP. It checks nothing else (that is /ready's job).
func Live(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encoding"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
