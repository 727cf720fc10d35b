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
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

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

// benchConfig is what `go402 bench` was asked to run.
type benchConfig struct {
	Payments     int           `json:"payments"`      // distinct payments sent to each /verify
	Settlements  int           `json:"settlements"`   // payments settled through each /settle
	Concurrency  int           `json:"concurrency"`   // requests in flight against a facilitator
	Calls        int           `json:"calls"`         // end-to-end paid calls per settlement policy
	Payers       int           `json:"payers"`        // distinct payer accounts
	MicroTime    time.Duration `json:"-"`             // how long each in-process measurement runs
	PollInterval time.Duration `json:"-"`             // receipt polling of both facilitators
	InteropDir   string        `json:"-"`             // where the official TS packages are installed
	SkipTS       bool          `json:"skipTS"`        // do not run the TS facilitator
	BatchWindow  time.Duration `json:"-"`             // go402 batched settlement window
	PollMs       float64       `json:"pollMs"`        // PollInterval, for the report
	BatchMs      float64       `json:"batchWindowMs"` // BatchWindow, for the report
	cpuProfile   string        // --cpuprofile
}

// benchReport is the JSON `go402 bench` writes; the table is printed from it.
type benchReport struct {
	Command  string         `json:"command"`
	Started  time.Time      `json:"started"`
	Machine  benchHost      `json:"machine"`
	Config   benchConfig    `json:"config"`
	TSPeer   *tsPeer        `json:"tsPeer,omitempty"`
	TSSkip   string         `json:"tsSkipped,omitempty"` // why the TS facilitator did not run
	Micro    benchMicro     `json:"middleware"`
	Verify   []loadResult   `json:"verify"`
	Settle   []settleResult `json:"settle"`
	EndToEnd []e2eResult    `json:"endToEnd"`
}

type benchHost struct {
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu,omitempty"`
	Go     string `json:"go"`
	CGO    bool   `json:"cgo"`
}

// benchMicro is the in-process cost of the middleware (package benchapi),
// with a facilitator that answers at once.
type benchMicro struct {
	Unprotected    benchOp `json:"unprotected"`
	PassThrough    benchOp `json:"passThrough"`
	PaymentNeeded  benchOp `json:"paymentRequired"` // the 402 path
	Paid           benchOp `json:"paid"`
	PaidOverheadNs float64 `json:"paidOverheadNs"` // Paid - Unprotected
}

// e2eResult is a series of paid calls from go402's client through the
// middleware, the go402 facilitator over HTTP and the chain.
type e2eResult struct {
	Policy     string  `json:"policy"`
	Calls      int     `json:"calls"`
	OK         int     `json:"ok"`
	FirstError string  `json:"firstError,omitempty"`
	P50Ms      float64 `json:"p50Ms"`
	P99Ms      float64 `json:"p99Ms"`
	MaxMs      float64 `json:"maxMs"`
	Settled    int     `json:"settled"` // payments the payee received, checked on chain
}

const benchUsage = `bench [flags]

Measures go402 on one machine in one run and prints a table (and, with
--json, writes the figures as JSON): the middleware's in-process cost,
facilitator /verify throughput and latency over HTTP for go402 and the
official TypeScript facilitator (interop/, installed by "make interop"),
settlement throughput and gas per payment from one facilitator key, and
end-to-end paid calls for both settlement policies. Everything runs on an
embedded devnet that both facilitators reach over JSON-RPC on loopback.`

func runBench(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench", benchUsage)
	cfg := benchConfig{}
	fs.IntVar(&cfg.Payments, "payments", 1000, "distinct valid payments sent to each facilitator's /verify")
	fs.IntVar(&cfg.Settlements, "settlements", 200, "payments settled through each facilitator's /settle")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "requests in flight against a facilitator")
	fs.IntVar(&cfg.Calls, "calls", 40, "end-to-end paid calls per settlement policy")
	fs.IntVar(&cfg.Payers, "payers", 16, "distinct payer accounts signing the payments")
	fs.DurationVar(&cfg.MicroTime, "micro-time", time.Second, "how long each in-process measurement runs")
	fs.DurationVar(&cfg.PollInterval, "poll", 10*time.Millisecond, "receipt polling interval of both facilitators")
	fs.DurationVar(&cfg.BatchWindow, "batch-window", 5*time.Millisecond, "how long go402's batched settlement waits to fill a batch")
	fs.StringVar(&cfg.InteropDir, "interop-dir", "interop", "directory of the official TypeScript packages (make interop)")
	fs.BoolVar(&cfg.SkipTS, "skip-ts", false, "do not run the official TypeScript facilitator")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	verbose := fs.Bool("v", false, "log the go402 components' warnings and errors to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the /verify phase (this process: go402 and the devnet) to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case cfg.Payments < 1 || cfg.Settlements < 1 || cfg.Calls < 1:
		return usagef("--payments, --settlements and --calls must be at least 1")
	case cfg.Concurrency < 1 || cfg.Concurrency > 1024:
		return usagef("--concurrency must be between 1 and 1024")
	case cfg.Payers < 1 || cfg.Payers > 200:
		return usagef("--payers must be between 1 and 200")
	case cfg.MicroTime <= 0 || cfg.PollInterval <= 0 || cfg.BatchWindow < 0:
		return usagef("--micro-time and --poll must be positive, --batch-window not negative")
	}
	cfg.PollMs, cfg.BatchMs = ms(cfg.PollInterval), ms(cfg.BatchWindow)
	cfg.cpuProfile = *cpuProfile
	rep := &benchReport{
		Command: "go402 bench " + strings.Join(args, " "),
		Started: time.Now().UTC().Truncate(time.Second),
		Machine: hostInfo(),
		Config:  cfg,
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if err := bench(ctx, e, rep, log); err != nil {
		return err
	}
	printBench(e.stdout, rep)
	if *jsonPath != "" {
		if err := writeJSONFile(*jsonPath, rep); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nJSON written to %s\n", *jsonPath)
	}
	return nil
}

// Accounts of the bench devnet: payers first, then one facilitator key per
// facilitator, then one payee per settlement run, so that every run's
// balances can be checked on their own.
const (
	facGo402      = 0
	facGo402Batch = 1
	facTS         = 2
	facE2E        = 3
	benchFacs     = 4
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
	d, err := devnet.Start(ctx, devnet.Config{Accounts: cfg.Payers + benchFacs + benchPayees, RPCAddr: "127.0.0.1:0", TimestampLead: benchTimestampLead})
	if err != nil {
		return fmt.Errorf("starting the devnet: %w", err)
	}
	cleanup.add(d.Close)
	all := d.Accounts()
	acc := &benchAccounts{payers: all[:cfg.Payers], payees: all[cfg.Payers+benchFacs:]}
	copy(acc.fac[:], all[cfg.Payers:])
	network := x402.Network(d.Network())
	nets := &evm.Networks{}
	if err := d.Register(nets); err != nil {
		return err
	}
	progress("devnet %s at %s", network, d.RPCURL())

	// Both facilitators reach the chain the same way: JSON-RPC over HTTP.
	rpc, err := ethclient.DialContext(ctx, d.RPCURL())
	if err != nil {
		return err
	}
	cleanup.add(func() error { rpc.Close(); return nil })
	startGo := func(run int, batch bool) (string, error) {
		return startBenchFacilitator(ctx, d, rpc, acc.fac[run], batch, cfg, quiet, &cleanup)
	}
	goURL, err := startGo(facGo402, false)
	if err != nil {
		return err
	}
	goBatchURL, err := startGo(facGo402Batch, true)
	if err != nil {
		return err
	}
	var ts *nodeProc
	if cfg.SkipTS {
		rep.TSSkip = "--skip-ts"
	} else if peer, why := findTSPeer(ctx, cfg.InteropDir); peer == nil {
		rep.TSSkip = why
	} else {
		rep.TSPeer = peer
		ts, err = peer.startTSFacilitator(ctx, map[string]string{
			"PRIVATE_KEY": hexKey(acc.fac[facTS]),
			"RPC_URL":     d.RPCURL(),
			"CHAIN_ID":    d.ChainID().String(),
			"POLL_MS":     fmt.Sprint(cfg.PollInterval.Milliseconds()),
		})
		if err != nil {
			return fmt.Errorf("official TypeScript facilitator: %w", err)
		}
		cleanup.add(ts.close)
	}
	if rep.TSSkip != "" {
		progress("official TypeScript facilitator skipped: %s", rep.TSSkip)
	}

	hc := newLoadClient(cfg.Concurrency, 2*time.Minute)
	payTo := acc.payee().Address
	progress("signing %d payments for /verify", cfg.Payments)
	verifyBodies, err := signPayments(ctx, nets, network, acc.payers, payTo, cfg.Payments)
	if err != nil {
		return err
	}
	// A warm-up on each, so neither pays for its first connections or JIT.
	warm := verifyBodies[:min(len(verifyBodies), 50)]
	type target struct{ name, url string }
	verifyTargets := []target{{"go402", goURL}}
	if ts != nil {
		verifyTargets = append(verifyTargets, target{"official TS", ts.url})
	}
	for i, t := range verifyTargets {
		progress("/verify %s: %d payments, %d in flight", t.name, len(verifyBodies), cfg.Concurrency)
		runLoad(ctx, hc, t.name, t.url+"/verify", warm, cfg.Concurrency, checkVerify)
		stop := func() {}
		if i == 0 && cfg.cpuProfile != "" {
			if stop, err = startCPUProfile(cfg.cpuProfile); err != nil {
				return err
			}
		}
		res, _ := runLoad(ctx, hc, t.name, t.url+"/verify", verifyBodies, cfg.Concurrency, checkVerify)
		stop()
		rep.Verify = append(rep.Verify, res)
	}

	// Each facilitator at the configured concurrency, and one payment at a
	// time (the official facilitator takes its transaction nonce from the
	// node for each settlement, so concurrent ones collide).
	type settleTarget struct {
		name, url string
		conc      int
	}
	settleTargets := []settleTarget{
		{"go402", goURL, cfg.Concurrency}, {"go402 batched", goBatchURL, cfg.Concurrency}, {"go402, 1 in flight", goURL, 1},
	}
	if ts != nil {
		settleTargets = append(settleTargets, settleTarget{"official TS", ts.url, cfg.Concurrency}, settleTarget{"official TS, 1 in flight", ts.url, 1})
	}
	price := big.NewInt(1000) // $0.001 in USDC atomic units, as signPayments signs
	for _, t := range settleTargets {
		payee := acc.payee().Address
		bodies, err := signPayments(ctx, nets, network, acc.payers, payee, cfg.Settlements)
		if err != nil {
			return err
		}
		before, err := d.BalanceOf(ctx, payee)
		if err != nil {
			return err
		}
		progress("/settle %s: %d payments, %d in flight", t.name, len(bodies), t.conc)
		lr, txs := runLoad(ctx, hc, t.name, t.url+"/settle", bodies, t.conc, checkSettle)
		res := settleResult{loadResult: lr}
		if res.Transactions, res.GasUsed, err = gasOf(ctx, d, txs); err != nil {
			return err
		}
		if res.OK > 0 {
			res.GasPerPayment = res.GasUsed / uint64(res.OK)
		}
		after, err := d.BalanceOf(ctx, payee)
		if err != nil {
			return err
		}
		// Every reported settlement must have moved exactly the price once.
		got := new(big.Int).Sub(after, before)
		if want := new(big.Int).Mul(price, big.NewInt(int64(res.OK))); got.Cmp(want) != 0 {
			return fmt.Errorf("/settle %s: %d settlements reported, but the payee received %s atomic units, want %s", t.name, res.OK, got, want)
		}
		rep.Settle = append(rep.Settle, res)
	}

	progress("end to end: %d paid calls per settlement policy", cfg.Calls)
	e2e, err := benchEndToEnd(ctx, d, rpc, nets, acc, cfg, quiet, &cleanup)
	if err != nil {
		return fmt.Errorf("end to end: %w", err)
	}
	rep.EndToEnd = e2e
	return nil
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
func benchEndToEnd(ctx context.Context, d *devnet.Devnet, rpc *ethclient.Client, nets *evm.Networks, acc *benchAccounts, cfg benchConfig, log *slog.Logger, cleanup *closers) ([]e2eResult, error) {
	facURL, err := startBenchFacilitator(ctx, d, rpc, acc.fac[facE2E], false, cfg, log, cleanup)
	if err != nil {
		return nil, err
	}
	fc, err := remote.New(remote.Config{URL: facURL, Logger: log})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "go402-bench-queue-")
	if err != nil {
		return nil, err
	}
	cleanup.add(func() error { return os.RemoveAll(dir) })
	queue, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: filepath.Join(dir, "queue.db"), PollInterval: cfg.PollInterval})
	if err != nil {
		return nil, err
	}
	cleanup.add(queue.Close)
	network := x402.Network(d.Network())
	payee := acc.payee().Address
	opt := []x402http.PaymentOption{{Network: network, Price: "$0.001", PayTo: payee.Hex()}}
	mw, err := x402http.New(x402http.Config{
		Facilitator: fc, Schemes: evm.ServerSchemes(nets), Queue: queue, Logger: log,
		Routes: []x402http.Route{
			{Pattern: "GET /before", Accepts: opt, Policy: x402http.SettleBeforeServe, MaxTimeoutSeconds: benchValiditySeconds},
			{Pattern: "GET /after", Accepts: opt, Policy: x402http.ServeThenSettle, MaxTimeoutSeconds: benchValiditySeconds},
		},
	})
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	settled := make(chan struct{})
	go func() { defer close(settled); _ = mw.RunSettlements(sctx) }()
	cleanup.add(func() error { stop(); <-settled; return nil })
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	apiURL, err := serveLoopback(ctx, mw.Handler(ok), cleanup)
	if err != nil {
		return nil, err
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(acc.payers[0].PrivateKey)
	if err != nil {
		return nil, err
	}
	pc, err := client.New(client.Config{Signer: signer, Networks: nets, Logger: log})
	if err != nil {
		return nil, err
	}
	hc := pc.HTTPClient()
	var out []e2eResult
	for _, c := range []struct{ policy, path string }{{"settle-before-serve", "/before"}, {"serve-then-settle", "/after"}} {
		before, err := d.BalanceOf(ctx, payee)
		if err != nil {
			return nil, err
		}
		res := e2eResult{Policy: c.policy, Calls: cfg.Calls}
		var lat []time.Duration
		for range cfg.Calls {
			t0 := time.Now()
			err := paidGet(ctx, hc, apiURL+c.path)
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
		deadline := time.Now().Add(time.Minute)
		for {
			queued, _, _, err := queue.Counts(ctx)
			if err != nil {
				return nil, err
			}
			if queued == 0 {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: %d settlements still queued after a minute", c.policy, queued)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(cfg.PollInterval):
			}
		}
		after, err := d.BalanceOf(ctx, payee)
		if err != nil {
			return nil, err
		}
		got := new(big.Int).Sub(after, before)
		res.Settled = int(new(big.Int).Div(got, big.NewInt(1000)).Int64())
		if want := new(big.Int).Mul(big.NewInt(1000), big.NewInt(int64(res.OK))); got.Cmp(want) != 0 {
			return nil, fmt.Errorf("%s: %d calls served, the payee received %s atomic units, want %s", c.policy, res.OK, got, want)
		}
		out = append(out, res)
	}
	return out, nil
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

func hostInfo() benchHost {
	h := benchHost{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version(), CGO: cgoEnabled()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}

// printBench prints the report as tables.
func printBench(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "\ngo402 bench: %s/%s, %d CPUs (%s), %s, cgo %v\n", r.Machine.GOOS, r.Machine.GOARCH, r.Machine.CPUs, r.Machine.CPU, r.Machine.Go, r.Machine.CGO)
	if r.TSPeer != nil {
		fmt.Fprintf(w, "official TS facilitator: %s on node %s\n", r.TSPeer.Packages, r.TSPeer.Node)
	} else {
		fmt.Fprintf(w, "official TS facilitator: not run (%s)\n", r.TSSkip)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nMiddleware, in process, facilitator answering at once\n")
	fmt.Fprintln(tw, "request\tns/op\tallocs/op\tB/op\t")
	m := r.Micro
	for _, row := range []struct {
		name string
		op   benchOp
	}{{"unprotected handler", m.Unprotected}, {"no route (pass-through)", m.PassThrough}, {"402 path", m.PaymentNeeded}, {"paid (settle-before-serve)", m.Paid}} {
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.0f\t\n", row.name, row.op.NsPerOp, row.op.AllocsPerOp, row.op.BytesPerOp)
	}
	fmt.Fprintf(tw, "paid overhead (paid - unprotected)\t%.0f\t\t\t\n", m.PaidOverheadNs)
	tw.Flush()

	fmt.Fprintf(w, "\nFacilitator /verify over HTTP, %d distinct valid payments, %d in flight\n", r.Config.Payments, r.Config.Concurrency)
	fmt.Fprintln(tw, "facilitator\tverifies/s\tp50 ms\tp99 ms\tok\tfailed\t")
	for _, v := range r.Verify {
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.2f\t%d\t%d\t\n", v.Name, v.PerSecond, v.P50Ms, v.P99Ms, v.OK, v.Failed)
	}
	tw.Flush()
	if len(r.Verify) == 2 && r.Verify[1].PerSecond > 0 {
		fmt.Fprintf(w, "go402 / official TS throughput: %.1fx\n", r.Verify[0].PerSecond/r.Verify[1].PerSecond)
	}
	printFirstErrors(w, r.Verify)

	fmt.Fprintf(w, "\nSettlement from one facilitator key, %d payments per run\n", r.Config.Settlements)
	fmt.Fprintln(tw, "facilitator\tin flight\tsettled/s\tp50 ms\tp99 ms\tok\tfailed\ttxs\tgas/payment\t")
	for _, s := range r.Settle {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t\n", s.Name, s.Concurrency, s.PerSecond, s.P50Ms, s.P99Ms, s.OK, s.Failed, s.Transactions, s.GasPerPayment)
	}
	tw.Flush()
	var single, batched uint64
	for _, s := range r.Settle {
		switch s.Name {
		case "go402":
			single = s.GasPerPayment
		case "go402 batched":
			batched = s.GasPerPayment
		}
	}
	if single > 0 && batched > 0 {
		fmt.Fprintf(w, "batched gas per payment: %.0f%% of one transaction per payment\n", 100*float64(batched)/float64(single))
	}
	var lrs []loadResult
	for _, s := range r.Settle {
		lrs = append(lrs, s.loadResult)
	}
	printFirstErrors(w, lrs)

	fmt.Fprintf(w, "\nEnd to end: go402 client -> middleware -> go402 facilitator (HTTP) -> devnet, sequential calls\n")
	fmt.Fprintln(tw, "policy\tcalls\tok\tp50 ms\tp99 ms\tsettled on chain\t")
	for _, c := range r.EndToEnd {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%d\t\n", c.Policy, c.Calls, c.OK, c.P50Ms, c.P99Ms, c.Settled)
	}
	tw.Flush()
	for _, c := range r.EndToEnd {
		if c.FirstError != "" {
			fmt.Fprintf(w, "  %s first error: %s\n", c.Policy, c.FirstError)
		}
	}
}

func printFirstErrors(w io.Writer, rs []loadResult) {
	for _, r := range rs {
		if r.FirstError != "" {
			msg, _, _ := strings.Cut(r.FirstError, "\n")
			fmt.Fprintf(w, "  %s first error: %.300s\n", r.Name, msg)
		}
	}
}

// cgoEnabled reports whether this binary was built with cgo, which decides
// whether secp256k1 recovery runs in C (libsecp256k1) or in Go.
func cgoEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "1"
		}
	}
	return false
}

// startCPUProfile profiles this process until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
