package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/internal/redact"
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
	raKeyEnv := fs.String("receiver-authorizer-key-env", "", "batch-settlement: the environment `variable` holding the receiver-authorizer key the facilitator advertises in /supported and signs delegated claims and refunds with (default none)")
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
		{"receiver-authorizer-key-env", "receiverAuthorizer.privateKeyEnv", *raKeyEnv},
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
	case !useDevnet && !devnetFromEnv():
		return nil, usagef("--config FILE is required (or --devnet for a local development chain)")
	}
	cfg, err := config.Parse(name, data, os.Getenv)
	if err != nil {
		return nil, usagef("invalid configuration:\n%v", err)
	}
	return cfg, nil
}

// devnetFromEnv reports whether GO402_DEVNET may turn the devnet on: set
// and not false. A value that is no boolean is left to config.Parse, which
// reports it.
func devnetFromEnv() bool {
	v := os.Getenv("GO402_DEVNET")
	on, err := strconv.ParseBool(v)
	return v != "" && (err != nil || on)
}

// newLogger returns the configured slog logger, writing to w, redacting
// URLs (see internal/redact).
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return redact.Logger(slog.New(slog.NewJSONHandler(w, opts)))
	}
	return redact.Logger(slog.New(slog.NewTextHandler(w, opts)))
}

// facilitatorInfo is the --info-file JSON.
type facilitatorInfo struct {
	URL      string       `json:"url"`
	Signer   string       `json:"signer"`
	Network  string       `json:"network"`
	Networks []string     `json:"networks"`
	Database string       `json:"database"`
	Devnet   *devnet.Info `json:"devnet"`
	// MetricsURL is where Prometheus scrapes the facilitator.
	MetricsURL string `json:"metricsUrl"`
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
	svc, err := service.New(ctx, cfg, service.Deps{Logger: log})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// A settle answers when the settlement is done (or pending).
	srv := newServer(svc.Handler(), apiLimits(cfg.SettleTimeout+30*time.Second), log, nil)
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	baseURL := listenURL(ln.Addr())
	if len(cfg.Auth.APIKeyHashes) == 0 && !isLoopbackListen(ln.Addr()) {
		log.Warn("no API keys configured: anyone who can reach this address can make the facilitator spend gas", "listen", ln.Addr().String())
	}
	info := newFacilitatorInfo(baseURL, svc)
	metricsURL, stopMetrics, err := serveMetrics(ctx, cfg.MetricsListen, baseURL, svc.MetricsHandler(), log)
	if err != nil {
		_ = srv.Close()
		return err
	}
	defer stopMetrics()
	info.MetricsURL = metricsURL
	printFacilitator(e.stdout, info, svc, cfg, infoFile)
	log.Info("facilitator listening", "url", baseURL, "networks", strings.Join(info.Networks, ","), "signer", info.Signer, "database", info.Database)
	if infoFile != "" {
		if err := writeJSONFile(infoFile, info); err != nil {
			_ = srv.Close()
			return err
		}
		defer func() {
			if rerr := os.Remove(infoFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("removing the info file: %w", rerr))
			}
		}()
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-serveDone:
		log.Error("HTTP server stopped", "err", serveErr)
	}
	return errors.Join(serveErr, shutdownFacilitator(srv, svc, svc.ShutdownWait(), log))
}

// newFacilitatorInfo is the --info-file JSON of a running service.
func newFacilitatorInfo(baseURL string, svc *service.Service) facilitatorInfo {
	info := facilitatorInfo{URL: baseURL, Signer: svc.Signers()[0].Hex(), Database: svc.Database()}
	for _, n := range svc.Networks() {
		info.Networks = append(info.Networks, string(n.Network))
	}
	info.Network = info.Networks[0]
	if d := svc.Devnet(); d != nil {
		di := d.Info()
		info.Devnet = &di
	}
	return info
}

// shutdownFacilitator stops accepting requests, lets the ones in flight
// finish, then waits for settlements still running (whose callers left),
// all within timeout (by default the settle timeout and a little more, so
// that a settlement started just before the signal completes).
func shutdownFacilitator(srv *http.Server, svc *service.Service, timeout time.Duration, log *slog.Logger) error {
	log.Info("shutting down: waiting for requests and settlements in flight", "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		errs = append(errs, fmt.Errorf("HTTP requests still in flight at shutdown: %w", err))
	}
	if err := svc.Shutdown(ctx); err != nil {
		// The ledger holds their transaction hashes: the next start-up
		// (or another instance) reconciles them.
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		log.Info("facilitator stopped")
	}
	return errors.Join(errs...)
}

// printFacilitator prints what is being served. It never prints a key.
func printFacilitator(w io.Writer, info facilitatorInfo, svc *service.Service, cfg *config.Config, infoFile string) {
	d, dbTemp := svc.Devnet(), svc.TemporaryDatabase()
	fmt.Fprintf(w, "go402 facilitator is running\n\n")
	fmt.Fprintf(w, "  URL        %s\n", info.URL)
	fmt.Fprintf(w, "  Metrics    %s\n", info.MetricsURL)
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
	for _, n := range svc.Networks() {
		var assets []string
		for _, a := range n.Assets {
			assets = append(assets, fmt.Sprintf("%s %s", a.Symbol, a.Address.Hex()))
		}
		fmt.Fprintf(w, "    %-14s %s\n", n.Network, strings.Join(assets, ", "))
		if n.Batch.Multicall != (common.Address{}) {
			fmt.Fprintf(w, "    %-14s batched settlement through Multicall3 %s, up to %d per transaction\n", "", n.Batch.Multicall.Hex(), n.Batch.MaxSize)
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
