package cli

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/x402"
)

// demoSchemeRun is one column of the demo's comparison: N calls at $0.001
// paid with one scheme, and what they cost on chain.
type demoSchemeRun struct {
	Scheme string `json:"scheme"`
	Calls  int    `json:"calls"`
	// Transactions are the on-chain transactions of the run: one
	// settlement per call for exact; the deposit, the claim and the
	// settle for batch-settlement.
	Transactions []string `json:"transactions"`
	GasTotal     uint64   `json:"gasTotal"`
	GasPerCall   float64  `json:"gasPerCall"`
	P50Ms        float64  `json:"p50Ms"`
	P99Ms        float64  `json:"p99Ms"`
	// PayeeReceived is the payee's balance increase, in atomic units.
	PayeeReceived string `json:"payeeReceived"`
}

// Bounds of --compare. Every exact call mines a block one second after
// the previous one, and the stack's chain may run only
// stackTimestampLead (120 s) ahead of the clock: beyond about 120 blocks
// in a burst, settlements would be paced at one per second.
const (
	demoDefaultCompare = 100
	demoMaxCompare     = 100
)

// demoCompare pays n calls at $0.001 with exact (settled before serve,
// one transaction each; payer account 1) and then with batch-settlement
// (one deposit, n vouchers, one claim and one settle; payer account 2),
// and checks that the payee received exactly n × $0.001 each time.
func demoCompare(ctx context.Context, steps *demoSteps, st *stack, n int) ([]demoSchemeRun, error) {
	steps.printf("comparison: %d calls at $0.001 with each scheme\n", n)
	steps.mute(true)
	defer steps.mute(false)
	accts := st.devnet.Accounts()
	exact, err := demoSchemeCalls(ctx, st, accts[1], nil, "/weather", n)
	if err != nil {
		return nil, fmt.Errorf("exact: %w", err)
	}
	exact.Scheme = evm.SchemeExact
	steps.printf("   exact             %d calls, %d transactions\n", n, len(exact.Transactions))
	payer, err := newDemoChannelPayer(accts[2])
	if err != nil {
		return nil, err
	}
	channel, err := demoSchemeCalls(ctx, st, accts[2], payer, stackChannelPath, n)
	if err != nil {
		return nil, fmt.Errorf("batch-settlement: %w", err)
	}
	channel.Scheme = batchsettlement.Scheme
	steps.printf("   batch-settlement  %d calls, %d transactions\n\n", n, len(channel.Transactions))
	return []demoSchemeRun{exact, channel}, nil
}

// newDemoChannelPayer is account a's batch-settlement payer, its channels
// in memory.
func newDemoChannelPayer(a devnet.Account) (*batchsettlement.Payer, error) {
	signer, err := evm.NewPrivateKeySignerFromECDSA(a.PrivateKey)
	if err != nil {
		return nil, err
	}
	return batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: signer})
}

// demoSchemeCalls has account a pay n GETs of path (through the channel
// payer p when not nil) and returns the run: latencies, transactions
// (for a channel: the deposit, then the claim and the settle made once the
// calls are done) and their gas.
func demoSchemeCalls(ctx context.Context, st *stack, a devnet.Account, p *batchsettlement.Payer, path string, n int) (demoSchemeRun, error) {
	run := demoSchemeRun{Calls: n, Transactions: []string{}}
	httpc, err := newDemoPayer(st, a, p)
	if err != nil {
		return run, err
	}
	before, err := st.devnet.BalanceOf(ctx, st.seller.Address)
	if err != nil {
		return run, err
	}
	lat := make([]time.Duration, 0, n)
	for i := range n {
		tx, d, err := demoTimedCall(ctx, httpc, st.apiURL+path)
		if err != nil {
			return run, fmt.Errorf("call %d: %w", i+1, err)
		}
		lat = append(lat, d)
		if tx != "" {
			run.Transactions = append(run.Transactions, tx)
		}
	}
	if p != nil {
		res, err := st.channels.Claim(ctx, channelserver.ClaimConfig{}, true)
		if err != nil {
			return run, fmt.Errorf("claiming: %w", err)
		}
		run.Transactions = append(run.Transactions, res.Transactions...)
	}
	for _, tx := range run.Transactions {
		r, err := st.devnet.Client().TransactionReceipt(ctx, common.HexToHash(tx))
		if err != nil {
			return run, fmt.Errorf("receipt of %s: %w", tx, err)
		}
		run.GasTotal += r.GasUsed
	}
	after, err := st.devnet.BalanceOf(ctx, st.seller.Address)
	if err != nil {
		return run, err
	}
	got := new(big.Int).Sub(after, before)
	if want := big.NewInt(int64(n) * 1000); got.Cmp(want) != 0 {
		return run, fmt.Errorf("the payee received %s, want %s", got, want)
	}
	run.PayeeReceived = got.String()
	run.GasPerCall = float64(run.GasTotal) / float64(n)
	run.P50Ms, run.P99Ms = percentileMs(lat, 50), percentileMs(lat, 99)
	return run, nil
}

// newDemoPayer is account a's paying HTTP client (with the channel payer
// p registered when not nil), its budget $10.
func newDemoPayer(st *stack, a devnet.Account, p *batchsettlement.Payer) (*http.Client, error) {
	signer, err := evm.NewPrivateKeySignerFromECDSA(a.PrivateKey)
	if err != nil {
		return nil, err
	}
	assets, err := client.AssetsFromNetworks(st.nets)
	if err != nil {
		return nil, err
	}
	cfg := client.Config{Assets: assets, Policy: client.Policy{MaxPerRequest: "$2", Budget: "$10"}}
	if p != nil {
		if cfg.Schemes, err = schemesWith(p); err != nil {
			return nil, err
		}
	}
	c, err := client.NewEVM(signer, cfg)
	if err != nil {
		return nil, err
	}
	return c.HTTPClient(), nil
}

// demoTimedCall makes one paid GET and returns the transaction its
// PAYMENT-RESPONSE names ("" for a voucher) and its latency.
func demoTimedCall(ctx context.Context, httpc *http.Client, url string) (string, time.Duration, error) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return "", 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	d := time.Since(t0)
	rec, ok := client.ReceiptFromResponse(resp)
	if resp.StatusCode != http.StatusOK || !ok || rec.Settlement == nil || !rec.Settlement.Success {
		return "", 0, fmt.Errorf("status %d, payment receipt %v", resp.StatusCode, ok)
	}
	return rec.Settlement.Transaction, d, nil
}

// percentileMs is the p-th percentile (nearest rank) of ds in
// milliseconds.
func percentileMs(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := (len(s)*p + 99) / 100
	k = min(max(k, 1), len(s))
	return float64(s[k-1].Microseconds()) / 1000
}

// printDemoComparison prints the comparison as a small table.
func printDemoComparison(steps *demoSteps, runs []demoSchemeRun) {
	if len(runs) != 2 {
		return
	}
	e, c := runs[0], runs[1]
	usdc := func(atomic string) string {
		a, err := x402.ParseAmount(atomic)
		if err != nil {
			return atomic
		}
		return a.Format(6) + " USDC"
	}
	steps.printf("%d calls at $0.001            %-18s %s\n", e.Calls, e.Scheme, c.Scheme)
	steps.printf("   on-chain transactions     %-18d %d (deposit, claim, settle)\n", len(e.Transactions), len(c.Transactions))
	steps.printf("   gas per call              %-18.0f %.0f (%.2f%% of exact)\n", e.GasPerCall, c.GasPerCall, 100*c.GasPerCall/e.GasPerCall)
	steps.printf("   latency per call, p50     %-18s %.2f ms\n", fmt.Sprintf("%.2f ms", e.P50Ms), c.P50Ms)
	steps.printf("   latency per call, p99     %-18s %.2f ms\n", fmt.Sprintf("%.2f ms", e.P99Ms), c.P99Ms)
	steps.printf("   payee received            %-18s %s\n\n", usdc(e.PayeeReceived), usdc(c.PayeeReceived))
}
