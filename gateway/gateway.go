// Package gateway is a no-code x402 reverse proxy: it sells any HTTP API, or
// a directory of files, by putting the x402http payment middleware in front
// of it, configured by one YAML file (see sample-gateway.yaml).
//
// # Routes
//
// Each route maps a path pattern to an upstream URL (proxied with
// httputil.ReverseProxy, responses streamed) or to a directory (files served
// read-only, dotfiles hidden, listings off unless enabled), with an optional
// price. Routes are matched in order on the cleaned, decoded,
// case-insensitive request path, the same path that decides the price, and
// upstreams receive that cleaned path: ".." segments, encoded dots and
// slashes, and doubled slashes can neither reach another route unpaid nor
// escape a directory. Methods are matched case-insensitively ("get" is
// GET, and is forwarded as GET), and a GET pattern also matches HEAD. A
// request whose path a priced route has for other methods only is
// answered 405, never served by a later free route: an upstream or a file
// route may ignore the method. Spellings of a priced path that upstreams
// read as it are priced too: with ";" path parameters or a ".json" (any
// ".ext") suffix the request is charged as the priced route, with trailing
// whitespace it gets 400 (see routepattern.Loosen); and a free route that
// matches requests of a priced one is refused unless it sets
// shadowsPriced. Requests matching no route get 404; the health path
// answers 200 without payment.
//
// A priced route answers 402 Payment Required until the client pays. By
// default the response is buffered and released only once the payment is
// settled (settle-before-serve); only a successful answer (2xx) is
// charged: an upstream or file error (status 400 or more, including 502
// when the upstream is down), a redirect or a 304 is not. A
// serve-then-settle route streams the response and settles afterwards
// through a durable SQLite queue, drained by [Gateway.RunSettlements]. Paid
// answers, files included, carry Cache-Control: private, no-store (see
// x402http).
//
// One payment buys one response across every route and every reloaded
// configuration: the routes share one set of payments being served, and,
// with a queue, claim each payment in it before serving.
//
// # Reloading
//
// [Gateway.Reload] builds a complete new handler from a new configuration,
// validating everything first, and swaps it in atomically: requests in
// flight finish on the handler they started on, and a configuration that
// does not build is rejected while the old one keeps serving.
//
// See docs/gateway.md in the repository for go402 gateway, and
// docs/configuration.md for every YAML key.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/health"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/internal/routepattern"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// Deps are the gateway's collaborators. Every field is optional.
type Deps struct {
	// Facilitator verifies and settles payments. If nil, the gateway uses
	// a remote facilitator client for Config.Facilitator.URL (or, for
	// Config.Facilitators, the list of them with failover). It is
	// required when the configuration selects the embedded facilitator,
	// which `go402 gateway` starts itself; when set, it is used whatever
	// the configuration's facilitator section says.
	Facilitator x402.Facilitator
	// Networks are registered after the built-in networks and the
	// configuration's networks, replacing any of the same id (the
	// embedded devnet is passed this way).
	Networks []evm.NetworkConfig
	// Schemes, if set, are the scheme servers that price the routes and
	// identify payments, in place of the built-in EVM "exact" one over the
	// networks above (evm.ServerSchemes); register other schemes here.
	Schemes *x402.Registry[x402.SchemeServer]
	// Transport carries requests to upstreams. If nil, a clone of
	// http.DefaultTransport, shared by every configuration the gateway
	// loads.
	Transport http.RoundTripper
	// Logger receives logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Now returns the current time, for the payment middleware. If nil,
	// time.Now.
	Now func() time.Time
	// ReadyChecks, if set, returns checks GET /ready runs after the
	// gateway's own (the queue, the remote facilitator): an in-process
	// facilitator's ledger, chains and gas balances, for instance.
	ReadyChecks func() []health.Check
}

// Gateway serves the routes of its current configuration. It is an
// http.Handler, safe for concurrent use, including concurrent Reload calls.
type Gateway struct {
	deps      Deps
	log       *slog.Logger
	transport http.RoundTripper
	cur       atomic.Pointer[state]

	// claims are the payments being served, shared by every route and
	// every configuration, so that neither another route nor a reload
	// serves one payment twice.
	claims *x402http.Claims
	ready  *health.Checker // GET /ready
	// responses keep the first response of each payment identifier
	// across routes and reloads when there is no queue to keep them.
	responses *x402http.MemoryResponses

	mu        sync.Mutex // serialises builds; guards the fields below
	queue     closableQueue
	queuePath string           // what queue was opened from (see Queue.key)
	remote    x402.Facilitator // the remote facilitator client (or failover list), kept across reloads
	remoteKey string           // what remote was built from
	chans     *channelState    // batch-settlement channels, built once

	metrics *gatewayMetrics // kept across reloads
}

// state is one loaded configuration: immutable once built.
type state struct {
	cfg     *Config
	handler http.Handler
	// settler drains the queue with the current facilitator; nil without
	// a queue or a facilitator. facKey identifies the facilitator and the
	// size of the settler's pool.
	settler *x402http.Middleware
	facKey  string
	// retired is closed when a newer state replaces this one.
	retired chan struct{}
}

// New builds a gateway serving cfg, which it validates first. Errors about
// the configuration are *FieldError values (joined) naming the key and its
// line. ctx bounds the start-up I/O (opening the settlement queue).
func New(ctx context.Context, cfg *Config, deps Deps) (*Gateway, error) {
	g := &Gateway{deps: deps, log: deps.Logger, transport: deps.Transport, claims: &x402http.Claims{}, responses: &x402http.MemoryResponses{Now: deps.Now}}
	// Upstream and facilitator errors quote URLs: log them reduced.
	g.log = redact.Logger(g.log).With("component", "gateway")
	var err error
	if g.metrics, err = newGatewayMetrics(); err != nil {
		return nil, err
	}
	if g.transport == nil {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			g.transport = t.Clone()
		} else {
			g.transport = http.DefaultTransport
		}
	}
	g.ready = g.newReadiness()
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.build(ctx, cfg, nil)
	if err != nil {
		g.closeQueue()
		_ = g.closeChannels()
		return nil, err
	}
	g.cur.Store(st)
	return g, nil
}

// ServeHTTP serves r with the current configuration.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.serveMetrics(w, r) {
		return
	}
	g.cur.Load().handler.ServeHTTP(w, r)
}

// Config returns the configuration being served. Do not modify it.
func (g *Gateway) Config() *Config { return g.cur.Load().cfg }

// Reload builds a handler for cfg and, if everything in it is valid,
// swaps it in atomically: new requests use it, requests in flight finish on
// the old one. On error nothing changes and the old configuration keeps
// serving. The listen address and log settings are not the gateway's (its
// caller owns the server); the settlement queue's path cannot change once
// opened.
func (g *Gateway) Reload(ctx context.Context, cfg *Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.cur.Load()
	st, err := g.build(ctx, cfg, old)
	if err != nil {
		return err
	}
	g.cur.Store(st)
	close(old.retired)
	g.log.Info("configuration reloaded", "config", cfg.name, "routes", len(cfg.Routes))
	return nil
}

// RunSettlements settles the payments queued by serve-then-settle routes
// until ctx ends, always with the current configuration's facilitator; run
// it in a goroutine beside the server. It settles up to queue.workers
// payments at once, the most urgent first (see
// x402http.Middleware.RunSettlements). Settlements queued before a restart
// are settled when it runs again. Without a queue it waits for a reload
// that configures one.
//
// It also claims batch-settlement vouchers (channels.claimIntervalSeconds,
// channels.claimThreshold, and every one left when ctx ends).
func (g *Gateway) RunSettlements(ctx context.Context) error {
	claimsDone := make(chan error, 1)
	go func() { claimsDone <- g.runClaims(ctx) }()
	err := g.runSettlements(ctx)
	return errors.Join(err, <-claimsDone)
}

func (g *Gateway) runSettlements(ctx context.Context) error {
	for ctx.Err() == nil {
		st := g.cur.Load()
		if st.settler == nil {
			select {
			case <-ctx.Done():
			case <-st.retired:
			}
			continue
		}
		runCtx, cancel := context.WithCancel(ctx)
		go func() {
			// Restart the loop only when a reload changes the settler.
			for s := st; ; {
				select {
				case <-runCtx.Done():
					return
				case <-s.retired:
					s = g.cur.Load()
					if s.settler != st.settler {
						cancel()
						return
					}
				}
			}
		}()
		err := st.settler.RunSettlements(runCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("gateway: settlements: %w", err)
		}
	}
	return nil
}

// Close releases the settlement queue and the channel store. Call it once
// the server has shut down and RunSettlements has returned.
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.closeQueue(), g.closeChannels())
}

func (g *Gateway) closeQueue() error {
	if g.queue == nil {
		return nil
	}
	err := g.queue.Close()
	g.queue, g.queuePath = nil, ""
	if err != nil {
		return fmt.Errorf("gateway: closing the settlement queue: %w", err)
	}
	return nil
}

// build validates cfg and builds its state. old is the state being
// replaced, or nil. g.mu is held.
func (g *Gateway) build(ctx context.Context, cfg *Config, old *state) (*state, error) {
	if cfg == nil {
		return nil, errors.New("gateway: no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fac, facKey, err := g.facilitator(cfg)
	if err != nil {
		return nil, err
	}
	schemes, err := g.schemes(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.usesChannels() {
		srv, err := g.channelServer(ctx, cfg, fac, g.networks(cfg))
		if err != nil {
			return nil, err
		}
		if err := registerChannels(cfg, schemes, srv); err != nil {
			return nil, err
		}
	}
	if err := g.registerUpto(ctx, cfg, fac, schemes); err != nil {
		return nil, err
	}
	var errs []error
	pats := make([]*routepattern.Pattern, len(cfg.Routes))
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		pats[i], _ = routepattern.Parse(r.Path) // valid: checked by Validate
		if !r.Free() {
			errs = append(errs, checkPrices(cfg, i, schemes)...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := g.openQueue(ctx, cfg); err != nil {
		return nil, err
	}
	var queue x402http.Queue
	if g.queue != nil {
		queue = g.queue
	}

	rt := &router{health: strings.ToLower(path.Clean(cfg.HealthPath)), probe: g.serveProbe}
	// The shared limits start afresh with each configuration.
	if cfg.RateLimits.RouteLimits != (RouteLimits{}) {
		if cfg.limiter, err = x402http.NewRateLimiter(cfg.RateLimits.middleware()); err != nil {
			return nil, cfg.fieldError("rateLimits", "%v", err)
		}
	}
	for i := range cfg.Routes {
		h, err := g.routeHandler(cfg, i, pats[i], fac, schemes, queue)
		if err != nil {
			return nil, err
		}
		rt.routes = append(rt.routes, &route{pat: pats[i], priced: !cfg.Routes[i].Free(), handler: h})
	}

	// The settler is kept across reloads unless its facilitator or its
	// pool's size changes.
	facKey = fmt.Sprintf("%s|workers=%d", facKey, cfg.Queue.Workers)
	st := &state{cfg: cfg, handler: rt, facKey: facKey, retired: make(chan struct{})}
	if queue != nil && fac != nil {
		if old != nil && old.settler != nil && old.facKey == facKey {
			st.settler = old.settler
		} else {
			// Schemes and the shared claims let the worker end a payer's
			// unsettled-payment hold when its settlement is done.
			st.settler, err = x402http.New(x402http.Config{Facilitator: fac, Schemes: schemes, Claims: g.claims, Queue: queue, SettleWorkers: cfg.Queue.Workers, Logger: g.log, Now: g.deps.Now, Metrics: settlerRecorder{g}})
			if err != nil {
				return nil, fmt.Errorf("gateway: settlement worker: %w", err)
			}
		}
	}
	return st, nil
}

// routeHandler builds the handler of cfg.Routes[i]: its file server or
// proxy, behind the payment middleware when the route is priced.
func (g *Gateway) routeHandler(cfg *Config, i int, pat *routepattern.Pattern, fac x402.Facilitator, schemes *x402.Registry[x402.SchemeServer], queue x402http.Queue) (http.Handler, error) {
	r := &cfg.Routes[i]
	key := fmt.Sprintf("routes[%d]", i)
	log := g.log.With("route", r.Path)
	var h http.Handler
	if r.Dir != "" {
		if fi, err := os.Stat(r.Dir); err != nil || !fi.IsDir() {
			log.Warn("the directory of a route does not exist (yet): its files answer 404", "dir", r.Dir)
		}
		h = &fileServer{dir: r.Dir, prefix: pat.Prefix, listing: r.Listing, log: log}
	} else {
		target, _ := url.Parse(r.Upstream) // valid: checked by Validate
		strip := 0
		if r.StripPrefix {
			strip = pat.Prefix
		}
		h = g.proxy(target, strip, log)
		if r.upto() {
			h = metered(h, r.Metering, log)
		}
	}
	if !r.Free() {
		mw, err := x402http.New(x402http.Config{
			Facilitator:    fac,
			Schemes:        schemes,
			Queue:          queue,
			BackPressure:   cfg.Queue.BackPressure,
			SettleWorkers:  cfg.Queue.Workers,
			MaxBufferBytes: cfg.MaxBufferBytes,
			Claims:         g.claims,
			CORS:           cfg.CORS.middleware(),
			RateLimiter:    cfg.limiter,
			TrustedProxies: cfg.RateLimits.trusted(),
			Logger:         log,
			Metrics:        g.metrics.recorder(r.Path),
			Now:            g.deps.Now,
			// The router has matched the request already: the
			// middleware charges whatever it is given.
			Routes: []x402http.Route{{
				Pattern:           "/*",
				Accepts:           options(cfg, r),
				Description:       r.Description,
				MimeType:          r.MimeType,
				MaxTimeoutSeconds: r.MaxTimeoutSeconds,
				Policy:            policy(r.Policy),
				Charge:            charge(r.Charge),
				UnitPrice:         r.Metering.UnitPrice,
				Discovery:         r.bazaarHTTP(),
				RateLimits:        r.RateLimits.middleware(),
				PaymentIdentifier: paymentIDMode(r.PaymentIdentifier),
			}},
			Responses: g.responseStore(queue),
		})
		if err != nil {
			return nil, cfg.fieldError(key, "%v", err)
		}
		h = mw.Handler(h)
	}
	if r.Dir != "" {
		h = readOnly(h)
	}
	return h, nil
}

// facilitator returns the facilitator cfg selects, and a key identifying
// it; nil if cfg selects none.
func (g *Gateway) facilitator(cfg *Config) (x402.Facilitator, string, error) {
	if g.deps.Facilitator != nil {
		return g.deps.Facilitator, "deps", nil
	}
	f := cfg.Facilitator
	switch {
	case f.Embedded.Devnet:
		return nil, "", cfg.fieldError("facilitator.embedded", "the embedded facilitator is started by `go402 gateway`; a program using the gateway package passes its facilitator in Deps.Facilitator")
	case len(cfg.Facilitators) > 0:
		return g.failoverFacilitator(cfg)
	case f.URL == "":
		return nil, "", nil
	}
	c, key, err := g.remoteFacilitator(cfg, f, "facilitator", "facilitator.url")
	if err != nil {
		return nil, "", err
	}
	if g.remote != nil && g.remoteKey == key {
		return g.remote, key, nil
	}
	g.remote, g.remoteKey = c, key
	return c, key, nil
}

// networks is the networks registry: built-in, configured, then Deps
// (errors are reported by schemes).
func (g *Gateway) networks(cfg *Config) *evm.Networks {
	nets := evm.DefaultNetworks()
	for _, n := range cfg.Networks {
		id, _ := n.Network.ChainID()
		_ = nets.Add(evm.NetworkConfig{Network: n.Network, ChainID: id, Assets: n.Assets})
	}
	for _, nc := range g.deps.Networks {
		_ = nets.Add(nc)
	}
	return nets
}

// schemes returns Deps.Schemes, or the EVM "exact" scheme server over the
// networks registry: built-in, configured, then Deps.
func (g *Gateway) schemes(cfg *Config) (*x402.Registry[x402.SchemeServer], error) {
	nets := evm.DefaultNetworks()
	var errs []error
	for i, n := range cfg.Networks {
		id, _ := n.Network.ChainID() // valid: checked by Validate
		if err := nets.Add(evm.NetworkConfig{Network: n.Network, ChainID: id, Assets: n.Assets}); err != nil {
			errs = append(errs, cfg.fieldError(fmt.Sprintf("networks[%d]", i), "%v", err))
		}
	}
	for _, nc := range g.deps.Networks {
		if err := nets.Add(nc); err != nil {
			errs = append(errs, fmt.Errorf("gateway: Deps.Networks: %w", err))
		}
	}
	if g.deps.Schemes != nil {
		return g.deps.Schemes, errors.Join(errs...)
	}
	return evm.ServerSchemes(nets), errors.Join(errs...)
}

// checkPrices resolves route i's price on each of its networks.
func checkPrices(cfg *Config, i int, schemes *x402.Registry[x402.SchemeServer]) []error {
	r := &cfg.Routes[i]
	p := fmt.Sprintf("routes[%d]", i)
	price, err := x402.ParsePrice(r.Price)
	if err != nil {
		return []error{cfg.fieldError(p+".price", "%v", err)}
	}
	var errs []error
	for j, n := range cfg.EffectiveNetworks(r) {
		key := "network"
		switch {
		case len(r.Networks) > 0:
			key = fmt.Sprintf("%s.networks[%d]", p, j)
		case r.Network != "":
			key = p + ".network"
		}
		srv, _, err := schemes.Lookup(x402.V2, r.routeScheme(), n)
		if err == nil {
			_, err = srv.Requirements(n, price, cfg.EffectivePayTo(r), 0)
		}
		switch {
		case err == nil:
		case errors.Is(err, evm.ErrUnknownNetwork), errors.Is(err, x402.ErrNotRegistered):
			msg := fmt.Sprintf("%s is not a known network: add it under networks, with its assets", n)
			if key == "network" {
				msg += " (" + p + " is paid on it)"
			}
			errs = append(errs, cfg.fieldError(key, "%s", msg))
		default:
			errs = append(errs, cfg.fieldError(p+".price", "%s cannot be paid on %s: %v", r.Price, n, err))
		}
	}
	return errs
}

func options(cfg *Config, r *Route) []x402http.PaymentOption {
	var opts []x402http.PaymentOption
	for _, n := range cfg.EffectiveNetworks(r) {
		opts = append(opts, x402http.PaymentOption{Scheme: r.Scheme, Network: n, Price: r.Price, PayTo: cfg.EffectivePayTo(r)})
	}
	return opts
}

// charge is the x402http charge rule of routes[i].charge (validated): nil
// for the default.
func charge(classes []string) func(status int) bool {
	if len(classes) == 0 {
		return nil
	}
	var set [6]bool // by the status's first digit
	for _, c := range classes {
		if len(c) == 3 && c[0] >= '2' && c[0] <= '5' {
			set[c[0]-'0'] = true
		}
	}
	return func(status int) bool { return status >= 200 && status <= 599 && set[status/100] }
}

// paymentIDMode maps routes[i].paymentIdentifier.
func paymentIDMode(s string) x402http.PaymentIDMode {
	switch s {
	case PaymentIDOptional:
		return x402http.PaymentIDOptional
	case PaymentIDRequired:
		return x402http.PaymentIDRequired
	}
	return x402http.PaymentIDOff
}

// responseStore is where the routes keep the first response of each
// payment identifier: the queue when there is one (SQLite or PostgreSQL:
// durable, shared with the processes using it), else the gateway's memory
// store, which outlives reloads.
func (g *Gateway) responseStore(queue x402http.Queue) x402http.ResponseStore {
	if rs, ok := queue.(x402http.ResponseStore); ok {
		return rs
	}
	return g.responses
}

func policy(s string) x402http.Policy {
	if s == PolicyServeThenSettle {
		return x402http.ServeThenSettle
	}
	return x402http.SettleBeforeServe
}

var _ http.Handler = (*Gateway)(nil)
