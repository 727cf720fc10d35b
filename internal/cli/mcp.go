package cli

import (
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
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go402/go402/client"
	"github.com/go402/go402/health"
	"github.com/go402/go402/internal/mcpwallet"
	"github.com/go402/go402/internal/redact"
)

const mcpUsage = `mcp [flags]

Runs an MCP server that gives an agent a wallet with limits: its tools
pay for URLs (fetch), price them without paying (quote), call paid tools
of other MCP servers (call_tool) and show the limits and the payments made
(budget). It speaks MCP on standard input and output (the way MCP clients
start local servers), or over streamable HTTP at http://ADDR/mcp with
--listen (loopback only: whoever reaches it spends the wallet).

The payer key is loaded as "go402 pay" loads it ($GO402_PAYER_KEY, or
--keystore with the passphrase in $GO402_KEYSTORE_PASSWORD) and is never
shown in a tool result or a log. Every payment is checked against the
policy before anything is signed: --max (per payment, default $0.10),
--budget (in total; with --budget-file, across runs and processes),
--budget-per-host, --allow-network, --allow-asset, --allow-payto,
--allow-host (the hosts the tools may contact at all), and
--approve-above: a payment priced above it is not made; the tool answers
"needs approval" with a one-time token, and pays only when called again
with the same arguments and confirm set to that token. Prices are written
as for "go402 pay" ($0.05, "0.05 USDC", 0.05).

--config FILE reads the same settings from a JSON file (flags given on the
command line win):

  {"max": "$0.05", "budget": "$1", "budgetFile": "budget.json",
   "budgetPerHost": "$0.50", "approveAbove": "$0.01",
   "allowNetworks": ["eip155:8453"], "allowAssets": ["0x8335..."],
   "allowPayTo": [], "allowHosts": ["api.example.com", "*.tools.example"],
   "maxBody": 262144, "devnetInfo": "", "assets": ""}

See docs/mcp.md for the tools and for the configuration of MCP clients
(Claude Desktop, Cursor, VS Code).`

// mcpOptions are the flags of go402 mcp: go402 pay's policy and key flags
// and the wallet's own.
type mcpOptions struct {
	pay           payOptions
	config        string
	listen        string
	budgetPerHost string
	approveAbove  string
	maxBody       int64
	allowAssets   listFlag
	allowPayTo    listFlag
	allowHosts    listFlag
	networks      listFlag
	assets        listFlag
	rpc           listFlag
	set           map[string]bool
}

func newMCPFlagSet(e env, o *mcpOptions) *flag.FlagSet {
	fs := newFlagSet(e, "mcp", mcpUsage)
	p := &o.pay
	fs.StringVar(&o.config, "config", "", "JSON `file` of settings (see above); flags win")
	fs.StringVar(&o.listen, "listen", "", "serve MCP over streamable HTTP on this loopback `address` (host:port) at /mcp instead of standard input and output")
	fs.StringVar(&p.max, "max", defaultPayMax, "most to pay for one request or tool call, a `price` such as $0.05 or \"0.05 USDC\"")
	fs.StringVar(&p.budget, "budget", "", "most to pay in total, a `price`; with --budget-file, across runs")
	fs.StringVar(&p.budgetFile, "budget-file", "", "`file` recording what was spent, so that --budget holds across runs and processes")
	fs.StringVar(&o.budgetPerHost, "budget-per-host", "", "most to pay to one host (or MCP server) in total, a `price`")
	fs.StringVar(&o.approveAbove, "approve-above", "", "a payment above this `price` needs the user's confirmation (a token the tool issues); default none")
	fs.Var(&o.networks, "allow-network", "only pay on this CAIP-2 `network`, such as eip155:8453 or eip155:* (repeatable; default any known network)")
	fs.Var(&o.allowAssets, "allow-asset", "only pay in this token `address` (repeatable; default any known token)")
	fs.Var(&o.allowPayTo, "allow-payto", "only pay to this recipient `address` (repeatable; default any)")
	fs.Var(&o.allowHosts, "allow-host", "only contact this `host` (host, host:port or *.domain; repeatable; default any)")
	fs.Int64Var(&o.maxBody, "max-body", mcpwallet.DefaultMaxBody, "most `bytes` of a response body a fetch returns (the rest is cut, truncated: true)")
	fs.StringVar(&p.devnetInfo, "devnet-info", "", "JSON `file` written by --info-file of go402 dev, devnet, facilitator --devnet or gateway --devnet: adds that devnet and its test USDC")
	fs.Var(&o.assets, "asset", "declare a `token` payable, as for go402 pay (repeatable)")
	fs.StringVar(&p.assetsFile, "assets", os.Getenv("GO402_ASSETS"), "JSON `file` of declared tokens, as for go402 pay; default $GO402_ASSETS")
	fs.Var(&o.rpc, "rpc", "JSON-RPC endpoint of a network, `NETWORK=URL`, to read whether an unconfirmed payment was used (repeatable)")
	fs.DurationVar(&p.validity, "max-validity", client.DefaultMaxValidity, "sign payments valid for at most this `duration`")
	fs.DurationVar(&p.timeout, "timeout", mcpwallet.DefaultTimeout, "give up a tool call after this `duration` (the payment included)")
	fs.BoolVar(&p.verbose, "v", false, "log the payments on standard error (never keys or signatures)")
	p.keys.register(fs)
	fs.StringVar(&p.channelFile, "channel-file", os.Getenv("GO402_CHANNEL_FILE"), "JSON `file` keeping the batch-settlement payment channels across runs; default $GO402_CHANNEL_FILE")
	return fs
}

// mcpFileConfig is the --config file.
type mcpFileConfig struct {
	Max           *string  `json:"max"`
	Budget        *string  `json:"budget"`
	BudgetFile    *string  `json:"budgetFile"`
	BudgetPerHost *string  `json:"budgetPerHost"`
	ApproveAbove  *string  `json:"approveAbove"`
	AllowNetworks []string `json:"allowNetworks"`
	AllowAssets   []string `json:"allowAssets"`
	AllowPayTo    []string `json:"allowPayTo"`
	AllowHosts    []string `json:"allowHosts"`
	MaxBody       *int64   `json:"maxBody"`
	DevnetInfo    *string  `json:"devnetInfo"`
	Assets        *string  `json:"assets"`
}

func parseMCPFlags(e env, args []string) (*mcpOptions, error) {
	o := &mcpOptions{}
	fs := newMCPFlagSet(e, o)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := o.pay.keys.check(fs); err != nil {
		return nil, err
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if err := o.readConfig(); err != nil {
		return nil, err
	}
	if o.listen != "" {
		if err := checkLoopback(o.listen); err != nil {
			return nil, usagef("--listen: %v", err)
		}
	}
	if o.maxBody <= 0 {
		return nil, usagef("--max-body must be positive")
	}
	if o.pay.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	if err := o.pay.setPolicy(o.networks, o.assets); err != nil {
		return nil, err
	}
	if o.budgetPerHost != "" {
		if err := (client.Policy{BudgetPerHost: o.budgetPerHost}).Validate(); err != nil {
			return nil, usagef("--budget-per-host: %v", err)
		}
	}
	if _, err := mcpwallet.ParseThreshold(o.approveAbove); err != nil {
		return nil, usagef("--approve-above: %v", err)
	}
	if err := o.pay.setRPC(o.rpc); err != nil {
		return nil, err
	}
	if o.pay.budgetFile != "" && o.pay.budget == "" {
		return nil, usagef("--budget-file needs --budget")
	}
	return o, nil
}

// readConfig applies the --config file to the settings no flag gave.
func (o *mcpOptions) readConfig() error {
	if o.config == "" {
		return nil
	}
	raw, err := os.ReadFile(o.config)
	if err != nil {
		return fmt.Errorf("reading --config: %w", err)
	}
	var fc mcpFileConfig
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return usagef("--config %s: %v", o.config, err)
	}
	for _, s := range []struct {
		flag string
		from *string
		to   *string
	}{
		{"max", fc.Max, &o.pay.max}, {"budget", fc.Budget, &o.pay.budget}, {"budget-file", fc.BudgetFile, &o.pay.budgetFile},
		{"budget-per-host", fc.BudgetPerHost, &o.budgetPerHost}, {"approve-above", fc.ApproveAbove, &o.approveAbove},
		{"devnet-info", fc.DevnetInfo, &o.pay.devnetInfo}, {"assets", fc.Assets, &o.pay.assetsFile},
	} {
		if s.from != nil && !o.set[s.flag] {
			*s.to = *s.from
		}
	}
	for _, l := range []struct {
		flag string
		from []string
		to   *listFlag
	}{
		{"allow-network", fc.AllowNetworks, &o.networks}, {"allow-asset", fc.AllowAssets, &o.allowAssets},
		{"allow-payto", fc.AllowPayTo, &o.allowPayTo}, {"allow-host", fc.AllowHosts, &o.allowHosts},
	} {
		if l.from != nil && !o.set[l.flag] {
			*l.to = l.from
		}
	}
	if fc.MaxBody != nil && !o.set["max-body"] {
		o.maxBody = *fc.MaxBody
	}
	return nil
}

func runMCP(ctx context.Context, e env, args []string) error {
	o, err := parseMCPFlags(e, args)
	if err != nil {
		return err
	}
	w, log, err := newMCPWallet(e, o)
	if err != nil {
		return err
	}
	srv := w.Server(&mcp.Implementation{Name: "go402-wallet", Title: "go402 wallet", Version: readBuildInfo().Version})
	if o.listen == "" {
		err := srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(e.stdin), Writer: nopWriteCloser{e.stdout}})
		if err != nil && (ctx.Err() != nil || errors.Is(err, io.EOF)) {
			return nil // the client closed standard input, or an interrupt
		}
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	mux.HandleFunc("GET /health", health.Live) // liveness, as every go402 server
	hs := newServer(mux, serverLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Idle: 2 * time.Minute}, log, ctx)
	fmt.Fprintf(e.stderr, "go402 mcp: serving MCP (streamable HTTP) at http://%s/mcp\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newMCPWallet loads the key and builds the wallet from the options.
func newMCPWallet(e env, o *mcpOptions) (*mcpwallet.Wallet, *slog.Logger, error) {
	p := &o.pay
	assets, err := payAssets(p)
	if err != nil {
		return nil, nil, err
	}
	signer, err := p.keys.load()
	if err != nil {
		return nil, nil, err
	}
	reg, err := channelSchemes(p, signer)
	if err != nil {
		return nil, nil, err
	}
	level := slog.LevelWarn
	if p.verbose {
		level = slog.LevelDebug
	}
	log := redact.Logger(slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})))
	w, err := mcpwallet.New(mcpwallet.Config{
		Signer: signer,
		Client: client.Config{
			Schemes: reg,
			Assets:  assets,
			Policy: client.Policy{
				MaxPerRequest: p.max, Budget: p.budget, BudgetFile: p.budgetFile, BudgetPerHost: o.budgetPerHost,
				AllowNetworks: p.networks, AllowAssets: o.allowAssets, AllowPayTo: o.allowPayTo, MaxValidity: p.validity,
			},
			RPCURLs: p.rpc,
			Logger:  log,
		},
		ApproveAbove: o.approveAbove,
		AllowHosts:   o.allowHosts,
		MaxBody:      o.maxBody,
		Timeout:      p.timeout,
		Logger:       log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the wallet: %w", err)
	}
	return w, log, nil
}

// nopWriteCloser is a writer whose Close does nothing (standard output
// stays open).
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
