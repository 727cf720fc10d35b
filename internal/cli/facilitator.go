package cli

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/postgres"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

const facilitatorUsage = `facilitator [--config FILE] [--listen ADDR] [--db PATH|URL] [--info-file PATH]
       go402 facilitator --devnet [--chain-id ID] [--listen ADDR] [--db PATH|URL] [--info-file PATH]
       go402 facilitator hash-key < token
       go402 facilitator --print-sample-config

Runs an x402 facilitator: POST /verify, POST /settle, GET /supported and
GET /health, for the "exact" scheme (EIP-3009) on every configured EVM
network, x402 v1 and v2. Settlements are recorded in a ledger (SQLite by
default, or PostgreSQL) so that each payment settles at most once, across
retries, restarts and crashes; unfinished ones are reconciled with the
chain at start-up and then in the background (reconcileInterval), whoever
claimed them. The configuration file is YAML: see
facilitator/config/sample.yaml for every key and the GO402_* environment
variables that override them (flags override both). The settlement key is
read from $GO402_FACILITATOR_KEY by default, never from the command line.

--devnet (DEV ONLY) needs no configuration file: it runs an embedded
devnet (JSON-RPC on a free loopback port, so other processes can pay
through it) and serves it as the only network, settling from the devnet's
LAST funded account; accounts 0 to 8 are left for payers (their public
keys are in the --info-file JSON). The ledger is then a SQLite file in a
temporary directory, removed on exit, unless --db or the configuration
names one. Settlements on the devnet are batched through its Multicall3
when several queue up (devnet.batch, or GO402_DEVNET_BATCH=false to turn
it off); a configured network batches only with networks[].batch.enabled.

hash-key reads an API token from standard input and prints the hex
SHA-256 to put in auth.apiKeyHashes.

--print-sample-config prints facilitator/config/sample.yaml, built into
the binary, to start a configuration from:
go402 facilitator --print-sample-config > facilitator.yaml

Interrupt (SIGINT or SIGTERM) stops accepting requests and waits for
settlements in flight to finish and be recorded: up to shutdownTimeout,
by default settleTimeout + 30s.`

// networkSetupTimeout bounds the start-up chain calls for one network.
const networkSetupTimeout = 30 * time.Second

func runFacilitator(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "hash-key" {
		return runHashKey(e, args[1:])
	}
	fs := newFlagSet(e, "facilitator", facilitatorUsage)
	configPath := fs.String("config", "", "YAML configuration `file` (see facilitator/config/sample.yaml); not needed with --devnet")
	listen := fs.String("listen", "", "HTTP listen `address` host:port, overriding the configuration (default 127.0.0.1:4022; port 0 picks a free port)")
	useDevnet := fs.Bool("devnet", false, "DEV ONLY: run an embedded devnet and serve it as the only network")
	chainID := fs.Uint64("chain-id", 0, "with --devnet: the devnet's chain `id` (default 31337; 84532 lets x402 v1 clients say base-sepolia)")
	db := fs.String("db", "", "ledger database: a SQLite file `path`, or a postgres:// URL (prefer GO402_DATABASE_POSTGRES for URLs with passwords)")
	infoFile := fs.String("info-file", "", "once listening, write {url, signer, network, networks, database, devnet} as JSON to `path` (mode 0600); removed on exit")
	printSample := fs.Bool("print-sample-config", false, "print the sample configuration file, with every key documented, on standard output and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *printSample {
		_, err := e.stdout.Write(config.SampleYAML())
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg, err := facilitatorConfig(*configPath, *useDevnet)
	if err != nil {
		return err
	}
	overrides := []struct {
		flag, key, value string
	}{
		{"listen", "listen", *listen},
		{"devnet", "devnet.enabled", strconv.FormatBool(*useDevnet)},
		{"chain-id", "devnet.chainId", strconv.FormatUint(*chainID, 10)},
		{"db", dbKey(*db), *db},
	}
	for _, o := range overrides {
		if !set[o.flag] {
			continue
		}
		if err := cfg.Set(o.key, o.value, "--"+o.flag); err != nil {
			return usagef("%v", err)
		}
	}
	if set["chain-id"] && !cfg.Devnet.Enabled {
		return usagef("--chain-id only applies with --devnet")
	}
	if err := cfg.Validate(); err != nil {
		return usagef("invalid configuration:\n%v", err)
	}
	return serveFacilitator(ctx, e, cfg, *infoFile)
}

// dbKey picks the configuration key a --db value sets.
func dbKey(v string) string {
	if strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		return "database.postgres"
	}
	return "database.sqlite"
}

// facilitatorConfig parses the configuration file, or the defaults and the
// environment when there is none (--devnet).
func facilitatorConfig(path string, useDevnet bool) (*config.Config, error) {
	name, data := "go402 facilitator", []byte(nil)
	switch {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the configuration: %w", err)
		}
		name, data = path, b
	case !useDevnet && os.Getenv("GO402_DEVNET") == "":
		return nil, usagef("--config FILE is required (or --devnet for a local development chain)")
	}
	cfg, err := config.Parse(name, data, os.Getenv)
	if err != nil {
		return nil, usagef("invalid configuration:\n%v", err)
	}
	return cfg, nil
}

// newLogger returns the configured slog logger, writing to w.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// served is one network the facilitator serves.
type served struct {
	network x402.Network
	assets  []evm.Asset
	batch   evm.BatchConfig // zero when settlements are not batched
	scheme  *evm.ExactFacilitator
}

// facilitatorInfo is the --info-file JSON.
type facilitatorInfo struct {
	URL      string       `json:"url"`
	Signer   string       `json:"signer"`
	Network  string       `json:"network"`
	Networks []string     `json:"networks"`
	Database string       `json:"database"`
	Devnet   *devnet.Info `json:"devnet"`
}

// closers runs clean-up functions in reverse order of registration.
type closers []func() error

func (c *closers) add(f func() error) { *c = append(*c, f) }

func (c closers) close() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		if err := c[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func serveFacilitator(ctx context.Context, e env, cfg *config.Config, infoFile string) (err error) {
	log := newLogger(e.stderr, cfg)
	var cleanup closers
	defer func() { err = errors.Join(err, cleanup.close()) }()

	// The ledger.
	store, dbDesc, dbTemp, err := openLedger(ctx, cfg, log, &cleanup)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	cleanup.add(func() error {
		if err := store.Close(); err != nil {
			return fmt.Errorf("closing the ledger: %w", err)
		}
		return nil
	})

	// The chains and the signer.
	var (
		nets   []served
		signer common.Address
		dev    *devnet.Devnet
	)
	if cfg.Devnet.Enabled {
		dev, nets, signer, err = startDevnetNetwork(ctx, cfg, log, &cleanup)
	} else {
		nets, signer, err = dialNetworks(ctx, cfg, log, &cleanup)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}

	if cfg.Database.Postgres != "" && cfg.Instance == "" {
		log.Warn("no instance name configured: using the host name; with several instances on one PostgreSQL ledger, give each a unique name that survives restarts (instance, or GO402_INSTANCE)")
	}
	fac, err := facilitator.New(facilitator.Config{Store: store, Logger: log, Instance: cfg.Instance, SettleTimeout: cfg.SettleTimeout})
	if err != nil {
		return err
	}
	for _, n := range nets {
		for _, v := range []int{x402.V1, x402.V2} {
			if err := fac.Register(v, n.network, n.scheme); err != nil {
				return fmt.Errorf("registering %s for x402 v%d: %w", n.network, v, err)
			}
		}
	}

	// Repair what a crash interrupted before taking new requests.
	resolved, err := fac.Reconcile(ctx)
	switch {
	case ctx.Err() != nil:
		return nil // interrupted while starting
	case err != nil:
		return fmt.Errorf("reconciling the ledger: %w", err)
	}
	log.Info("reconciled unfinished settlements", "resolved", resolved, "instance", fac.Instance())

	// Then keep repairing what other instances (or this one) leave
	// unfinished. It stops before the ledger and the chains are closed.
	rctx, stopReconciler := context.WithCancel(ctx)
	reconcilerDone := make(chan struct{})
	go func() {
		defer close(reconcilerDone)
		fac.RunReconciler(rctx, cfg.ReconcileInterval)
	}()
	cleanup.add(func() error {
		stopReconciler()
		<-reconcilerDone
		return nil
	})

	handler, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{APIKeyHashes: cfg.Auth.APIKeyHashes, Logger: log})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A settle answers when the settlement is done (or pending).
		WriteTimeout: cfg.SettleTimeout + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	baseURL := listenURL(ln.Addr())
	if len(cfg.Auth.APIKeyHashes) == 0 && !isLoopbackListen(ln.Addr()) {
		log.Warn("no API keys configured: anyone who can reach this address can make the facilitator spend gas", "listen", ln.Addr().String())
	}
	info := facilitatorInfo{URL: baseURL, Signer: signer.Hex(), Database: dbDesc}
	for _, n := range nets {
		info.Networks = append(info.Networks, string(n.network))
	}
	info.Network = info.Networks[0]
	if dev != nil {
		di := dev.Info()
		info.Devnet = &di
	}
	printFacilitator(e.stdout, info, nets, dev, cfg, dbTemp, infoFile)
	log.Info("facilitator listening", "url", baseURL, "networks", strings.Join(info.Networks, ","), "signer", info.Signer, "database", dbDesc)
	if infoFile != "" {
		if err := writeJSONFile(infoFile, info); err != nil {
			_ = srv.Close()
			return err
		}
		cleanup.add(func() error {
			if err := os.Remove(infoFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing the info file: %w", err)
			}
			return nil
		})
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-serveDone:
		log.Error("HTTP server stopped", "err", serveErr)
	}
	return errors.Join(serveErr, shutdownFacilitator(srv, fac, cfg.ShutdownWait(), log))
}

// shutdownFacilitator stops accepting requests, lets the ones in flight
// finish, then waits for settlements still running (whose callers left),
// all within timeout (by default the settle timeout and a little more, so
// that a settlement started just before the signal completes).
func shutdownFacilitator(srv *http.Server, fac *facilitator.Facilitator, timeout time.Duration, log *slog.Logger) error {
	log.Info("shutting down: waiting for requests and settlements in flight", "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		errs = append(errs, fmt.Errorf("HTTP requests still in flight at shutdown: %w", err))
	}
	if err := fac.Shutdown(ctx); err != nil {
		// The ledger holds their transaction hashes: the next start-up
		// (or another instance) reconciles them.
		errs = append(errs, fmt.Errorf("%w (they will be reconciled at the next start)", err))
	}
	if len(errs) == 0 {
		log.Info("facilitator stopped")
	}
	return errors.Join(errs...)
}

// openLedger opens the configured store and describes it ("sqlite PATH"
// or "postgres URL" without the password). With the devnet and no
// database configured, it uses a SQLite file in a temporary directory
// (temp is then true).
func openLedger(ctx context.Context, cfg *config.Config, log *slog.Logger, cleanup *closers) (store ledger.Store, desc string, temp bool, err error) {
	if cfg.Database.Postgres != "" {
		st, err := postgres.Open(ctx, postgres.Config{URL: cfg.Database.Postgres, Logger: log})
		if err != nil {
			return nil, "", false, fmt.Errorf("opening the ledger: %w", err)
		}
		return st, "postgres " + redactDSN(cfg.Database.Postgres), false, nil
	}
	path := cfg.Database.SQLite
	if cfg.Devnet.Enabled && !cfg.IsSet("database") {
		dir, err := os.MkdirTemp("", "go402-facilitator-")
		if err != nil {
			return nil, "", false, fmt.Errorf("creating a temporary ledger: %w", err)
		}
		cleanup.add(func() error { return os.RemoveAll(dir) })
		path, temp = filepath.Join(dir, "ledger.db"), true
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: log})
	if err != nil {
		return nil, "", false, fmt.Errorf("opening the ledger: %w", err)
	}
	return st, "sqlite " + path, temp, nil
}

// startDevnetNetwork starts the embedded devnet and builds its scheme, with
// the devnet's last funded account as the signer.
func startDevnetNetwork(ctx context.Context, cfg *config.Config, log *slog.Logger, cleanup *closers) (*devnet.Devnet, []served, common.Address, error) {
	d, err := devnet.Start(ctx, devnet.Config{
		ChainID: cfg.Devnet.ChainID,
		RPCAddr: "127.0.0.1:0",
		Logger:  log.With("component", "devnet"),
	})
	if err != nil {
		return nil, nil, common.Address{}, fmt.Errorf("starting the devnet: %w", err)
	}
	cleanup.add(func() error {
		// Runs after shutdownFacilitator: settlements have finished (or
		// timed out) before the chain goes away.
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
	accounts := d.Accounts()
	key := accounts[len(accounts)-1].PrivateKey
	nc := d.NetworkConfig()
	batch := cfg.Devnet.Batch.EVM()
	s, err := newExactSchemeWith(ctx, nc.Network, d.Client(), key, nc.Assets, schemeOptions{poll: 100 * time.Millisecond, batch: batch}, log)
	if err != nil {
		return nil, nil, common.Address{}, err
	}
	return d, []served{{network: nc.Network, assets: nc.Assets, batch: batch, scheme: s}}, crypto.PubkeyToAddress(key.PublicKey), nil
}

// dialNetworks loads the signer key and connects to every configured
// network, checking each endpoint's chain id.
func dialNetworks(ctx context.Context, cfg *config.Config, log *slog.Logger, cleanup *closers) ([]served, common.Address, error) {
	key, err := cfg.Signer.Load(os.Getenv)
	if err != nil {
		return nil, common.Address{}, err
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	log.Info("settlement key loaded", "address", addr.Hex(), "source", cfg.Signer.Source())
	var nets []served
	for i, n := range cfg.Networks {
		s, err := dialNetwork(ctx, n, key, log, cleanup)
		if err != nil {
			return nil, common.Address{}, fmt.Errorf("networks[%d] (%s): %w", i, n.Network, err)
		}
		nets = append(nets, served{network: n.Network, assets: n.Assets, batch: n.Batch.EVM(), scheme: s})
	}
	return nets, addr, nil
}

func dialNetwork(ctx context.Context, n config.Network, key *ecdsa.PrivateKey, log *slog.Logger, cleanup *closers) (*evm.ExactFacilitator, error) {
	ctx, cancel := context.WithTimeout(ctx, networkSetupTimeout)
	defer cancel()
	rpcURL := n.RPCURLs[0]
	client, err := ethclient.DialContext(ctx, rpcURL)
	if err != nil {
		// The dial error may quote the URL, and with it an API key.
		return nil, fmt.Errorf("cannot connect to %s", redactURL(rpcURL))
	}
	cleanup.add(func() error { client.Close(); return nil })
	// Every error of the backend, at start-up and while serving (in logs
	// and ledger events), shows the endpoint without its path and query.
	backend := scrubbedBackend{c: client, url: rpcURL}
	got, err := backend.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the chain id from %s: %w", redactURL(rpcURL), err)
	}
	if !got.IsUint64() || got.Uint64() != n.ChainID {
		return nil, fmt.Errorf("RPC endpoint %s is on chain %s, not %d", redactURL(rpcURL), got, n.ChainID)
	}
	// The chain reads of concurrent payments go out as JSON-RPC batch
	// requests, through the same scrubbing.
	reads := scrubbedBatchCaller{c: client.Client(), url: rpcURL}
	opts := schemeOptions{batch: n.Batch.EVM(), rpc: reads, readBatchSize: n.ReadBatchSize}
	s, err := newExactSchemeWith(ctx, n.Network, backend, key, n.Assets, opts, log)
	if err != nil {
		return nil, scrubURL(err, rpcURL)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	if bal, err := client.BalanceAt(ctx, addr, nil); err == nil && bal.Sign() == 0 {
		log.Warn("the signer has no native balance to pay gas on this network", "network", n.Network, "signer", addr.Hex())
	}
	log.Info("network ready", "network", n.Network, "rpc", redactURL(rpcURL), "assets", len(n.Assets),
		"batch", n.Batch.Enabled, "readBatchSize", n.ReadBatchSize)
	return s, nil
}

// newExactScheme builds the Sender and the exact scheme for one chain.
func newExactScheme(ctx context.Context, network x402.Network, backend evm.ChainBackend, key *ecdsa.PrivateKey, assets []evm.Asset, poll time.Duration, log *slog.Logger) (*evm.ExactFacilitator, error) {
	return newExactSchemeWith(ctx, network, backend, key, assets, schemeOptions{poll: poll}, log)
}

// schemeOptions are the less common settings of an exact scheme.
type schemeOptions struct {
	poll          time.Duration   // receipt polling; 0 means the Sender's default
	batch         evm.BatchConfig // batched settlement; zero means off
	rpc           evm.BatchCaller // batched chain reads; nil means the backend's own client, if any
	readBatchSize int             // eth_calls per batch request; 0 means evm.DefaultReadBatchSize
}

func newExactSchemeWith(ctx context.Context, network x402.Network, backend evm.ChainBackend, key *ecdsa.PrivateKey, assets []evm.Asset, opts schemeOptions, log *slog.Logger) (*evm.ExactFacilitator, error) {
	poll := opts.poll
	id, err := network.ChainID()
	if err != nil {
		return nil, err
	}
	sender, err := evm.NewSender(ctx, evm.SenderConfig{
		Backend: backend, Key: key, ChainID: new(big.Int).SetUint64(id), PollInterval: poll,
		Logger: log.With("component", "sender", "network", string(network)),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the transaction sender for %s: %w", network, err)
	}
	s, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{
		Network: network, Backend: backend, Sender: sender, Assets: assets, Logger: log, Batch: opts.batch,
		RPC: opts.rpc, ReadBatchSize: opts.readBatchSize,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the exact scheme for %s: %w", network, err)
	}
	return s, nil
}

// printFacilitator prints what is being served. It never prints a key.
func printFacilitator(w io.Writer, info facilitatorInfo, nets []served, d *devnet.Devnet, cfg *config.Config, dbTemp bool, infoFile string) {
	fmt.Fprintf(w, "go402 facilitator is running\n\n")
	fmt.Fprintf(w, "  URL        %s\n", info.URL)
	fmt.Fprintf(w, "  Signer     %s", info.Signer)
	if d != nil {
		fmt.Fprintf(w, "  (devnet account %d, the last one)", len(d.Accounts())-1)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  Database   %s", info.Database)
	if dbTemp {
		fmt.Fprint(w, "  (temporary, removed on exit)")
	}
	fmt.Fprintln(w)
	auth := "none (open)"
	if n := len(cfg.Auth.APIKeyHashes); n > 0 {
		auth = fmt.Sprintf("%d API key(s)", n)
	}
	fmt.Fprintf(w, "  Auth       %s\n", auth)
	fmt.Fprintf(w, "  Networks   (exact scheme, x402 v1 and v2)\n")
	for _, n := range nets {
		var assets []string
		for _, a := range n.assets {
			assets = append(assets, fmt.Sprintf("%s %s", a.Symbol, a.Address.Hex()))
		}
		fmt.Fprintf(w, "    %-14s %s\n", n.network, strings.Join(assets, ", "))
		if n.batch.Multicall != (common.Address{}) {
			fmt.Fprintf(w, "    %-14s batched settlement through Multicall3 %s, up to %d per transaction\n", "", n.batch.Multicall.Hex(), n.batch.MaxSize)
		}
	}
	if d != nil {
		tok := d.Token()
		fmt.Fprintf(w, "\nDevnet (DEV ONLY, public keys):\n")
		fmt.Fprintf(w, "  RPC URL    %s\n", d.RPCURL())
		fmt.Fprintf(w, "  Token      %s  (name %q, version %q)\n", tok.Address.Hex(), tok.Name, tok.Version)
		fmt.Fprintf(w, "  Payers     accounts 0-%d (keys in the --info-file JSON, or see `go doc github.com/go402/go402/devnet`)\n", len(d.Accounts())-2)
	}
	fmt.Fprintln(w)
	if infoFile != "" {
		fmt.Fprintf(w, "Info JSON: %s\n", infoFile)
	}
	fmt.Fprintf(w, "Endpoints: POST /verify, POST /settle, GET /supported, GET /health. Press Ctrl-C to stop.\n")
}

// listenURL is the base URL clients on this host use for addr.
func listenURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
		if tcp.IP.To4() == nil && !tcp.IP.Equal(net.IPv4zero) {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

func isLoopbackListen(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// redactURL keeps only the scheme and host of a URL: RPC providers put API
// keys in the path or query. It is the facilitator's [facilitator.RedactURL],
// so that the CLI and the facilitator's logs and ledger show URLs alike.
func redactURL(raw string) string { return facilitator.RedactURL(raw) }

// scrubURL replaces the full URL in an error's text by its redacted form,
// keeping the error chain for errors.Is and errors.As. Besides the URL as
// written, it replaces the forms net/http quotes it in (re-encoded, with
// the password hidden).
func scrubURL(err error, raw string) error {
	if err == nil {
		return err
	}
	msg := err.Error()
	forms := []string{raw}
	if u, perr := url.Parse(raw); perr == nil {
		forms = append(forms, u.String(), u.Redacted())
	}
	scrubbed := msg
	for _, f := range forms {
		if f != "" {
			scrubbed = strings.ReplaceAll(scrubbed, f, redactURL(raw))
		}
	}
	if scrubbed == msg {
		return err
	}
	return &scrubbedError{msg: scrubbed, err: err}
}

// scrubbedError is an error with a rewritten message.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubbedBackend is the chain backend of one RPC endpoint whose errors
// never quote the endpoint's URL: go-ethereum's transport errors do
// (Post "https://host/v2/KEY": ...), and providers put API keys in it.
// The errors keep their chain, for errors.Is and errors.As.
type scrubbedBackend struct {
	c   *ethclient.Client
	url string
}

var _ evm.ChainBackend = scrubbedBackend{}

func (b scrubbedBackend) ChainID(ctx context.Context) (*big.Int, error) {
	v, err := b.c.ChainID(ctx)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	v, err := b.c.SuggestGasTipCap(ctx)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	v, err := b.c.EstimateGas(ctx, msg)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	return scrubURL(b.c.SendTransaction(ctx, tx), b.url)
}

func (b scrubbedBackend) PendingNonceAt(ctx context.Context, account common.Address) (uint64, error) {
	v, err := b.c.PendingNonceAt(ctx, account)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error) {
	v, err := b.c.HeaderByNumber(ctx, number)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	v, err := b.c.TransactionReceipt(ctx, hash)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	v, err := b.c.CallContract(ctx, msg, block)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error) {
	v, err := b.c.FilterLogs(ctx, q)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) SubscribeFilterLogs(ctx context.Context, q ethereum.FilterQuery, ch chan<- types.Log) (ethereum.Subscription, error) {
	v, err := b.c.SubscribeFilterLogs(ctx, q, ch)
	return v, scrubURL(err, b.url)
}

func (b scrubbedBackend) TransactionByHash(ctx context.Context, hash common.Hash) (*types.Transaction, bool, error) {
	tx, pending, err := b.c.TransactionByHash(ctx, hash)
	return tx, pending, scrubURL(err, b.url)
}

// scrubbedBatchCaller sends the JSON-RPC batch requests of one endpoint
// (the coalesced chain reads of verify and settle) with errors, of the
// request and of each call, that never quote the endpoint's URL.
type scrubbedBatchCaller struct {
	c   *rpc.Client
	url string
}

var _ evm.BatchCaller = scrubbedBatchCaller{}

func (b scrubbedBatchCaller) BatchCallContext(ctx context.Context, elems []rpc.BatchElem) error {
	err := b.c.BatchCallContext(ctx, elems)
	for i := range elems {
		elems[i].Error = scrubURL(elems[i].Error, b.url)
	}
	return scrubURL(err, b.url)
}

// redactDSN hides the password of a PostgreSQL URL.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "(connection string)"
	}
	u.RawQuery = ""
	return u.Redacted()
}

// writeJSONFile writes v as indented JSON to path atomically (a temporary
// file in the same directory, then rename) with mode 0600.
func writeJSONFile(path string, v any) (err error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode info: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".go402-info-*.tmp")
	if err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	return nil
}

// maxTokenBytes bounds the token hash-key reads.
const maxTokenBytes = 4096

// runHashKey prints the hex SHA-256 of a token read from standard input
// (its first line, surrounding white space removed).
func runHashKey(e env, args []string) error {
	fs := newFlagSet(e, "facilitator hash-key", `facilitator hash-key < token

Reads an API token from standard input (the first line; surrounding white
space is ignored) and prints its hex SHA-256, the form auth.apiKeyHashes
holds. The token itself is never stored. For example:

  printf %s "$TOKEN" | go402 facilitator hash-key`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("hash-key reads the token from standard input, not from arguments (they show up in process listings and shell history)")
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, maxTokenBytes+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the token: %w", err)
	}
	if len(line) > maxTokenBytes {
		return usagef("the token is longer than %d bytes", maxTokenBytes)
	}
	token := strings.TrimSpace(line)
	if token == "" {
		return usagef("no token on standard input")
	}
	fmt.Fprintln(e.stdout, facilitator.HashAPIKey(token))
	return nil
}
