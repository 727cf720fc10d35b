package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

const gatewayUsage = `gateway --config FILE [--listen ADDR] [--devnet [--info-file PATH]]

Sells an HTTP API, or a folder of files, through x402: a reverse proxy that
answers requests to priced routes with 402 Payment Required, has the
payment verified and settled by a facilitator, then proxies the request to
the upstream (or serves the file). Routes, prices and the facilitator are
set in a YAML file: see gateway/sample-gateway.yaml for every key and the
GO402_* environment variables that override them (flags override both).

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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
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
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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

	deps := gateway.Deps{Logger: log}
	var dev *devnet.Devnet
	if cfg.Facilitator.Embedded.Devnet {
		var fac *facilitator.Facilitator
		dev, fac, err = startGatewayFacilitator(ctx, log, &cleanup)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted while starting
			}
			return err
		}
		deps.Facilitator = fac
		deps.Networks = []evm.NetworkConfig{dev.NetworkConfig()}
		warnOtherNetworks(log, cfg, dev)
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
	// The info file is written before requests are served, and once it
	// exists the gateway answers at its URL (connections wait in the
	// listener's backlog meanwhile).
	var info *gatewayInfo
	if dev != nil {
		info = newGatewayInfo(baseURL, cfg, dev)
	}
	if opts.infoFile != "" {
		if err := writeJSONFile(opts.infoFile, info); err != nil {
			_ = ln.Close()
			return err
		}
		cleanup.add(func() error {
			if err := os.Remove(opts.infoFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing the info file: %w", err)
			}
			return nil
		})
	}
	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No read or write timeout: uploads and streamed responses
		// (server-sent events) may last.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	settleCtx, stopSettling := context.WithCancel(context.WithoutCancel(ctx))
	settleDone := make(chan error, 1)
	go func() { settleDone <- gw.RunSettlements(settleCtx) }()

	printGateway(e.stdout, baseURL, cfg, dev, info, opts.infoFile)
	log.Info("gateway listening", "url", baseURL, "config", opts.path, "routes", len(cfg.Routes))

	running := cfg
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case serveErr = <-serveDone:
			log.Error("HTTP server stopped", "err", serveErr)
			break loop
		case <-hup:
			if next := reloadGateway(ctx, gw, running, opts, log); next != nil {
				running = next
				printRoutes(e.stdout, next)
				if opts.infoFile != "" {
					// Payees and endpoints may have changed.
					if err := writeJSONFile(opts.infoFile, newGatewayInfo(baseURL, next, dev)); err != nil {
						log.Error("rewriting the info file", "err", err)
					}
				}
			}
		}
	}

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
func startGatewayFacilitator(ctx context.Context, log *slog.Logger, cleanup *closers) (*devnet.Devnet, *facilitator.Facilitator, error) {
	d, err := devnet.Start(ctx, devnet.Config{RPCAddr: "127.0.0.1:0", Logger: log.With("component", "devnet")})
	if err != nil {
		return nil, nil, fmt.Errorf("starting the devnet: %w", err)
	}
	cleanup.add(func() error {
		closed := make(chan error, 1)
		go func() { closed <- d.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				return fmt.Errorf("closing the devnet: %w", err)
			}
			return nil
		case <-time.After(devnetShutdownTimeout):
			return fmt.Errorf("devnet did not stop within %v", devnetShutdownTimeout)
		}
	})
	dir, err := os.MkdirTemp("", "go402-gateway-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating a temporary ledger: %w", err)
	}
	cleanup.add(func() error { return os.RemoveAll(dir) })
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "ledger.db"), Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("opening the ledger: %w", err)
	}
	cleanup.add(func() error {
		if err := store.Close(); err != nil {
			return fmt.Errorf("closing the ledger: %w", err)
		}
		return nil
	})
	nc := d.NetworkConfig()
	scheme, err := newExactScheme(ctx, nc.Network, d.Client(), d.Accounts()[gatewayDevnetSigner].PrivateKey, nc.Assets, 100*time.Millisecond, log)
	if err != nil {
		return nil, nil, err
	}
	fac, err := facilitator.New(facilitator.Config{Store: store, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	for _, v := range []int{x402.V1, x402.V2} {
		if err := fac.Register(v, nc.Network, scheme); err != nil {
			return nil, nil, fmt.Errorf("registering the devnet for x402 v%d: %w", v, err)
		}
	}
	cleanup.add(func() error {
		// Runs first: settlements finish before the chain goes away.
		ctx, cancel := context.WithTimeout(context.Background(), gatewayShutdownTimeout)
		defer cancel()
		return fac.Shutdown(ctx)
	})
	return d, fac, nil
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

// printGateway prints what is being served, and with the devnet, how to
// try it: info describes the devnet, and infoFile is where it was written
// ("" for nowhere).
func printGateway(w io.Writer, baseURL string, cfg *gateway.Config, d *devnet.Devnet, info *gatewayInfo, infoFile string) {
	fmt.Fprintf(w, "go402 gateway is running\n\n")
	fmt.Fprintf(w, "  URL          %s\n", baseURL)
	fmt.Fprintf(w, "  Health       %s%s\n", baseURL, cfg.HealthPath)
	switch {
	case d != nil:
		fmt.Fprintf(w, "  Facilitator  embedded, on the devnet %s (DEV ONLY)\n", d.Network())
	case cfg.Facilitator.URL != "":
		fmt.Fprintf(w, "  Facilitator  %s\n", cfg.Facilitator.URL)
	default:
		fmt.Fprintf(w, "  Facilitator  none (every route is free)\n")
	}
	printRoutes(w, cfg)
	if d != nil && info != nil {
		tok := d.Token()
		fmt.Fprintf(w, "\nDevnet (DEV ONLY, public keys):\n")
		fmt.Fprintf(w, "  RPC URL    %s\n", d.RPCURL())
		fmt.Fprintf(w, "  Token      %s  (name %q, version %q)\n", tok.Address.Hex(), tok.Name, tok.Version)
		keys := "see `go doc github.com/go402/go402/devnet`"
		if infoFile != "" {
			keys = "keys in the info file"
		}
		switch info.Payers {
		case 0:
			fmt.Fprintf(w, "  Payers     none: a route is paid to account 0\n")
		case 1:
			fmt.Fprintf(w, "  Payers     account 0 (%s; these keys are public, DEV ONLY)\n", keys)
		default:
			fmt.Fprintf(w, "  Payers     accounts 0-%d (%s; these keys are public, DEV ONLY)\n", info.Payers-1, keys)
		}
		if infoFile != "" {
			fmt.Fprintf(w, "  Info file  %s (deleted on exit)\n", infoFile)
		}
		if len(info.Endpoints) > 0 {
			ep := info.Endpoints[0]
			fmt.Fprintf(w, "\ntry it:\n")
			fmt.Fprintf(w, "  curl -i %s%s\n", curlMethod(ep.Method), shellQuote(ep.URL))
			switch {
			case infoFile == "":
				fmt.Fprintf(w, "  (with --info-file PATH, a go402 pay line to paste is printed here)\n")
			case info.Payers > 0:
				fmt.Fprintf(w, "  GO402_PAYER_KEY=%s %s pay%s%s --devnet-info %s %s\n",
					info.Accounts[0].PrivateKey, selfCommand(os.Args[0]), payMethod(ep.Method), payMax(ep.Price), shellQuote(infoFile), shellQuote(ep.URL))
			}
		}
	}
	fmt.Fprintf(w, "\nSIGHUP reloads %s; Ctrl-C stops.\n", cfg.Name())
}

// curlMethod and payMethod are the flags that send method, or "" for GET.
func curlMethod(method string) string {
	if method == "" || method == http.MethodGet {
		return ""
	}
	return "-X " + shellQuote(method) + " "
}

func payMethod(method string) string {
	if method == "" || method == http.MethodGet {
		return ""
	}
	return " -X " + shellQuote(method)
}

// payMax is the --max flag a go402 pay line needs to pay price, or "" when
// the default (defaultPayMax) covers it.
func payMax(price string) string {
	p, err1 := x402.ParsePrice(price)
	def, err2 := x402.ParsePrice(defaultPayMax)
	if err1 != nil || err2 != nil {
		return ""
	}
	a, err1 := p.Atomic(18)
	b, err2 := def.Atomic(18)
	if err1 != nil || err2 != nil || a.Cmp(b) <= 0 {
		return ""
	}
	return " --max " + shellQuote(price)
}

// gatewayInfo is the --info-file JSON of go402 gateway --devnet: the
// devnet's fields, as go402 devnet writes them (so that go402 pay
// --devnet-info reads it), then the gateway's.
type gatewayInfo struct {
	devnet.Info
	GatewayURL string `json:"gatewayUrl"`
	// Facilitator describes the embedded facilitator, which has no URL.
	Facilitator string `json:"facilitator"`
	// Payers is how many accounts, first in Accounts, the gateway never
	// uses: the embedded facilitator settles from neither, and no route
	// is paid to them.
	Payers int `json:"payers"`
	// Endpoints are the URLs of the routes payable on the devnet, where
	// they can be listed: each route whose path is literal, and the files
	// (up to gatewayMaxDirEndpoints) of each dir route, unless an earlier
	// route takes them.
	Endpoints []devEndpoint `json:"endpoints"`
}

func newGatewayInfo(baseURL string, cfg *gateway.Config, d *devnet.Devnet) *gatewayInfo {
	accts := d.Accounts()
	return &gatewayInfo{
		Info:        d.Info(),
		GatewayURL:  baseURL,
		Facilitator: fmt.Sprintf("embedded in the gateway (DEV ONLY), settling on %s from %s", d.Network(), accts[gatewayDevnetSigner].Address.Hex()),
		Payers:      gatewayPayers(cfg, accts),
		Endpoints:   gatewayEndpoints(baseURL, cfg, x402.Network(d.Network())),
	}
}

// gatewayPayers returns how many accounts, first in accts, the gateway
// never uses: the index of the first one it settles from or a priced
// route is paid to.
func gatewayPayers(cfg *gateway.Config, accts []devnet.Account) int {
	used := map[common.Address]bool{accts[gatewayDevnetSigner].Address: true}
	for i := range cfg.Routes {
		if r := &cfg.Routes[i]; !r.Free() {
			used[common.HexToAddress(cfg.EffectivePayTo(r))] = true
		}
	}
	for i, a := range accts {
		if used[a.Address] {
			return i
		}
	}
	return len(accts)
}

// gatewayEndpoints lists the URLs of the priced routes payable on network:
// a route with a literal path gives one, a dir route the files it serves
// (up to gatewayMaxDirEndpoints, in lexical order; dotfiles and symbolic
// links left out). A URL that an earlier route (or the health check) takes
// is left out, and so are routes with parameters or an upstream route
// ending in a wildcard, whose URLs cannot be listed.
func gatewayEndpoints(baseURL string, cfg *gateway.Config, network x402.Network) []devEndpoint {
	eps := []devEndpoint{}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		method, segs, rest, listable := routeURLParts(r.Path)
		if r.Free() || !slices.Contains(cfg.EffectiveNetworks(r), network) || !listable {
			continue
		}
		if method == "" || r.Dir != "" {
			method = http.MethodGet
		}
		add := func(segs []string) {
			path := "/" + strings.Join(segs, "/")
			if j, ok := cfg.RouteFor(method, path); !ok || j != i {
				return // an earlier route, or the health check, takes it
			}
			u := (&url.URL{Path: path}).EscapedPath()
			eps = append(eps, devEndpoint{URL: baseURL + u, Method: method, Price: r.Price, PayTo: common.HexToAddress(cfg.EffectivePayTo(r)).Hex()})
		}
		switch {
		case !rest:
			add(segs)
		case r.Dir != "":
			n := 0
			_ = filepath.WalkDir(r.Dir, func(p string, de fs.DirEntry, err error) error {
				switch {
				case err != nil:
					return nil // unreadable: not served either
				case p != r.Dir && strings.HasPrefix(de.Name(), "."):
					if de.IsDir() {
						return filepath.SkipDir
					}
					return nil
				case !de.Type().IsRegular():
					return nil
				}
				rel, err := filepath.Rel(r.Dir, p)
				if err != nil {
					return nil
				}
				add(append(slices.Clip(segs), strings.Split(filepath.ToSlash(rel), "/")...))
				if n++; n >= gatewayMaxDirEndpoints {
					return filepath.SkipAll
				}
				return nil
			})
		}
	}
	return eps
}

// routeURLParts splits a route pattern "[METHOD ]PATH" (see
// gateway.Route.Path) into its method (upper case, "" for any) and the
// path segments before a final "*" or "{name...}", as written, to build
// URLs from. listable is false when the path has parameters. Which route a
// URL reaches is the gateway's to say (gateway.Config.RouteFor).
func routeURLParts(pattern string) (method string, segs []string, rest, listable bool) {
	p := strings.TrimSpace(pattern)
	if m, tail, ok := strings.Cut(p, " "); ok {
		method, p = strings.ToUpper(m), strings.TrimSpace(tail)
	}
	for seg := range strings.SplitSeq(strings.Trim(p, "/"), "/") {
		switch {
		case seg == "":
		case seg == "*" || strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}"):
			rest = true
		case strings.HasPrefix(seg, "{") || strings.HasPrefix(seg, ":"):
			return method, nil, false, false
		default:
			segs = append(segs, seg)
		}
	}
	return method, segs, rest, true
}

// printRoutes prints the route table.
func printRoutes(w io.Writer, cfg *gateway.Config) {
	fmt.Fprintf(w, "  Routes\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		target := r.Upstream
		if r.Dir != "" {
			target = "dir " + r.Dir
		}
		price := "free"
		if !r.Free() {
			var nets []string
			for _, n := range cfg.EffectiveNetworks(r) {
				nets = append(nets, string(n))
			}
			policy := r.Policy
			if policy == "" {
				policy = gateway.PolicySettleBeforeServe
			}
			price = fmt.Sprintf("%s on %s to %s, %s", r.Price, strings.Join(nets, ", "), cfg.EffectivePayTo(r), policy)
		}
		fmt.Fprintf(tw, "    %s\t→ %s\t%s\n", r.Path, target, price)
	}
	_ = tw.Flush()
}
