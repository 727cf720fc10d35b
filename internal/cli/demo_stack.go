package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/health"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// stackAccounts is the number of devnet accounts of the demo stack, and
// stackPayers the number of them, first in the list, that only pay.
const (
	stackAccounts = 6
	stackPayers   = stackAccounts - 2
)

// stackTimestampLead is how far the stack's block timestamps may run ahead
// of the wall clock. Every settlement mines a block, one second later than
// the previous one, so with the devnet's default lead (10 s) the eleventh
// settlement in a burst would wait for the clock: one per second. The lead
// must stay well below the routes' maxTimeoutSeconds (300, x402http's
// default): a client signs validBefore = now + 300 s, the facilitator
// verifies it against the wall clock (and refuses one beyond now + 300 s +
// 60 s), and the chain's timestamp must still be below validBefore when
// the transfer is mined. (A route with a maxTimeoutSeconds below the lead,
// on the devnet of `go402 dev`, could see a settlement fail after a burst.)
const stackTimestampLead = 120 * time.Second

// stack is the demo's running pieces: a devnet, a facilitator and a paid
// API, all on loopback.
type stack struct {
	devnet                *devnet.Devnet
	network               x402.Network
	nets                  *evm.Networks
	payer, seller, facKey devnet.Account
	facURL, apiURL        string
	// channels is the batch-settlement server of GET /metered.
	channels *channelserver.Server
	// mcpTools are the paid tools of the MCP endpoint at stackMCPPath.
	mcpTools []devMCPTool
	// facReady are the facilitator's readiness checks (ledger, chain, gas).
	facReady func() []health.Check
}

// startStack starts the devnet, the facilitator (over HTTP) and the sample
// paid API (weather at $0.001, a report at $0.05).
//
// Accounts 0-3 (stackPayers) are funded payers the services never use; 4
// receives the API's payments and 5 settles.
func startStack(ctx context.Context, steps *demoSteps, quiet *slog.Logger, cleanup *closers, opts stackOptions) (*stack, error) {
	st, nc, err := startStackChain(ctx, steps, quiet, cleanup, opts)
	if err != nil {
		return nil, err
	}
	if err := startStackAPI(ctx, st, nc, steps, quiet, cleanup, opts); err != nil {
		return nil, err
	}
	return st, nil
}

// startStackChain starts steps 1 and 2: the devnet and the facilitator
// over HTTP on loopback. It returns the stack so far and the devnet's
// network configuration with both test tokens.
func startStackChain(ctx context.Context, steps *demoSteps, quiet *slog.Logger, cleanup *closers, opts stackOptions) (*stack, evm.NetworkConfig, error) {
	// 1. The chain.
	dcfg := devnet.Config{Accounts: stackAccounts, TimestampLead: stackTimestampLead}
	if opts.rpc {
		dcfg.RPCAddr = "127.0.0.1:0"
	}
	d, err := devnet.Start(ctx, dcfg)
	if err != nil {
		return nil, evm.NetworkConfig{}, fmt.Errorf("starting the devnet: %w", err)
	}
	cleanup.add(d.Close)
	accts := d.Accounts()
	st := &stack{devnet: d, network: x402.Network(d.Network()), payer: accts[0], seller: accts[stackPayers], facKey: accts[stackPayers+1]}
	steps.printf("1. devnet     chain %s, test USDC %s (EIP-3009)\n", st.network, d.Token().Address.Hex())

	// 2. The facilitator, over HTTP on loopback.
	// The test USDC (EIP-3009) and the Permit2 test token (EIP-2612, no
	// EIP-3009), paid through Permit2.
	nc := d.NetworkConfig()
	nc.Assets = append(nc.Assets, d.PermitTokenAsset())
	svc, err := service.New(ctx, &config.Config{Instance: "demo"}, service.Deps{Logger: quiet, Networks: []service.Network{{
		Network: st.network, Backend: d.Client(), Key: st.facKey.PrivateKey, Assets: nc.Assets, PollInterval: 20 * time.Millisecond,
	}}})
	if err != nil {
		return nil, nc, err
	}
	cleanup.add(svc.Close)
	st.facReady = svc.ReadyChecks
	if st.facURL, err = serveLoopback(ctx, svc.Handler(), cleanup); err != nil {
		return nil, nc, err
	}
	steps.printf("2. facilitator %s (settles from %s)\n", st.facURL, short(st.facKey.Address.Hex()))
	return st, nc, nil
}

// startStackAPI starts step 3, the paid API, and fills in the rest of st.
func startStackAPI(ctx context.Context, st *stack, nc evm.NetworkConfig, steps *demoSteps, quiet *slog.Logger, cleanup *closers, opts stackOptions) error {
	facClient, err := remote.New(remote.Config{URL: st.facURL, Logger: quiet, ReservesFunds: true})
	if err != nil {
		return err
	}
	st.nets = &evm.Networks{}
	if err := st.nets.Add(nc); err != nil {
		return err
	}
	declared, err := declaredExtensions(ctx, facClient)
	if err != nil {
		return err
	}
	queue, err := openStackQueue(ctx, cleanup)
	if err != nil {
		return err
	}
	if st.channels, err = newStackChannels(ctx, st.nets, facClient, st.seller, quiet, cleanup); err != nil {
		return err
	}
	schemes := evm.ServerSchemes(st.nets)
	if err := schemes.Register(x402.V2, batchsettlement.Scheme, st.network, st.channels); err != nil {
		return err
	}
	if err := registerStackUpto(ctx, schemes, facClient, st.nets, st.network); err != nil {
		return err
	}
	if err := approveStackPayers(ctx, st.devnet, st.devnet.Accounts()[:stackPayers]); err != nil {
		return err
	}
	seller := st.seller.Address.Hex()
	reg, rec, err := apiMetrics(queue)
	if err != nil {
		return err
	}
	mw, err := x402http.New(x402http.Config{
		Metrics:     rec,
		Facilitator: observingFacilitator{facClient, steps},
		Schemes:     schemes,
		Logger:      quiet,
		Queue:       queue,
		Routes:      discoverable(stackRoutes(st.network, seller, declared)), // see demo_discovery.go
	})
	if err != nil {
		return err
	}
	runStackSettlements(ctx, mw, cleanup)
	mux, mcpTools, err := stackMux(facClient, schemes, st.network, seller, quiet)
	if err != nil {
		return err
	}
	st.mcpTools = mcpTools
	apiAddr := opts.apiAddr
	if apiAddr == "" {
		apiAddr = "127.0.0.1:0"
	}
	// GET /health and GET /ready: the queue, then the facilitator's ledger,
	// chain and gas.
	ready := func() []health.Check {
		return append([]health.Check{health.PingCheck("queue", queue)}, st.facReady()...)
	}
	if st.apiURL, err = serveOn(ctx, apiAddr, withMetricsPath(withProbes(mw.Handler(mux), ready), reg), cleanup); err != nil {
		return err
	}
	steps.printf("3. paid API   %s  GET /weather $0.001, GET /report $0.05, GET /ticker $0.001 serve-then-settle, GET %s $0.001 batch-settlement, GET %s %s via Permit2, GET %s up to %s upto (payTo %s)\n", st.apiURL, stackChannelPath, stackPermit2Path, stackPermit2Price, stackUptoPath, stackUptoMax, short(seller))
	return nil
}

// The exact route priced in the Permit2 test token.
const (
	stackPermit2Path  = "/forecast"
	stackPermit2Price = "0.002 " + devnet.PermitTokenSymbol
)

// declaredExtensions are the extensions the sample API's 402s declare:
// eip2612GasSponsoring when the facilitator lists it in /supported, so
// that a payer that never approved Permit2 can pay the Permit2 route.
func declaredExtensions(ctx context.Context, fac *remote.Client) (x402.Object, error) {
	sup, err := fac.Supported(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the facilitator's /supported: %w", err)
	}
	if slices.Contains(sup.Extensions, permit2.GasSponsoringKey) {
		return permit2.DeclareGasSponsoring(), nil
	}
	return nil, nil
}

// stackRoutes are the sample API's paid routes, paid to payTo on network:
// weather at $0.001, a report at $0.05, a ticker served then settled,
// metered weather paid through a payment channel, and a forecast priced in
// the Permit2 test token whose 402 declares the extensions declared, and
// text generation metered with upto.
func stackRoutes(network x402.Network, payTo string, declared x402.Object) []x402http.Route {
	opt := func(price string) []x402http.PaymentOption {
		return []x402http.PaymentOption{{Network: network, Price: price, PayTo: payTo}}
	}
	return []x402http.Route{
		{Pattern: "GET /weather", Accepts: opt("$0.001"), Description: "Current weather", MimeType: "application/json"},
		{Pattern: "GET /report", Accepts: opt("$0.05"), Description: "Quarterly report", MimeType: "application/json"},
		{Pattern: "GET /ticker", Accepts: opt("$0.001"), Description: "Latest price tick (served, then settled)", MimeType: "application/json",
			Policy: x402http.ServeThenSettle},
		{Pattern: "GET " + stackChannelPath, Description: "Metered weather, paid with vouchers on a payment channel", MimeType: "application/json",
			Accepts: []x402http.PaymentOption{{Scheme: batchsettlement.Scheme, Network: network, Price: "$0.001", PayTo: payTo}}},
		{Pattern: "GET " + stackPermit2Path, Accepts: opt(stackPermit2Price), Description: "Forecast, paid in a token without EIP-3009 (Permit2)", MimeType: "application/json",
			Extensions: declared},
		stackUptoRoute(network, payTo),
	}
}

// stackOptions are what `go402 dev` changes in the stack; the zero value
// is the demo's.
type stackOptions struct {
	rpc     bool   // the devnet also serves JSON-RPC on a free loopback port, for other processes
	apiAddr string // the paid API's listen address; "" for a free loopback port
}

// serveLoopback serves h on a free loopback port until ctx ends or
// cleanup runs, and returns its base URL.
func serveLoopback(ctx context.Context, h http.Handler, cleanup *closers) (string, error) {
	return serveOn(ctx, "127.0.0.1:0", h, cleanup)
}

// serveOn serves h on addr until ctx ends or cleanup runs, and returns its
// base URL.
func serveOn(ctx context.Context, addr string, h http.Handler, cleanup *closers) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	// An answer may wait for a settlement (settle-before-serve).
	srv := newServer(h, apiLimits(2*time.Minute), nil, ctx)
	go func() { _ = srv.Serve(ln) }()
	cleanup.add(func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return "http://" + ln.Addr().String(), nil
}

// openStackQueue opens the settlement queue of the serve-then-settle route
// in a temporary directory removed at cleanup.
func openStackQueue(ctx context.Context, cleanup *closers) (*sqlitequeue.Queue, error) {
	dir, err := os.MkdirTemp("", "go402-dev-queue-")
	if err != nil {
		return nil, err
	}
	cleanup.add(func() error { return os.RemoveAll(dir) })
	q, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: filepath.Join(dir, "queue.db"), PollInterval: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	cleanup.add(q.Close)
	return q, nil
}

// stackAPI is the sample paid API's handler: weather, a report and a
// price ticker.
func stackAPI() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /weather", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city":"Lisbon","forecast":"sunny","celsius":22}`)
	})
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"quarter":"Q3","revenue":"1.2M","growth":"12%"}`)
	})
	mux.HandleFunc("GET "+stackChannelPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city":"Lisbon","celsius":22,"metered":true}`)
	})
	mux.HandleFunc("GET "+stackPermit2Path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city":"Lisbon","tomorrow":"cloudy","celsius":19}`)
	})
	handleGenerate(mux)
	mux.HandleFunc("GET /ticker", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"pair":"ETH-USD","price":"3120.55"}`)
	})
	return mux
}

// runStackSettlements settles the serve-then-settle route's queue until
// cleanup, which runs it before the facilitator and the queue close
// (cleanup is LIFO) and once the API server has stopped: what is still
// queued stays in the queue.
func runStackSettlements(ctx context.Context, mw *x402http.Middleware, cleanup *closers) {
	settling := make(chan struct{})
	sctx, stopSettling := context.WithCancel(context.WithoutCancel(ctx))
	go func() { defer close(settling); _ = mw.RunSettlements(sctx) }()
	cleanup.add(func() error { stopSettling(); <-settling; return nil })
}
