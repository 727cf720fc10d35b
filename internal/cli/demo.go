package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

// demoCall is one paid call of the demo, for the summary.
type demoCall struct {
	Path        string  `json:"path"`
	Status      int     `json:"status"`
	Price       string  `json:"price"`
	Payer       string  `json:"payer"`
	Transaction string  `json:"transaction"`
	GasUsed     uint64  `json:"gasUsed"`
	LatencyMs   float64 `json:"latencyMs"`
	Body        string  `json:"body"`
}

type demoBalance struct {
	Address string `json:"address"`
	Before  string `json:"before"`
	After   string `json:"after"`
}

type demoSummary struct {
	OK                  bool        `json:"ok"`
	Network             string      `json:"network"`
	Calls               []demoCall  `json:"calls"`
	TotalPaid           string      `json:"totalPaid"`
	Payer               demoBalance `json:"payer"`
	Payee               demoBalance `json:"payee"`
	GasPerSettlement    uint64      `json:"gasPerSettlement"`
	AverageLatencyMs    float64     `json:"averageLatencyMs"`
	ElapsedMs           float64     `json:"elapsedMs"`
	FacilitatorURL      string      `json:"facilitatorUrl"`
	APIURL              string      `json:"apiUrl"`
	FacilitatorAccount  string      `json:"facilitatorAccount"`
	AgentBudget         string      `json:"agentBudget"`
	AgentBudgetRefusals int         `json:"agentBudgetRefusals"`
	// Comparison is --compare's: the same calls paid with exact and with
	// batch-settlement.
	Comparison []demoSchemeRun `json:"comparison,omitempty"`
	// Error says why the demo failed; "" when OK.
	Error string `json:"error"`
}

// demoSteps prints each step of the flow as it happens (text mode).
type demoSteps struct {
	mu    sync.Mutex
	out   io.Writer // nil in --json mode
	muted bool      // the observers' traces are off (the comparison's calls)
}

func (s *demoSteps) printf(format string, args ...any) {
	if s.out == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format, args...)
}

// tracef prints an observer's trace of a call, unless muted.
func (s *demoSteps) tracef(format string, args ...any) {
	if s.out == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.muted {
		fmt.Fprintf(s.out, format, args...)
	}
}

// mute turns the observers' traces off or on.
func (s *demoSteps) mute(m bool) {
	s.mu.Lock()
	s.muted = m
	s.mu.Unlock()
}

// observingTransport reports the agent's side of the handshake.
type observingTransport struct {
	base  http.RoundTripper
	steps *demoSteps
}

func (t observingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get(x402.HeaderPaymentSignature) != "" {
		t.steps.tracef("     → authorization signed (EIP-3009, EIP-712); retrying with PAYMENT-SIGNATURE\n")
	} else {
		t.steps.tracef("   GET %s\n", r.URL.Path)
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusPaymentRequired && r.Header.Get(x402.HeaderPaymentSignature) == "" {
		if pr, derr := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired)); derr == nil && len(pr.Accepts) > 0 {
			a := pr.Accepts[0]
			t.steps.tracef("     ← 402 Payment Required: %s atomic units (%s USDC) to %s on %s\n", a.Amount, a.Amount.Format(6), short(a.PayTo), a.Network)
		}
	}
	return resp, err
}

// observingFacilitator reports the facilitator's side.
type observingFacilitator struct {
	x402.Facilitator
	steps *demoSteps
}

func (f observingFacilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	v, err := f.Facilitator.Verify(ctx, req)
	if err == nil && v.IsValid {
		f.steps.tracef("     ✓ verified by the facilitator (payer %s)\n", short(v.Payer))
	} else if err == nil {
		f.steps.tracef("     ✗ rejected by the facilitator: %s %s\n", v.InvalidReason, v.InvalidMessage)
	}
	return v, err
}

func (f observingFacilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.steps.tracef("     ✓ served by the API (response held until the payment settles)\n")
	s, err := f.Facilitator.Settle(ctx, req)
	if err == nil && s.Success {
		f.steps.tracef("     ✓ settled on chain: tx %s\n", s.Transaction)
	}
	return s, err
}

func short(addr string) string {
	if len(addr) > 12 {
		return addr[:8] + "…" + addr[len(addr)-4:]
	}
	return addr
}

// Bounds of go402 demo's flags. At demoMaxCalls the demo settles 51
// payments, one block each, in about a second: the devnet's timestamp lead
// (stackTimestampLead) keeps it from waiting for the clock.
const (
	demoMaxCalls       = 50
	demoDefaultTimeout = 120 * time.Second
)

// demoTimeoutError is the cause of a demo cut short by --timeout.
type demoTimeoutError struct{ after time.Duration }

func (e demoTimeoutError) Error() string {
	return fmt.Sprintf("the demo did not finish within %v (--timeout): a step hung", e.after)
}

func runDemo(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "demo", `demo [--json] [--calls N] [--compare N] [--timeout D]

Runs a complete paid x402 flow on an embedded devnet, offline, and prints
each step: an agent with a budget pays a sample API through a go402
facilitator, and the balances are checked. Then it pays --compare calls at
$0.001 with "exact" (one settlement per call) and with "batch-settlement"
(one deposit, a voucher per call, one claim and one settle) and prints, for
each, the on-chain transactions, the gas per call and the latency per
call. --json prints one JSON summary.`)
	jsonOut := fs.Bool("json", false, "print one JSON summary instead of the step-by-step text")
	calls := fs.Int("calls", 3, fmt.Sprintf("number of weather calls the agent makes (plus one report), 1 to %d", demoMaxCalls))
	compare := fs.Int("compare", demoDefaultCompare, fmt.Sprintf("number of calls paid with each scheme in the exact/batch-settlement comparison, 0 (none) to %d", demoMaxCompare))
	timeout := fs.Duration("timeout", demoDefaultTimeout, "give up when the whole demo takes longer than this")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *calls < 1 || *calls > demoMaxCalls {
		return usagef("--calls must be between 1 and %d", demoMaxCalls)
	}
	if *compare < 0 || *compare > demoMaxCompare {
		return usagef("--compare must be between 0 and %d", demoMaxCompare)
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	dctx, cancel := context.WithTimeoutCause(ctx, *timeout, demoTimeoutError{*timeout})
	defer cancel()
	sum, err := demo(dctx, e, *calls, *compare, *jsonOut)
	if err != nil {
		var te demoTimeoutError
		if cause := context.Cause(dctx); errors.As(cause, &te) {
			err = fmt.Errorf("%w; last error: %w", cause, err)
		}
	}
	if *jsonOut {
		if sum == nil {
			sum = &demoSummary{Calls: []demoCall{}}
		}
		if err != nil {
			sum.OK, sum.Error = false, err.Error()
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
	}
	if err != nil {
		return fmt.Errorf("demo failed: %w", err)
	}
	return nil
}

func demo(ctx context.Context, e env, calls, compare int, jsonOut bool) (*demoSummary, error) {
	start := time.Now()
	steps := &demoSteps{out: e.stdout}
	if jsonOut {
		steps.out = nil
	}
	var cleanup closers
	defer func() { _ = cleanup.close() }()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	steps.printf("go402 demo: a complete x402 paid flow on an embedded devnet (no internet needed)\n\n")
	stack, err := startStack(ctx, steps, quiet, &cleanup, stackOptions{})
	if err != nil {
		return nil, err
	}
	agent, err := newDemoAgent(steps, quiet, stack)
	if err != nil {
		return nil, err
	}

	sum := &demoSummary{Calls: []demoCall{}, Network: string(stack.network), FacilitatorURL: stack.facURL, APIURL: stack.apiURL, FacilitatorAccount: stack.facKey.Address.Hex(), AgentBudget: demoBudget,
		Payer: demoBalance{Address: stack.payer.Address.Hex()}, Payee: demoBalance{Address: stack.seller.Address.Hex()}}
	payerBefore, payeeBefore, err := demoBalances(ctx, stack)
	if err != nil {
		return sum, err
	}
	decimals := int(stack.devnet.Token().Decimals)
	sum.Payer.Before, sum.Payee.Before = formatUnits(payerBefore, decimals), formatUnits(payeeBefore, decimals)

	paths := make([]string, 0, calls+1)
	for range calls {
		paths = append(paths, "/weather")
	}
	paths = append(paths, "/report")
	httpc := agent.HTTPClient()
	var totalLatency time.Duration
	var gasTotal uint64
	for i, p := range paths {
		steps.printf("call %d/%d\n", i+1, len(paths))
		call, lat, err := demoPaidCall(ctx, stack, httpc, p)
		if err != nil {
			return sum, err
		}
		totalLatency += lat
		gasTotal += call.GasUsed
		sum.Calls = append(sum.Calls, call)
		steps.printf("     ← 200 %s  (paid %s, %.1f ms, %d gas)\n\n", call.Body, call.Price, call.LatencyMs, call.GasUsed)
	}
	if err := demoOverBudget(ctx, steps, httpc, stack.apiURL, sum); err != nil {
		return sum, err
	}

	payerAfter, payeeAfter, err := demoBalances(ctx, stack)
	if err != nil {
		return sum, err
	}
	sum.Payer.After, sum.Payee.After = formatUnits(payerAfter, decimals), formatUnits(payeeAfter, decimals)
	paid := new(big.Int).Sub(payerBefore, payerAfter)
	received := new(big.Int).Sub(payeeAfter, payeeBefore)
	want := new(big.Int).SetInt64(int64(calls)*1000 + 50_000)
	if paid.Cmp(want) != 0 || received.Cmp(want) != 0 {
		return sum, fmt.Errorf("balances moved by %s (payer) and %s (payee), want %s", paid, received, want)
	}
	sum.TotalPaid = formatUnits(paid, decimals) + " USDC"
	sum.GasPerSettlement = gasTotal / uint64(len(sum.Calls))
	sum.AverageLatencyMs = float64(totalLatency.Microseconds()) / 1000 / float64(len(sum.Calls))
	if compare > 0 {
		if sum.Comparison, err = demoCompare(ctx, steps, stack, compare); err != nil {
			return sum, err
		}
		printDemoComparison(steps, sum.Comparison)
	}
	sum.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	sum.OK = true
	printDemoSummary(steps, sum)
	return sum, nil
}

// demoBudget is what the demo's agent may pay in total.
const demoBudget = "$0.10"

// newDemoAgent returns the demo's agent: a paying client of the stack's
// payer, with a budget it cannot exceed, whose exchanges steps shows.
func newDemoAgent(steps *demoSteps, quiet *slog.Logger, stack *stack) (*client.Client, error) {
	// 4. The agent, with a budget it cannot exceed.
	signer, err := evm.NewPrivateKeySignerFromECDSA(stack.payer.PrivateKey)
	if err != nil {
		return nil, err
	}
	assets, err := client.AssetsFromNetworks(stack.nets)
	if err != nil {
		return nil, err
	}
	agent, err := client.NewEVM(signer, client.Config{
		Assets: assets,
		Policy: client.Policy{MaxPerRequest: "$0.05", Budget: demoBudget},
		Base:   observingTransport{base: http.DefaultTransport, steps: steps},
		Logger: quiet,
	})
	if err != nil {
		return nil, err
	}
	steps.printf("4. agent      payer %s, budget %s, at most $0.05 per request\n\n", short(stack.payer.Address.Hex()), demoBudget)
	return agent, nil
}

// demoBalances returns the test USDC balances of the payer and the payee.
func demoBalances(ctx context.Context, stack *stack) (payer, payee *big.Int, err error) {
	payer, err = stack.devnet.BalanceOf(ctx, stack.payer.Address)
	if err != nil {
		return nil, nil, err
	}
	payee, err = stack.devnet.BalanceOf(ctx, stack.seller.Address)
	if err != nil {
		return nil, nil, err
	}
	return payer, payee, nil
}

// demoPaidCall makes one paid GET of path and checks that it was served
// and settled. It returns the call and its latency.
func demoPaidCall(ctx context.Context, stack *stack, httpc *http.Client, path string) (demoCall, time.Duration, error) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.apiURL+path, nil)
	if err != nil {
		return demoCall{}, 0, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return demoCall{}, 0, fmt.Errorf("calling %s: %w", path, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	lat := time.Since(t0)
	call := demoCall{Path: path, Status: resp.StatusCode, LatencyMs: float64(lat.Microseconds()) / 1000, Body: string(body)}
	rec, ok := client.ReceiptFromResponse(resp)
	if resp.StatusCode != http.StatusOK || !ok || rec.Settlement == nil || !rec.Settlement.Success {
		return demoCall{}, 0, fmt.Errorf("call %s: status %d, payment receipt %v", path, resp.StatusCode, ok)
	}
	call.Price, call.Payer, call.Transaction = rec.Option.Price, rec.Payer, rec.Settlement.Transaction
	if r, err := stack.devnet.Client().TransactionReceipt(ctx, common.HexToHash(call.Transaction)); err == nil {
		call.GasUsed = r.GasUsed
	}
	return call, lat, nil
}

// demoOverBudget checks that the agent refuses one more report, which
// would exceed its budget, before signing anything.
func demoOverBudget(ctx context.Context, steps *demoSteps, httpc *http.Client, apiURL string, sum *demoSummary) error {
	steps.printf("one more report ($0.05) would exceed the agent's budget:\n")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/report", nil)
	resp, err := httpc.Do(req)
	if err == nil {
		resp.Body.Close()
		return fmt.Errorf("the agent paid beyond its budget (status %d)", resp.StatusCode)
	}
	var pe *client.PolicyError
	if !errors.As(err, &pe) {
		return fmt.Errorf("expected a budget refusal, got: %w", err)
	}
	sum.AgentBudgetRefusals++
	steps.printf("     ✗ refused by the agent's policy before signing: %v\n\n", pe)
	return nil
}

// printDemoSummary shows the balances and the totals of a demo that
// passed.
func printDemoSummary(steps *demoSteps, sum *demoSummary) {
	steps.printf("balances (test USDC)\n")
	steps.printf("   payer  %s  %s → %s\n", short(sum.Payer.Address), sum.Payer.Before, sum.Payer.After)
	steps.printf("   payee  %s  %s → %s\n\n", short(sum.Payee.Address), sum.Payee.Before, sum.Payee.After)
	steps.printf("summary: %d paid calls, %s paid, %d gas per settlement, %.1f ms per paid call on average, done in %.2f s\n",
		len(sum.Calls), sum.TotalPaid, sum.GasPerSettlement, sum.AverageLatencyMs, sum.ElapsedMs/1000)
}

// devInfo is the info file of `go402 dev`: the devnet's fields plus the
// number of payer accounts, the facilitator URL and the paid endpoints.
type devInfo struct {
	devnet.Info
	// Payers is how many accounts, first in Accounts, are funded payers
	// that the services never use.
	Payers         int    `json:"payers"`
	FacilitatorURL string `json:"facilitatorUrl"`
	// MetricsURL is the paid API's Prometheus endpoint;
	// FacilitatorMetricsURL the facilitator's.
	MetricsURL            string `json:"metricsUrl"`
	FacilitatorMetricsURL string `json:"facilitatorMetricsUrl"`
	// ReadyURL is the paid API's readiness probe (its queue and the
	// facilitator's ledger, RPC and signer gas checks).
	ReadyURL  string        `json:"readyUrl"`
	Endpoints []devEndpoint `json:"endpoints"`
	// MCP is the MCP endpoint (streamable HTTP) and its paid tools.
	MCP *devMCP `json:"mcp,omitempty"`
}

// devEndpoint is one paid endpoint of an info file: its URL, method and
// price, the payee, the payment scheme and when the payment is settled
// ("settle-before-serve" or "serve-then-settle" for exact,
// "serve-then-claim" for batch-settlement), so that a client can pick one
// of each policy.
type devEndpoint struct {
	URL    string `json:"url"`
	Method string `json:"method"`
	Price  string `json:"price"`
	PayTo  string `json:"payTo"`
	Scheme string `json:"scheme"`
	Policy string `json:"policy"`
	// SettleIntervalSeconds is, for a batch-settlement endpoint, how often
	// the server claims its idle channels' vouchers on chain.
	SettleIntervalSeconds int `json:"settleIntervalSeconds,omitempty"`
}

// policyServeThenClaim is the policy of a batch-settlement endpoint: each
// call's voucher is verified locally against the escrowed deposit before
// it is served, and claimed on chain later, many vouchers per transaction.
const policyServeThenClaim = "serve-then-claim"

const devUsage = `dev [--listen ADDR] [--info-file PATH]

Runs, until interrupted (Ctrl-C), a devnet, a go402 facilitator and a
sample paid API (GET /weather at $0.001 and GET /report at $0.05, settled
before they are served; GET /ticker at $0.001, served and then settled; GET /metered at $0.001
paid by batch-settlement vouchers on a payment channel, claimed on chain
every 30 s once the channel is idle for 5 s, and at exit; GET /forecast
at 0.002 TPD, a test token without EIP-3009 paid through Permit2, whose
402 declares EIP-2612 gas sponsoring so that a payer that never approved
Permit2 can pay; GET /generate metered with upto: at most $0.01,
charged $0.0001 a token generated, a varying number, sometimes none),
an MCP endpoint at /mcp (streamable HTTP) with the paid tools "weather"
($0.001) and "report" ($0.05, exact), "generate" (upto: at most $0.01,
charged $0.0001 a token) and the free "ping", all on
loopback, and prints the line to pay the API with "go402 pay" from another
terminal. The paid API listens on --listen; the devnet's JSON-RPC and the
facilitator on free loopback ports (see the info file). DEV ONLY: the
devnet keys are public.`

func runDev(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "dev", devUsage)
	listen := fs.String("listen", "127.0.0.1:0", "the paid API's listen `address` host:port (loopback only; port 0 picks a free port)")
	infoFile := fs.String("info-file", "", "write the devnet, facilitator and endpoint URLs as JSON to this `path` (default: a temporary file); it is deleted on exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := checkLoopback(*listen); err != nil {
		return usagef("--listen: %v", err)
	}
	var cleanup closers
	defer func() { _ = cleanup.close() }()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	steps := &demoSteps{out: e.stdout}
	steps.printf("go402 dev: a devnet, a facilitator and a paid API on loopback (DEV ONLY)\n\n")
	st, err := startStack(ctx, steps, quiet, &cleanup, stackOptions{rpc: true, apiAddr: *listen})
	if err != nil {
		return err
	}
	info := devInfo{Info: st.devnet.Info(), Payers: stackPayers, FacilitatorURL: st.facURL, Endpoints: []devEndpoint{
		{URL: st.apiURL + "/weather", Method: http.MethodGet, Price: "$0.001", PayTo: st.seller.Address.Hex(), Scheme: evm.SchemeExact, Policy: gateway.PolicySettleBeforeServe},
		{URL: st.apiURL + "/report", Method: http.MethodGet, Price: "$0.05", PayTo: st.seller.Address.Hex(), Scheme: evm.SchemeExact, Policy: gateway.PolicySettleBeforeServe},
		{URL: st.apiURL + "/ticker", Method: http.MethodGet, Price: "$0.001", PayTo: st.seller.Address.Hex(), Scheme: evm.SchemeExact, Policy: gateway.PolicyServeThenSettle},
		{URL: st.apiURL + stackChannelPath, Method: http.MethodGet, Price: "$0.001", PayTo: st.seller.Address.Hex(), Scheme: batchsettlement.Scheme,
			Policy: policyServeThenClaim, SettleIntervalSeconds: int(devClaimInterval / time.Second)},
		{URL: st.apiURL + stackPermit2Path, Method: http.MethodGet, Price: stackPermit2Price, PayTo: st.seller.Address.Hex(), Scheme: evm.SchemeExact, Policy: gateway.PolicySettleBeforeServe},
		{URL: st.apiURL + stackUptoPath, Method: http.MethodGet, Price: stackUptoMax, PayTo: st.seller.Address.Hex(), Scheme: upto.Scheme, Policy: gateway.PolicySettleBeforeServe},
	}}
	info.MCP = &devMCP{URL: st.apiURL + stackMCPPath, Tools: st.mcpTools}
	info.MetricsURL, info.FacilitatorMetricsURL = st.apiURL+"/metrics", st.facURL+"/metrics"
	info.ReadyURL = st.apiURL + "/ready"
	runStackClaims(ctx, st.channels, watchedClaimConfig(st), quiet, &cleanup)
	infoPath, err := devInfoPath(*infoFile)
	if err != nil {
		return err
	}
	if err := writeJSONFile(infoPath, info); err != nil {
		return err
	}
	cleanup.add(func() error { return os.Remove(infoPath) })
	steps.printf("\ndevnet RPC   %s\n", st.devnet.RPCURL())
	steps.printf("info file    %s (deleted on exit)\n", infoPath)
	steps.printf("metrics      %s (paid API), %s (facilitator)\n", info.MetricsURL, info.FacilitatorMetricsURL)
	steps.printf("ready        %s\n", info.ReadyURL)
	steps.printf("MCP tools    %s (streamable HTTP): %s\n", info.MCP.URL, mcpToolList(info.MCP.Tools))
	steps.printf("payers       accounts 0-%d (keys in the info file; these keys are public, DEV ONLY)\n\n", stackPayers-1)
	steps.printf("try it:\n")
	steps.printf("  curl -i %s/weather\n", st.apiURL)
	steps.printf("  GO402_PAYER_KEY=%s %s pay --devnet-info %s %s/weather\n", hexKey(st.payer), selfCommand(os.Args[0]), shellQuote(infoPath), st.apiURL)
	steps.printf("  (batch-settlement: add --channel-file channels.json --max '$2' and pay %s%s)\n", st.apiURL, stackChannelPath)
	steps.printf("  (upto: pay %s%s, charged per token used, at most %s)\n\n", st.apiURL, stackUptoPath, stackUptoMax)
	steps.printf("Press Ctrl-C to stop.\n")
	<-ctx.Done()
	return nil
}

// checkLoopback accepts a host:port whose host is a loopback IP address or
// localhost.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not a loopback address (go402 dev serves on loopback only)", addr)
	}
	return nil
}

// devInfoPath returns the absolute path of the info file: flag, or a new
// temporary file when it is empty.
func devInfoPath(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	f, err := os.CreateTemp("", "go402-dev-*.json")
	if err != nil {
		return "", fmt.Errorf("creating the info file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// hexKey is a devnet account's public dev key, for the copy-paste line.
func hexKey(a devnet.Account) string {
	return fmt.Sprintf("0x%x", crypto.FromECDSA(a.PrivateKey))
}
