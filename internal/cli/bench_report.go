package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"
)

// benchConfig is what `go402 bench` was asked to run.
type benchConfig struct {
	Scheme          string        `json:"scheme"`          // exact (facilitators and middleware) or batch-settlement
	Channels        int           `json:"channels"`        // batch-settlement: payers, one channel each
	CallsPerChannel int           `json:"callsPerChannel"` // batch-settlement: paid calls per channel, the deposit's included
	Payments        int           `json:"payments"`        // distinct payments sent to each /verify
	Settlements     int           `json:"settlements"`     // payments settled through each /settle
	Concurrency     int           `json:"concurrency"`     // requests in flight against a facilitator
	Calls           int           `json:"calls"`           // end-to-end paid calls per settlement policy
	Payers          int           `json:"payers"`          // distinct payer accounts
	MicroTime       time.Duration `json:"-"`               // how long each in-process measurement runs
	PollInterval    time.Duration `json:"-"`               // receipt polling of both facilitators
	InteropDir      string        `json:"-"`               // where the official TS packages are installed
	SkipTS          bool          `json:"skipTS"`          // do not run the TS facilitator
	BatchWindow     time.Duration `json:"-"`               // go402 batched settlement window
	PollMs          float64       `json:"pollMs"`          // PollInterval, for the report
	BatchMs         float64       `json:"batchWindowMs"`   // BatchWindow, for the report
	cpuProfile      string        // --cpuprofile
}

// benchReport is the JSON `go402 bench` prints (--json) or writes (--out);
// the table is printed from it.
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
	Channels *channelResult `json:"batchSettlement,omitempty"` // --scheme batch-settlement
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

const benchUsage = `bench [--json] [--out FILE] [flags]

Measures go402 on one machine in one run and prints a table (with --json,
the figures as one JSON object instead; --out FILE also writes that JSON
to FILE): the middleware's in-process cost,
facilitator /verify throughput and latency over HTTP for go402 and the
official TypeScript facilitator (interop/, installed by "make interop"),
settlement throughput and gas per payment from one facilitator key, and
end-to-end paid calls for both settlement policies. Everything runs on an
embedded devnet that both facilitators reach over JSON-RPC on loopback.

--scheme batch-settlement measures payment channels instead: --channels
payers each open one channel on a batch-settlement route (x402http and the
channel server, SQLite store) with one deposit, make the rest of their
--calls-per-channel paid calls with vouchers, all channels at once, over
HTTP on loopback; then the server claims and settles. It reports paid
calls/s and p50/p99 latency of the voucher calls, and the transactions and
gas per call of the deposits, claim and settle (from their receipts), and
fails unless the payee received exactly channels x calls x $0.001.`

func runBench(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench", benchUsage)
	cfg := benchConfig{}
	fs.StringVar(&cfg.Scheme, "scheme", benchSchemeExact, "what to measure: exact (middleware, facilitators, end to end) or batch-settlement (payment channels)")
	fs.IntVar(&cfg.Channels, "channels", 16, "batch-settlement: payers, each opening one channel")
	fs.IntVar(&cfg.CallsPerChannel, "calls-per-channel", 100, "batch-settlement: paid calls per channel, the first of which deposits")
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
	jsonOut := fs.Bool("json", false, "print the results as one JSON object on standard output instead of the table (progress goes to standard error)")
	outPath := fs.String("out", "", "also write the results as JSON to this `file`")
	verbose := fs.Bool("v", false, "log the go402 components' warnings and errors to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the /verify phase (this process: go402 and the devnet) to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkBenchOutput(fs, *jsonOut, *outPath); err != nil {
		return err
	}
	switch {
	case cfg.Scheme != benchSchemeExact && cfg.Scheme != benchSchemeChannel:
		return usagef("--scheme must be %s or %s", benchSchemeExact, benchSchemeChannel)
	case cfg.Channels < 1 || cfg.Channels > 200:
		return usagef("--channels must be between 1 and 200")
	case cfg.CallsPerChannel < 2 || cfg.CallsPerChannel > 1_000_000:
		return usagef("--calls-per-channel must be between 2 and 1000000")
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
	run := bench
	if cfg.Scheme == benchSchemeChannel {
		run = benchChannels
	}
	if err := run(ctx, e, rep, log); err != nil {
		return err
	}
	if *outPath != "" {
		if err := writeJSONFile(*outPath, rep); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "bench: results written to %s\n", *outPath)
	}
	if *jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBench(e.stdout, rep)
	return nil
}

// checkBenchOutput checks, before a run of minutes, that the results can
// be written: no arguments (--json FILE is --out FILE now), and --out in
// an existing directory.
func checkBenchOutput(fs *flag.FlagSet, jsonOut bool, out string) error {
	if fs.NArg() > 0 {
		if jsonOut && fs.NArg() == 1 {
			return usagef("--json takes no file and prints the JSON on standard output; write it to a file with --out %s", fs.Arg(0))
		}
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if out == "" {
		return nil
	}
	if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
		return usagef("--out %s: %s is not a directory", out, filepath.Dir(out))
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
	if r.Channels != nil {
		printBenchChannels(w, r.Channels)
		return
	}
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
