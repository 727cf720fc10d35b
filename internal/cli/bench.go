package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/internal/benchapi"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// Accounts of the bench devnet: payers first, then one facilitator key per
// facilitator, then one payee per settlement run, so that every run's
// balances can be checked on their own.
const (
	facGo402      = 0
	facGo402Batch = 1
	facTS         = 2
	facE2E        = 3
	facChannel    = 4
	benchFacs     = 5
	benchPayees   = 8 // settlement runs and end-to-end policies
)

// The bench devnet mines a block as soon as a transaction arrives and lets
// block timestamps run up to benchTimestampLead ahead of the wall clock, so
// that settlement throughput measures the facilitators rather than a block
// rate (timestamps must grow by a second per block: with the devnet's
// default 10 s lead, sustained mining falls to one block per second).
// Authorizations are signed valid for longer than that lead.
const (
	benchTimestampLead   = time.Hour
	benchValiditySeconds = 2 * 3600
)

type benchAccounts struct {
	payers []devnet.Account
	fac    [benchFacs]devnet.Account
	payees []devnet.Account // handed out by payee()
}

// payee returns an account that no other run pays.
func (a *benchAccounts) payee() devnet.Account {
	p := a.payees[0]
	a.payees = a.payees[1:]
	return p
}

// benchRig is what the stages of a benchmark share: the devnet, a client
// of its JSON-RPC endpoint, its accounts, and the facilitators under test.
type benchRig struct {
	cfg      benchConfig
	d        *devnet.Devnet
	rpc      *ethclient.Client
	nets     *evm.Networks
	network  x402.Network
	acc      *benchAccounts
	log      *slog.Logger
	cleanup  *closers
	progress func(format string, args ...any)

	goURL, goBatchURL string       // go402's facilitators, unbatched and batched
	ts                *nodeProc    // the official TypeScript facilitator; nil if skipped
	hc                *http.Client // the load client
}

func bench(ctx context.Context, e env, rep *benchReport, quiet *slog.Logger) error {
	cfg := rep.Config
	progress := func(format string, args ...any) { fmt.Fprintf(e.stderr, "bench: "+format+"\n", args...) }

	progress("middleware, in process (%v per measurement)", cfg.MicroTime)
	micro, err := benchMiddleware(ctx, cfg.MicroTime)
	if err != nil {
		return fmt.Errorf("middleware: %w", err)
	}
	rep.Micro = micro

	var cleanup closers
	defer func() { _ = cleanup.close() }()
	r, err := startBenchRig(ctx, cfg, quiet, &cleanup, progress)
	if err != nil {
		return err
	}
	if err := r.startFacilitators(ctx, rep); err != nil {
		return err
	}
	r.hc = newLoadClient(cfg.Concurrency, 2*time.Minute)
	if err := r.benchVerify(ctx, rep); err != nil {
		return err
	}
	if err := r.benchSettle(ctx, rep); err != nil {
		return err
	}

	progress("end to end: %d paid calls per settlement policy", cfg.Calls)
	e2e, err := r.benchEndToEnd(ctx)
	if err != nil {
		return fmt.Errorf("end to end: %w", err)
	}
	rep.EndToEnd = e2e
	return nil
}

// startBenchRig starts the devnet and connects to it.
func startBenchRig(ctx context.Context, cfg benchConfig, log *slog.Logger, cleanup *closers, progress func(string, ...any)) (*benchRig, error) {
	payers := cfg.Payers
	if cfg.Scheme == benchSchemeChannel {
		payers = cfg.Channels // one channel per payer
	}
	d, err := devnet.Start(ctx, devnet.Config{Accounts: payers + benchFacs + benchPayees, RPCAddr: "127.0.0.1:0", TimestampLead: benchTimestampLead})
	if err != nil {
		return nil, fmt.Errorf("starting the devnet: %w", err)
	}
	cleanup.add(d.Close)
	all := d.Accounts()
	acc := &benchAccounts{payers: all[:payers], payees: all[payers+benchFacs:]}
	copy(acc.fac[:], all[payers:])
	network := x402.Network(d.Network())
	nets := &evm.Networks{}
	if err := d.Register(nets); err != nil {
		return nil, err
	}
	progress("devnet %s at %s", network, d.RPCURL())

	// Both facilitators reach the chain the same way: JSON-RPC over HTTP.
	rpc, err := service.DialRPC(ctx, d.RPCURL())
	if err != nil {
		return nil, err
	}
	cleanup.add(func() error { rpc.Close(); return nil })
	return &benchRig{
		cfg: cfg, d: d, rpc: rpc, nets: nets, network: network, acc: acc,
		log: log, cleanup: cleanup, progress: progress,
	}, nil
}

// startFacilitators starts go402's facilitators, unbatched and batched,
// and the official TypeScript one unless it is skipped, as rep records.
func (r *benchRig) startFacilitators(ctx context.Context, rep *benchReport) error {
	var err error
	if r.goURL, err = r.startGo402(ctx, facGo402, false); err != nil {
		return err
	}
	if r.goBatchURL, err = r.startGo402(ctx, facGo402Batch, true); err != nil {
		return err
	}
	if r.cfg.SkipTS {
		rep.TSSkip = "--skip-ts"
	} else if peer, why := findTSPeer(ctx, r.cfg.InteropDir); peer == nil {
		rep.TSSkip = why
	} else {
		rep.TSPeer = peer
		ts, err := peer.startTSFacilitator(ctx, map[string]string{
			"PRIVATE_KEY": hexKey(r.acc.fac[facTS]),
			"RPC_URL":     r.d.RPCURL(),
			"CHAIN_ID":    r.d.ChainID().String(),
			"POLL_MS":     fmt.Sprint(r.cfg.PollInterval.Milliseconds()),
		})
		if err != nil {
			return fmt.Errorf("official TypeScript facilitator: %w", err)
		}
		r.cleanup.add(ts.close)
		r.ts = ts
	}
	if rep.TSSkip != "" {
		r.progress("official TypeScript facilitator skipped: %s", rep.TSSkip)
	}
	return nil
}

// startGo402 starts a go402 facilitator settling from the run's key.
func (r *benchRig) startGo402(ctx context.Context, run int, batch bool) (string, error) {
	return startBenchFacilitator(ctx, r.d, r.rpc, r.acc.fac[run], batch, r.cfg, r.log, r.cleanup)
}

// benchVerify measures /verify of each facilitator, after a warm-up.
func (r *benchRig) benchVerify(ctx context.Context, rep *benchReport) error {
	cfg := r.cfg
	payTo := r.acc.payee().Address
	// A warm-up on each, so neither pays for its first connections or JIT,
	// with payments of its own: go402's facilitator refuses a second
	// verify of an authorization it reserved.
	nWarm := min(cfg.Payments, 50)
	r.progress("signing %d payments for /verify", cfg.Payments+nWarm)
	bodies, err := signPayments(ctx, r.nets, r.network, r.acc.payers, payTo, cfg.Payments+nWarm)
	if err != nil {
		return err
	}
	warm, verifyBodies := bodies[:nWarm], bodies[nWarm:]
	type target struct{ name, url string }
	verifyTargets := []target{{"go402", r.goURL}}
	if r.ts != nil {
		verifyTargets = append(verifyTargets, target{"official TS", r.ts.url})
	}
	for i, t := range verifyTargets {
		r.progress("/verify %s: %d payments, %d in flight", t.name, len(verifyBodies), cfg.Concurrency)
		runLoad(ctx, r.hc, t.name, t.url+"/verify", warm, cfg.Concurrency, checkVerify)
		stop := func() {}
		if i == 0 && cfg.cpuProfile != "" {
			if stop, err = startCPUProfile(cfg.cpuProfile); err != nil {
				return err
			}
		}
		res, _ := runLoad(ctx, r.hc, t.name, t.url+"/verify", verifyBodies, cfg.Concurrency, checkVerify)
		stop()
		rep.Verify = append(rep.Verify, res)
	}
	return nil
}

// settleTarget is one /settle run: a facilitator and how many payments
// are in flight.
type settleTarget struct {
	name, url string
	conc      int
}

// benchSettle measures /settle of each facilitator at the configured
// concurrency, and one payment at a time (the official facilitator takes
// its transaction nonce from the node for each settlement, so concurrent
// ones collide).
func (r *benchRig) benchSettle(ctx context.Context, rep *benchReport) error {
	cfg := r.cfg
	settleTargets := []settleTarget{
		{"go402", r.goURL, cfg.Concurrency}, {"go402 batched", r.goBatchURL, cfg.Concurrency}, {"go402, 1 in flight", r.goURL, 1},
	}
	if r.ts != nil {
		settleTargets = append(settleTargets, settleTarget{"official TS", r.ts.url, cfg.Concurrency}, settleTarget{"official TS, 1 in flight", r.ts.url, 1})
	}
	for _, t := range settleTargets {
		res, err := r.settleRun(ctx, t)
		if err != nil {
			return err
		}
		rep.Settle = append(rep.Settle, res)
	}
	return nil
}

// settleRun settles fresh payments to a payee of its own through t, and
// checks on chain that every reported settlement moved the price once.
func (r *benchRig) settleRun(ctx context.Context, t settleTarget) (settleResult, error) {
	price := big.NewInt(1000) // $0.001 in USDC atomic units, as signPayments signs
	payee := r.acc.payee().Address
	bodies, err := signPayments(ctx, r.nets, r.network, r.acc.payers, payee, r.cfg.Settlements)
	if err != nil {
		return settleResult{}, err
	}
	before, err := r.d.BalanceOf(ctx, payee)
	if err != nil {
		return settleResult{}, err
	}
	r.progress("/settle %s: %d payments, %d in flight", t.name, len(bodies), t.conc)
	lr, txs := runLoad(ctx, r.hc, t.name, t.url+"/settle", bodies, t.conc, checkSettle)
	res := settleResult{loadResult: lr}
	if res.Transactions, res.GasUsed, err = gasOf(ctx, r.d, txs); err != nil {
		return settleResult{}, err
	}
	if res.OK > 0 {
		res.GasPerPayment = res.GasUsed / uint64(res.OK)
	}
	after, err := r.d.BalanceOf(ctx, payee)
	if err != nil {
		return settleResult{}, err
	}
	// Every reported settlement must have moved exactly the price once.
	got := new(big.Int).Sub(after, before)
	if want := new(big.Int).Mul(price, big.NewInt(int64(res.OK))); got.Cmp(want) != 0 {
		return settleResult{}, fmt.Errorf("/settle %s: %d settlements reported, but the payee received %s atomic units, want %s", t.name, res.OK, got, want)
	}
	return res, nil
}

// startBenchFacilitator serves a go402 facilitator (SQLite ledger in a
// temporary directory) on a loopback port, settling from key.
func startBenchFacilitator(ctx context.Context, d *devnet.Devnet, rpc *ethclient.Client, key devnet.Account, batch bool, cfg benchConfig, log *slog.Logger, cleanup *closers) (string, error) {
	nc := d.NetworkConfig()
	n := service.Network{Network: nc.Network, Backend: rpc, Key: key.PrivateKey, Assets: nc.Assets, PollInterval: cfg.PollInterval}
	if batch {
		n.Batch = evm.BatchConfig{Multicall: evm.Multicall3Address(), Window: cfg.BatchWindow}
	}
	svc, err := service.New(ctx, &config.Config{Instance: "bench"}, service.Deps{Logger: log, Networks: []service.Network{n}})
	if err != nil {
		return "", err
	}
	cleanup.add(svc.Close)
	return serveLoopback(ctx, svc.Handler(), cleanup)
}

// benchMiddleware measures the in-process paid API of package benchapi.
func benchMiddleware(ctx context.Context, d time.Duration) (benchMicro, error) {
	api, err := benchapi.New(ctx)
	if err != nil {
		return benchMicro{}, err
	}
	unpaid, paid, free := api.Requests()
	w := benchapi.NewWriter()
	var m benchMicro
	for _, c := range []struct {
		dst  *benchOp
		h    http.Handler
		r    *http.Request
		want int
	}{
		{&m.Unprotected, api.Plain, unpaid, http.StatusOK},
		{&m.PassThrough, api.Paid, free, http.StatusOK},
		{&m.PaymentNeeded, api.Paid, unpaid, http.StatusPaymentRequired},
		{&m.Paid, api.Paid, paid, http.StatusOK},
	} {
		if *c.dst, err = measure(d, func() error { return benchapi.Serve(c.h, w, c.r, c.want) }); err != nil {
			return benchMicro{}, err
		}
	}
	m.PaidOverheadNs = math.Round((m.Paid.NsPerOp-m.Unprotected.NsPerOp)*10) / 10
	return m, nil
}

// benchEndToEnd pays cfg.Calls calls of a route for each settlement policy
// with go402's client, through the middleware and a go402 facilitator over
// HTTP, and checks on chain that the payee received every payment.
func (r *benchRig) benchEndToEnd(ctx context.Context) ([]e2eResult, error) {
	payee := r.acc.payee().Address
	apiURL, queue, err := r.startE2EServer(ctx, payee)
	if err != nil {
		return nil, err
	}
	hc, err := r.e2ePayer()
	if err != nil {
		return nil, err
	}
	var out []e2eResult
	for _, c := range []struct{ policy, path string }{{"settle-before-serve", "/before"}, {"serve-then-settle", "/after"}} {
		res, err := r.e2eRun(ctx, hc, queue, payee, c.policy, apiURL+c.path)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// startE2EServer serves a paid route for each settlement policy, paying
// payee, through the middleware with a SQLite settlement queue and a go402
// facilitator reached over HTTP. It returns the server's URL and queue.
func (r *benchRig) startE2EServer(ctx context.Context, payee common.Address) (string, *sqlitequeue.Queue, error) {
	facURL, err := r.startGo402(ctx, facE2E, false)
	if err != nil {
		return "", nil, err
	}
	// A go402 facilitator reserves the payer's funds from verify to
	// settle: serve-then-settle needs no limit of one unsettled payment.
	fc, err := remote.New(remote.Config{URL: facURL, Logger: r.log, ReservesFunds: true})
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "go402-bench-queue-")
	if err != nil {
		return "", nil, err
	}
	r.cleanup.add(func() error { return os.RemoveAll(dir) })
	queue, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: filepath.Join(dir, "queue.db"), PollInterval: r.cfg.PollInterval})
	if err != nil {
		return "", nil, err
	}
	r.cleanup.add(queue.Close)
	opt := []x402http.PaymentOption{{Network: r.network, Price: "$0.001", PayTo: payee.Hex()}}
	mw, err := x402http.New(x402http.Config{
		Facilitator: fc, Schemes: evm.ServerSchemes(r.nets), Queue: queue, Logger: r.log,
		Routes: []x402http.Route{
			{Pattern: "GET /before", Accepts: opt, Policy: x402http.SettleBeforeServe, MaxTimeoutSeconds: benchValiditySeconds},
			{Pattern: "GET /after", Accepts: opt, Policy: x402http.ServeThenSettle, MaxTimeoutSeconds: benchValiditySeconds},
		},
	})
	if err != nil {
		return "", nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	settled := make(chan struct{})
	go func() { defer close(settled); _ = mw.RunSettlements(sctx) }()
	r.cleanup.add(func() error { stop(); <-settled; return nil })
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	apiURL, err := serveLoopback(ctx, mw.Handler(ok), r.cleanup)
	if err != nil {
		return "", nil, err
	}
	return apiURL, queue, nil
}

// e2ePayer returns the HTTP client of go402's paying client, paying from
// the first payer.
func (r *benchRig) e2ePayer() (*http.Client, error) {
	signer, err := evm.NewPrivateKeySignerFromECDSA(r.acc.payers[0].PrivateKey)
	if err != nil {
		return nil, err
	}
	assets, err := client.AssetsFromNetworks(r.nets)
	if err != nil {
		return nil, err
	}
	pc, err := client.NewEVM(signer, client.Config{Assets: assets, Logger: r.log})
	if err != nil {
		return nil, err
	}
	return pc.HTTPClient(), nil
}

// e2eRun makes cfg.Calls paid calls of url, waits for queue to drain, and
// checks that payee received the price of every call served.
func (r *benchRig) e2eRun(ctx context.Context, hc *http.Client, queue *sqlitequeue.Queue, payee common.Address, policy, url string) (e2eResult, error) {
	before, err := r.d.BalanceOf(ctx, payee)
	if err != nil {
		return e2eResult{}, err
	}
	res := e2eResult{Policy: policy, Calls: r.cfg.Calls}
	var lat []time.Duration
	for range r.cfg.Calls {
		t0 := time.Now()
		err := paidGet(ctx, hc, url)
		if err != nil {
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			continue
		}
		lat = append(lat, time.Since(t0))
		res.OK++
	}
	res.P50Ms, res.P99Ms, res.MaxMs = percentiles(lat)
	// Serve-then-settle settles after answering: wait for the queue to
	// drain, then count what the payee received.
	if err := r.waitQueueDrained(ctx, queue, policy); err != nil {
		return e2eResult{}, err
	}
	after, err := r.d.BalanceOf(ctx, payee)
	if err != nil {
		return e2eResult{}, err
	}
	got := new(big.Int).Sub(after, before)
	res.Settled = int(new(big.Int).Div(got, big.NewInt(1000)).Int64())
	if want := new(big.Int).Mul(big.NewInt(1000), big.NewInt(int64(res.OK))); got.Cmp(want) != 0 {
		return e2eResult{}, fmt.Errorf("%s: %d calls served, the payee received %s atomic units, want %s", policy, res.OK, got, want)
	}
	return res, nil
}

// waitQueueDrained waits until queue holds no settlement, for a minute at
// most.
func (r *benchRig) waitQueueDrained(ctx context.Context, queue *sqlitequeue.Queue, policy string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		queued, _, _, err := queue.Counts(ctx)
		if err != nil {
			return err
		}
		if queued == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d settlements still queued after a minute", policy, queued)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

// paidGet makes one paid GET and checks it was paid and served.
func paidGet(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if _, ok := client.ReceiptFromResponse(resp); !ok {
		return errors.New("no payment receipt in the response")
	}
	return nil
}
