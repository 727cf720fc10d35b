package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402"
)

const gatewayUsage = `gateway --config FILE [--listen ADDR] [--devnet [--info-file PATH]]
       go402 gateway --print-sample-config

Sells an HTTP API, or a folder of files, through x402: a reverse proxy that
answers requests to priced routes with 402 Payment Required, has the
payment verified and settled by a facilitator, then proxies the request to
the upstream (or serves the file). Routes, prices and the facilitator are
set in a YAML file: see gateway/sample-gateway.yaml for every key and the
GO402_* environment variables that override them (flags override both), or
print it (it is built into the binary) to start from:
go402 gateway --print-sample-config > gateway.yaml

SIGHUP reloads the file without dropping requests: requests in flight
finish on the old configuration, and a configuration with an error is
refused (the errors are logged with their line) while the old one keeps
serving. Interrupt (SIGINT or SIGTERM) stops accepting requests and waits
up to 30s for those in flight.

--devnet (DEV ONLY) runs offline: an embedded devnet and an in-process
facilitator on it settle the payments, every route's default network
becomes the devnet's, and payTo defaults to devnet account 8. Accounts 0
to 7 are left for payers, unless a route is paid to one of them (their
keys are public: see ` + "`go doc github.com/go402/go402/devnet`" + `).

--info-file PATH (with --devnet) writes, once listening, the devnet's
fields as ` + "`go402 devnet --info-file`" + ` writes them (with the public dev keys)
plus gatewayUrl, facilitator, payers (how many accounts, first in the
list, the gateway neither settles from nor is paid to) and the paid
endpoints, as JSON (mode 0600) for ` + "`go402 pay --devnet-info PATH`" + `. It is
rewritten on each reload and removed on exit.`

// Devnet roles of the embedded facilitator: the last of the default ten
// accounts settles, the one before is paid, the others pay.
const (
	gatewayDevnetPayTo  = devnet.DefaultAccounts - 2
	gatewayDevnetSigner = devnet.DefaultAccounts - 1
)

// gatewayShutdownTimeout bounds the graceful shutdown.
const gatewayShutdownTimeout = 30 * time.Second

// gatewayMaxDirEndpoints bounds the files of one dir route listed in the
// --info-file endpoints.
const gatewayMaxDirEndpoints = 100

// gatewayOptions are the command line's choices, applied to every load of
// the configuration file.
type gatewayOptions struct {
	path     string
	listen   string // "" keeps the file's
	devnet   bool
	infoFile string // absolute; "" for none
}

func runGateway(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "gateway", gatewayUsage)
	configPath := fs.String("config", "", "YAML configuration `file` (see gateway/sample-gateway.yaml)")
	listen := fs.String("listen", "", "HTTP listen `address` host:port, overriding the configuration (default 127.0.0.1:8402; port 0 picks a free port)")
	useDevnet := fs.Bool("devnet", false, "DEV ONLY: settle payments on an embedded devnet with an in-process facilitator")
	infoFile := fs.String("info-file", "", "with --devnet: once listening, write the devnet (with its public dev keys), the gateway URL, the payers and the paid endpoints as JSON to `path` (mode 0600); removed on exit")
	printSample := fs.Bool("print-sample-config", false, "print the sample configuration file, with every key documented, on standard output and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *printSample {
		_, err := e.stdout.Write(gateway.SampleYAML())
		return err
	}
	if *configPath == "" {
		return usagef("--config FILE is required (see gateway/sample-gateway.yaml)")
	}
	opts := gatewayOptions{path: *configPath, listen: *listen, devnet: *useDevnet}
	cfg, err := loadGatewayConfig(opts)
	if err != nil {
		return err
	}
	if *infoFile != "" {
		if !cfg.Facilitator.Embedded.Devnet {
			return usagef("--info-file only applies with --devnet (or facilitator.embedded.devnet: true)")
		}
		if opts.infoFile, err = filepath.Abs(*infoFile); err != nil {
			return fmt.Errorf("--info-file: %w", err)
		}
	}
	return serveGateway(ctx, e, cfg, opts)
}

// loadGatewayConfig reads and validates the configuration file with the
// command line's overrides. Configuration errors are usage errors.
func loadGatewayConfig(o gatewayOptions) (*gateway.Config, error) {
	data, err := os.ReadFile(o.path)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	cfg, err := gateway.Parse(o.path, data, os.Getenv)
	if err != nil {
		return nil, usagef("invalid configuration:\n%v", err)
	}
	if o.listen != "" {
		if err := cfg.Set("listen", o.listen, "--listen"); err != nil {
			return nil, usagef("%v", err)
		}
	}
	if o.devnet {
		if err := cfg.Set("facilitator.embedded.devnet", "true", "--devnet"); err != nil {
			return nil, usagef("%v", err)
		}
	}
	if cfg.Facilitator.Embedded.Devnet {
		source := "facilitator.embedded.devnet"
		if o.devnet {
			source = "--devnet"
		}
		if err := cfg.Set("network", string(x402.EIP155(devnet.DefaultChainID)), source); err != nil {
			return nil, usagef("%v", err)
		}
		if cfg.PayTo == "" {
			acct, err := devnet.DevAccount(gatewayDevnetPayTo)
			if err != nil {
				return nil, err
			}
			if err := cfg.Set("payTo", acct.Address.Hex(), source); err != nil {
				return nil, usagef("%v", err)
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, usagef("invalid configuration:\n%v", err)
	}
	return cfg, nil
}

func newGatewayLogger(w io.Writer, cfg *gateway.Config) *slog.Logger {
	level := slog.LevelInfo
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return redact.Logger(slog.New(slog.NewJSONHandler(w, opts)))
	}
	return redact.Logger(slog.New(slog.NewTextHandler(w, opts)))
}

func serveGateway(ctx context.Context, e env, cfg *gateway.Config, opts gatewayOptions) (err error) {
	// Take over SIGHUP before anything starts: from the moment the port
	// accepts connections a supervisor may send it, and its default action
	// would kill the gateway. One received before the loop runs reloads
	// the file then.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log := newGatewayLogger(e.stderr, cfg)
	var cleanup closers
	defer func() { err = errors.Join(err, cleanup.close()) }()

	deps, dev, err := gatewayDeps(ctx, log, cfg, &cleanup)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	gw, err := gateway.New(ctx, cfg, deps)
	if err != nil {
		var fe *gateway.FieldError
		if errors.As(err, &fe) {
			return usagef("invalid configuration:\n%v", err)
		}
		return err
	}
	cleanup.add(gw.Close)

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	baseURL := listenURL(ln.Addr())
	metricsURL, stopMetrics, err := serveMetrics(ctx, cfg.MetricsListen, baseURL, gw.MetricsHandler(), log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopMetrics()
	// The info file is written before requests are served, and once it
	// exists the gateway answers at its URL (connections wait in the
	// listener's backlog meanwhile).
	var info *gatewayInfo
	if dev != nil {
		info = newGatewayInfo(baseURL, cfg, dev)
		info.MetricsURL = metricsURL
	}
	if err := writeGatewayInfoFile(opts.infoFile, info, &cleanup); err != nil {
		_ = ln.Close()
		return err
	}
	// The limits are the configuration's: uploads and streamed responses
	// (server-sent events) may last (see gateway.Timeouts).
	t := cfg.Timeouts
	srv := newServer(gw, serverLimits{ReadHeader: t.ReadHeader, Read: t.Read, Write: t.Write, Idle: t.Idle}, log, nil)
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	settleCtx, stopSettling := context.WithCancel(context.WithoutCancel(ctx))
	settleDone := make(chan error, 1)
	go func() { settleDone <- gw.RunSettlements(settleCtx) }()

	printGateway(e.stdout, baseURL, cfg, dev, info, opts.infoFile)
	log.Info("gateway listening", "url", baseURL, "config", opts.path, "routes", len(cfg.Routes))

	serveErr := gatewayLoop(ctx, e, gatewayServing{gw: gw, cfg: cfg, opts: opts, log: log, baseURL: baseURL, dev: dev}, hup, serveDone)
	return shutdownGateway(log, srv, serveErr, stopSettling, settleDone)
}

// gatewayDeps returns the gateway's dependencies: with an embedded devnet
// facilitator, that facilitator and the devnet, which it starts.
func gatewayDeps(ctx context.Context, log *slog.Logger, cfg *gateway.Config, cleanup *closers) (gateway.Deps, *devnet.Devnet, error) {
	deps := gateway.Deps{Logger: log}
	if !cfg.Facilitator.Embedded.Devnet {
		return deps, nil, nil
	}
	dev, svc, err := startGatewayFacilitator(ctx, log, cleanup)
	if err != nil {
		return deps, nil, err
	}
	// GET /ready checks the embedded facilitator's ledger, chain and gas.
	deps.Facilitator, deps.ReadyChecks = svc.Facilitator(), svc.ReadyChecks
	deps.Networks = []evm.NetworkConfig{dev.NetworkConfig()}
	warnOtherNetworks(log, cfg, dev)
	if slices.ContainsFunc(cfg.Routes, func(r gateway.Route) bool { return r.Scheme == gateway.SchemeUpto }) {
		// An upto payment is a Permit2 transfer: the payers approve
		// Permit2 for the test USDC (DEV ONLY).
		if err := approveStackPayers(ctx, dev, dev.Accounts()[:gatewayDevnetPayTo]); err != nil {
			return deps, nil, err
		}
	}
	return deps, dev, nil
}

// writeGatewayInfoFile writes info to path, when path is not "", and has
// cleanup remove it.
func writeGatewayInfoFile(path string, info *gatewayInfo, cleanup *closers) error {
	if path == "" {
		return nil
	}
	if err := writeJSONFile(path, info); err != nil {
		return err
	}
	cleanup.add(func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the info file: %w", err)
		}
		return nil
	})
	return nil
}

// gatewayServing is a gateway that serves: what a reload needs.
type gatewayServing struct {
	gw      *gateway.Gateway
	cfg     *gateway.Config // the configuration it started with
	opts    gatewayOptions
	log     *slog.Logger
	baseURL string
	dev     *devnet.Devnet // the embedded devnet, or nil
}

// gatewayLoop reloads the configuration on each SIGHUP until ctx ends or
// the HTTP server stops, and returns the server's error in that case.
func gatewayLoop(ctx context.Context, e env, s gatewayServing, hup <-chan os.Signal, serveDone <-chan error) error {
	running := s.cfg
	for {
		select {
		case <-ctx.Done():
			return nil
		case serveErr := <-serveDone:
			s.log.Error("HTTP server stopped", "err", serveErr)
			return serveErr
		case <-hup:
			next := reloadGateway(ctx, s.gw, running, s.opts, s.log)
			if next == nil {
				continue
			}
			running = next
			printRoutes(e.stdout, next)
			if s.opts.infoFile != "" {
				// Payees and endpoints may have changed.
				if err := writeJSONFile(s.opts.infoFile, newGatewayInfo(s.baseURL, next, s.dev)); err != nil {
					s.log.Error("rewriting the info file", "err", err)
				}
			}
		}
	}
}

// shutdownGateway waits for the requests in flight, up to
// gatewayShutdownTimeout, then stops the settlements and waits for them.
func shutdownGateway(log *slog.Logger, srv *http.Server, serveErr error, stopSettling func(), settleDone <-chan error) error {
	log.Info("shutting down: waiting for requests in flight", "timeout", gatewayShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), gatewayShutdownTimeout)
	defer cancel()
	var errs []error
	if serveErr != nil {
		errs = append(errs, serveErr)
	}
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		errs = append(errs, fmt.Errorf("HTTP requests still in flight at shutdown: %w", err))
	}
	stopSettling()
	if err := <-settleDone; err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		log.Info("gateway stopped")
	}
	return errors.Join(errs...)
}

// reloadGateway reloads the configuration file and returns the new
// configuration, or nil (after logging why) if it was refused.
func reloadGateway(ctx context.Context, gw *gateway.Gateway, running *gateway.Config, opts gatewayOptions, log *slog.Logger) *gateway.Config {
	log.Info("SIGHUP: reloading the configuration", "config", opts.path)
	cfg, err := loadGatewayConfig(opts)
	if err == nil && cfg.Facilitator.Embedded.Devnet != running.Facilitator.Embedded.Devnet {
		err = errors.New("facilitator: switching between the embedded devnet and a remote facilitator needs a restart")
	}
	if err == nil {
		err = gw.Reload(ctx, cfg)
	}
	if err != nil {
		for _, e := range leafErrors(err) {
			log.Error("reload refused; still serving the previous configuration", "error", strings.TrimPrefix(e.Error(), "invalid configuration:\n"))
		}
		return nil
	}
	for _, c := range []struct {
		key       string
		old, next string
	}{
		{"listen", running.Listen, cfg.Listen},
		{"logLevel", running.LogLevel, cfg.LogLevel},
		{"logFormat", running.LogFormat, cfg.LogFormat},
	} {
		if c.old != c.next {
			log.Warn("this change needs a restart; still using the old value", "key", c.key, "value", c.old, "new", c.next)
		}
	}
	return cfg
}

// leafErrors splits joined errors (and a usage error wrapping them) into
// one error per problem, for one log line each.
func leafErrors(err error) []error {
	var ue *usageError
	if errors.As(err, &ue) {
		var out []error
		for line := range strings.SplitSeq(strings.TrimPrefix(ue.msg, "invalid configuration:\n"), "\n") {
			if line != "" {
				out = append(out, errors.New(line))
			}
		}
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// startGatewayFacilitator starts the embedded devnet and an in-process
// facilitator on it, with a ledger in a temporary directory.
func startGatewayFacilitator(ctx context.Context, log *slog.Logger, cleanup *closers) (*devnet.Devnet, *service.Service, error) {
	svc, err := service.New(ctx, &config.Config{Devnet: config.Devnet{Enabled: true}, ShutdownTimeout: gatewayShutdownTimeout}, service.Deps{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	d := svc.Devnet()
	cleanup.add(svc.Close) // settlements finish, then the devnet and the ledger close
	return d, svc, nil
}

// warnOtherNetworks warns about routes paid on networks the embedded
// facilitator does not serve.
func warnOtherNetworks(log *slog.Logger, cfg *gateway.Config, d *devnet.Devnet) {
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		if r.Free() {
			continue
		}
		for _, n := range cfg.EffectiveNetworks(r) {
			if string(n) != d.Network() {
				log.Warn("route paid on a network the embedded devnet facilitator cannot settle", "route", r.Path, "network", n)
			}
		}
	}
}
