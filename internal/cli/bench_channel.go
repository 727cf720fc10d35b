package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// Schemes of `go402 bench --scheme`.
const (
	benchSchemeExact   = "exact"
	benchSchemeChannel = "batch-settlement"
)

// benchChannelPrice is the price of the batch-settlement route: $0.001 in
// USDC atomic units.
const benchChannelPrice = 1000

// channelResult is the batch-settlement scenario: Channels payers each
// open one channel and make CallsPerChannel paid calls on it (the first
// deposits, the others carry vouchers), then the server claims and
// settles. The embedded loadResult is the voucher phase only: the calls
// after each channel's deposit, all channels at once.
type channelResult struct {
	loadResult
	Channels        int     `json:"channels"`
	CallsPerChannel int     `json:"callsPerChannel"`
	Calls           int     `json:"calls"`        // paid calls in all, deposits included
	DepositP50Ms    float64 `json:"depositP50Ms"` // the first call of a channel, settled on chain
	Deposits        int     `json:"deposits"`     // deposit transactions
	ClaimTxs        int     `json:"claimTxs"`     // claim and settle transactions
	ClaimGas        uint64  `json:"claimGas"`     // gas of the claim and settle transactions
	Transactions    int     `json:"transactions"` // Deposits + ClaimTxs, read from their receipts
	GasUsed         uint64  `json:"gasUsed"`
	GasPerCall      float64 `json:"gasPerCall"`    // GasUsed / Calls
	PayeeReceived   string  `json:"payeeReceived"` // atomic units, checked = Calls × price
}

// benchChannels runs the batch-settlement scenario: a go402 facilitator,
// an x402http route served by the channel server (SQLite channel store)
// over HTTP on loopback, and cfg.Channels payers paying it with go402's
// client. It fails unless the payee received exactly the price of every
// call.
func benchChannels(ctx context.Context, e env, rep *benchReport, quiet *slog.Logger) error {
	cfg := rep.Config
	progress := func(format string, args ...any) { fmt.Fprintf(e.stderr, "bench: "+format+"\n", args...) }
	var cleanup closers
	defer func() { _ = cleanup.close() }()
	r, err := startBenchRig(ctx, cfg, quiet, &cleanup, progress)
	if err != nil {
		return err
	}
	payee := r.acc.payee()
	srv, apiURL, err := r.startChannelServer(ctx, payee)
	if err != nil {
		return err
	}
	res, err := r.channelRun(ctx, srv, apiURL+stackChannelPath, payee)
	if err != nil {
		return fmt.Errorf("batch-settlement: %w", err)
	}
	rep.Channels = res
	return nil
}

// startChannelServer serves GET /metered at $0.001 with batch-settlement,
// paying payee (also the receiver authorizer), through a go402 facilitator
// over HTTP; the minimum deposit covers every call of a channel, so that
// each payer deposits once.
func (r *benchRig) startChannelServer(ctx context.Context, payee devnet.Account) (*channelserver.Server, string, error) {
	facURL, err := r.startGo402(ctx, facChannel, false)
	if err != nil {
		return nil, "", err
	}
	fc, err := remote.New(remote.Config{URL: facURL, Logger: r.log, ReservesFunds: true})
	if err != nil {
		return nil, "", err
	}
	minDeposit := uint64(r.cfg.CallsPerChannel) * benchChannelPrice
	srv, err := openChannelServer(ctx, r.nets, fc, payee, minDeposit, r.log, r.cleanup)
	if err != nil {
		return nil, "", err
	}
	schemes := evm.ServerSchemes(r.nets)
	if err := schemes.Register(x402.V2, batchsettlement.Scheme, r.network, srv); err != nil {
		return nil, "", err
	}
	mw, err := x402http.New(x402http.Config{
		Facilitator: fc, Schemes: schemes, Logger: r.log,
		Routes: []x402http.Route{{Pattern: "GET " + stackChannelPath, MimeType: "application/json",
			Accepts: []x402http.PaymentOption{{Scheme: batchsettlement.Scheme, Network: r.network, Price: "$0.001", PayTo: payee.Address.Hex()}}}},
	})
	if err != nil {
		return nil, "", err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	apiURL, err := serveLoopback(ctx, mw.Handler(ok), r.cleanup)
	if err != nil {
		return nil, "", err
	}
	return srv, apiURL, nil
}

// channelRun has each of the first cfg.Channels payers open a channel
// (its first call, all payers at once), then make its other calls (all
// payers at once, each one call at a time: a channel's vouchers are
// sequential), then claims and settles every voucher, and checks the
// payee's balance.
func (r *benchRig) channelRun(ctx context.Context, srv *channelserver.Server, url string, payee devnet.Account) (*channelResult, error) {
	n, m := r.cfg.Channels, r.cfg.CallsPerChannel
	res := &channelResult{Channels: n, CallsPerChannel: m, Calls: n * m}
	res.Name, res.Requests, res.Concurrency = "batch-settlement vouchers", n*(m-1), n
	hcs := make([]*http.Client, n)
	for i := range hcs {
		var err error
		if hcs[i], err = benchChannelPayer(r.acc.payers[i], r.log); err != nil {
			return nil, err
		}
	}
	before, err := r.d.BalanceOf(ctx, payee.Address)
	if err != nil {
		return nil, err
	}

	r.progress("batch-settlement: %d payers open a channel each (deposit of %d calls at $0.001)", n, m)
	open := channelPhase(ctx, hcs, url, 1)
	if err := open.err(); err != nil {
		return nil, fmt.Errorf("opening the channels: %w", err)
	}
	res.DepositP50Ms, _, _ = percentiles(open.lat)
	txs := open.txs

	r.progress("batch-settlement: %d voucher calls, %d channels at once", n*(m-1), n)
	calls := channelPhase(ctx, hcs, url, m-1)
	res.ElapsedMs = ms(calls.elapsed)
	res.OK, res.Failed = len(calls.lat), len(calls.errs)
	if len(calls.errs) > 0 {
		res.FirstError = calls.errs[0].Error()
	}
	if calls.elapsed > 0 {
		res.PerSecond = math.Round(float64(res.OK)/calls.elapsed.Seconds()*10) / 10
	}
	res.P50Ms, res.P99Ms, res.MaxMs = percentiles(calls.lat)
	res.Deposits = len(txs) + len(calls.txs) // a voucher call names no transaction, a top-up does
	txs = append(txs, calls.txs...)

	r.progress("batch-settlement: claiming and settling")
	claimed, err := srv.Claim(ctx, channelserver.ClaimConfig{}, true)
	if err != nil {
		return nil, fmt.Errorf("claiming: %w", err)
	}
	res.ClaimTxs = len(claimed.Transactions)
	if _, res.ClaimGas, err = gasOf(ctx, r.d, claimed.Transactions); err != nil {
		return nil, err
	}
	txs = append(txs, claimed.Transactions...)
	if res.Transactions, res.GasUsed, err = gasOf(ctx, r.d, txs); err != nil {
		return nil, err
	}
	res.GasPerCall = math.Round(float64(res.GasUsed)/float64(res.Calls)*10) / 10
	after, err := r.d.BalanceOf(ctx, payee.Address)
	if err != nil {
		return nil, err
	}
	got := new(big.Int).Sub(after, before)
	res.PayeeReceived = got.String()
	if want := big.NewInt(int64(res.Calls) * benchChannelPrice); got.Cmp(want) != 0 {
		return nil, fmt.Errorf("%d calls (%d failed: %s), %d vouchers claimed: the payee received %s atomic units, want %s",
			res.Calls, res.Failed, res.FirstError, claimed.Vouchers, got, want)
	}
	return res, nil
}

// benchChannelPayer is account a's paying HTTP client with a
// batch-settlement payer (channels in memory) and no spending policy.
func benchChannelPayer(a devnet.Account, log *slog.Logger) (*http.Client, error) {
	signer, err := evm.NewPrivateKeySignerFromECDSA(a.PrivateKey)
	if err != nil {
		return nil, err
	}
	p, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: signer, Logger: log})
	if err != nil {
		return nil, err
	}
	reg, err := schemesWith(p)
	if err != nil {
		return nil, err
	}
	pc, err := client.NewEVM(signer, client.Config{Schemes: reg, Base: newLoadClient(2, 0).Transport, Logger: log})
	if err != nil {
		return nil, err
	}
	return pc.HTTPClient(), nil
}

// phaseResult is what one phase of paid calls returned: the latencies of
// the successful calls, the transactions their receipts named, the
// errors, and the phase's wall time.
type phaseResult struct {
	lat     []time.Duration
	txs     []string
	errs    []error
	elapsed time.Duration
}

func (p *phaseResult) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d calls failed, the first: %w", len(p.errs), p.errs[0])
}

// channelPhase has every client in hcs make calls paid GETs of url, one
// at a time, all clients at once.
func channelPhase(ctx context.Context, hcs []*http.Client, url string, calls int) phaseResult {
	var (
		mu  sync.Mutex
		out phaseResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	for _, hc := range hcs {
		wg.Go(func() {
			lat := make([]time.Duration, 0, calls)
			var txs []string
			var errs []error
			for range calls {
				if ctx.Err() != nil {
					errs = append(errs, ctx.Err())
					break
				}
				tx, d, err := demoTimedCall(ctx, hc, url)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				lat = append(lat, d)
				if tx != "" {
					txs = append(txs, tx)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			out.lat, out.txs, out.errs = append(out.lat, lat...), append(out.txs, txs...), append(out.errs, errs...)
		})
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

// printBenchChannels prints the batch-settlement scenario.
func printBenchChannels(w io.Writer, c *channelResult) {
	fmt.Fprintf(w, "\nBatch-settlement: go402 client -> middleware + channel server (SQLite) over HTTP -> go402 facilitator -> devnet\n")
	fmt.Fprintf(w, "%d channels x %d calls at $0.001: one deposit each, then %d voucher calls, %d channels at once; then one claim round\n",
		c.Channels, c.CallsPerChannel, c.Requests, c.Concurrency)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tcalls/s\tp50 ms\tp99 ms\tok\tfailed\t")
	fmt.Fprintf(tw, "deposit (first call)\t\t%.2f\t\t%d\t0\t\n", c.DepositP50Ms, c.Channels)
	fmt.Fprintf(tw, "vouchers\t%.1f\t%.2f\t%.2f\t%d\t%d\t\n", c.PerSecond, c.P50Ms, c.P99Ms, c.OK, c.Failed)
	tw.Flush()
	fmt.Fprintln(tw, "calls\tdeposits\tclaim+settle txs\tclaim+settle gas\ttxs\tgas\tgas/call\tpayee received\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%s\t\n", c.Calls, c.Deposits, c.ClaimTxs, c.ClaimGas, c.Transactions, c.GasUsed, c.GasPerCall, c.PayeeReceived)
	tw.Flush()
	fmt.Fprintf(w, "payee received exactly %d x $0.001 (checked on chain)\n", c.Calls)
	printFirstErrors(w, []loadResult{c.loadResult})
}
