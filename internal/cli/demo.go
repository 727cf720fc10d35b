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
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
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
	// Error says why the demo failed; "" when OK.
	Error string `json:"error"`
}

// demoSteps prints each step of the flow as it happens (text mode).
type demoSteps struct {
	mu  sync.Mutex
	out io.Writer // nil in --json mode
}

func (s *demoSteps) printf(format string, args ...any) {
	if s.out == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format, args...)
}

// observingTransport reports the agent's side of the handshake.
type observingTransport struct {
	base  http.RoundTripper
	steps *demoSteps
}

func (t observingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get(x402.HeaderPaymentSignature) != "" {
		t.steps.printf("     → authorization signed (EIP-3009, EIP-712); retrying with PAYMENT-SIGNATURE\n")
	} else {
		t.steps.printf("   GET %s\n", r.URL.Path)
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusPaymentRequired && r.Header.Get(x402.HeaderPaymentSignature) == "" {
		if pr, derr := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired)); derr == nil && len(pr.Accepts) > 0 {
			a := pr.Accepts[0]
			t.steps.printf("     ← 402 Payment Required: %s atomic units (%s USDC) to %s on %s\n", a.Amount, a.Amount.Format(6), short(a.PayTo), a.Network)
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
		f.steps.printf("     ✓ verified by the facilitator (payer %s)\n", short(v.Payer))
	} else if err == nil {
		f.steps.printf("     ✗ rejected by the facilitator: %s %s\n", v.InvalidReason, v.InvalidMessage)
	}
	return v, err
}

func (f observingFacilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.steps.printf("     ✓ served by the API (response held until the payment settles)\n")
	s, err := f.Facilitator.Settle(ctx, req)
	if err == nil && s.Success {
		f.steps.printf("     ✓ settled on chain: tx %s\n", s.Transaction)
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
	demoDefaultTimeout = 60 * time.Second
)

// demoTimeoutError is the cause of a demo cut short by --timeout.
type demoTimeoutError struct{ after time.Duration }

func (e demoTimeoutError) Error() string {
	return fmt.Sprintf("the demo did not finish within %v (--timeout): a step hung", e.after)
}

func runDemo(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "demo", `demo [--json] [--calls N] [--timeout D]

Runs a complete paid x402 flow on an embedded devnet, offline, and prints
each step: an agent with a budget pays a sample API through a go402
facilitator, and the balances are checked. --json prints one JSON summary.`)
	jsonOut := fs.Bool("json", false, "print one JSON summary instead of the step-by-step text")
	calls := fs.Int("calls", 3, fmt.Sprintf("number of weather calls the agent makes (plus one report), 1 to %d", demoMaxCalls))
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
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	dctx, cancel := context.WithTimeoutCause(ctx, *timeout, demoTimeoutError{*timeout})
	defer cancel()
	sum, err := demo(dctx, e, *calls, *jsonOut)
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

func demo(ctx context.Context, e env, calls int, jsonOut bool) (*demoSummary, error) {
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
	d, network, tok, nets := stack.devnet, stack.network, stack.devnet.Token(), stack.nets
	payer, seller, facKey := stack.payer, stack.seller, stack.facKey
	facURL, apiURL := stack.facURL, stack.apiURL

	// 4. The agent, with a budget it cannot exceed.
	signer, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		return nil, err
	}
	const budget = "$0.10"
	assets, err := client.AssetsFromNetworks(nets)
	if err != nil {
		return nil, err
	}
	agent, err := client.NewEVM(signer, client.Config{
		Assets: assets,
		Policy: client.Policy{MaxPerRequest: "$0.05", Budget: budget},
		Base:   observingTransport{base: http.DefaultTransport, steps: steps},
		Logger: quiet,
	})
	if err != nil {
		return nil, err
	}
	steps.printf("4. agent      payer %s, budget %s, at most $0.05 per request\n\n", short(payer.Address.Hex()), budget)

	sum := &demoSummary{Calls: []demoCall{}, Network: string(network), FacilitatorURL: facURL, APIURL: apiURL, FacilitatorAccount: facKey.Address.Hex(), AgentBudget: budget,
		Payer: demoBalance{Address: payer.Address.Hex()}, Payee: demoBalance{Address: seller.Address.Hex()}}
	payerBefore, err := d.BalanceOf(ctx, payer.Address)
	if err != nil {
		return sum, err
	}
	payeeBefore, err := d.BalanceOf(ctx, seller.Address)
	if err != nil {
		return sum, err
	}
	sum.Payer.Before, sum.Payee.Before = formatUnits(payerBefore, int(tok.Decimals)), formatUnits(payeeBefore, int(tok.Decimals))

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
		t0 := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+p, nil)
		if err != nil {
			return sum, err
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return sum, fmt.Errorf("calling %s: %w", p, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		lat := time.Since(t0)
		totalLatency += lat
		call := demoCall{Path: p, Status: resp.StatusCode, LatencyMs: float64(lat.Microseconds()) / 1000, Body: string(body)}
		rec, ok := client.ReceiptFromResponse(resp)
		if resp.StatusCode != http.StatusOK || !ok || rec.Settlement == nil || !rec.Settlement.Success {
			return sum, fmt.Errorf("call %s: status %d, payment receipt %v", p, resp.StatusCode, ok)
		}
		call.Price, call.Payer, call.Transaction = rec.Option.Price, rec.Payer, rec.Settlement.Transaction
		if r, err := d.Client().TransactionReceipt(ctx, common.HexToHash(call.Transaction)); err == nil {
			call.GasUsed = r.GasUsed
			gasTotal += r.GasUsed
		}
		sum.Calls = append(sum.Calls, call)
		steps.printf("     ← 200 %s  (paid %s, %.1f ms, %d gas)\n\n", body, call.Price, call.LatencyMs, call.GasUsed)
	}

	// The budget holds: one more report would exceed it.
	steps.printf("one more report ($0.05) would exceed the agent's budget:\n")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/report", nil)
	if resp, err := httpc.Do(req); err == nil {
		resp.Body.Close()
		return sum, fmt.Errorf("the agent paid beyond its budget (status %d)", resp.StatusCode)
	} else {
		var pe *client.PolicyError
		if !errors.As(err, &pe) {
			return sum, fmt.Errorf("expected a budget refusal, got: %w", err)
		}
		sum.AgentBudgetRefusals++
		steps.printf("     ✗ refused by the agent's policy before signing: %v\n\n", pe)
	}

	payerAfter, err := d.BalanceOf(ctx, payer.Address)
	if err != nil {
		return sum, err
	}
	payeeAfter, err := d.BalanceOf(ctx, seller.Address)
	if err != nil {
		return sum, err
	}
	sum.Payer.After, sum.Payee.After = formatUnits(payerAfter, int(tok.Decimals)), formatUnits(payeeAfter, int(tok.Decimals))
	paid := new(big.Int).Sub(payerBefore, payerAfter)
	received := new(big.Int).Sub(payeeAfter, payeeBefore)
	want := new(big.Int).SetInt64(int64(calls)*1000 + 50_000)
	if paid.Cmp(want) != 0 || received.Cmp(want) != 0 {
		return sum, fmt.Errorf("balances moved by %s (payer) and %s (payee), want %s", paid, received, want)
	}
	sum.TotalPaid = formatUnits(paid, int(tok.Decimals)) + " USDC"
	sum.GasPerSettlement = gasTotal / uint64(len(sum.Calls))
	sum.AverageLatencyMs = float64(totalLatency.Microseconds()) / 1000 / float64(len(sum.Calls))
	sum.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	sum.OK = true

	steps.printf("balances (test USDC)\n")
	steps.printf("   payer  %s  %s → %s\n", short(sum.Payer.Address), sum.Payer.Before, sum.Payer.After)
	steps.printf("   payee  %s  %s → %s\n\n", short(sum.Payee.Address), sum.Payee.Before, sum.Payee.After)
	steps.printf("summary: %d paid calls, %s paid, %d gas per settlement, %.1f ms per paid call on average, done in %.2f s\n",
		len(sum.Calls), sum.TotalPaid, sum.GasPerSettlement, sum.AverageLatencyMs, sum.ElapsedMs/1000)
	return sum, nil
}

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
}

// startStack starts the devnet, the facilitator (over HTTP) and the sample
// paid API (weather at $0.001, a report at $0.05).
//
// Accounts 0-3 (stackPayers) are funded payers the services never use; 4
// receives the API's payments and 5 settles.
func startStack(ctx context.Context, steps *demoSteps, quiet *slog.Logger, cleanup *closers, opts stackOptions) (*stack, error) {
	// 1. The chain.
	dcfg := devnet.Config{Accounts: stackAccounts, TimestampLead: stackTimestampLead}
	if opts.rpc {
		dcfg.RPCAddr = "127.0.0.1:0"
	}
	d, err := devnet.Start(ctx, dcfg)
	if err != nil {
		return nil, fmt.Errorf("starting the devnet: %w", err)
	}
	cleanup.add(d.Close)
	accts := d.Accounts()
	payer, seller, facKey := accts[0], accts[stackPayers], accts[stackPayers+1]
	network := x402.Network(d.Network())
	tok := d.Token()
	steps.printf("1. devnet     chain %s, test USDC %s (EIP-3009)\n", network, tok.Address.Hex())

	// 2. The facilitator, over HTTP on loopback.
	svc, err := service.New(ctx, &config.Config{Instance: "demo"}, service.Deps{Logger: quiet, Networks: []service.Network{{
		Network: network, Backend: d.Client(), Key: facKey.PrivateKey, Assets: d.NetworkConfig().Assets, PollInterval: 20 * time.Millisecond,
	}}})
	if err != nil {
		return nil, err
	}
	cleanup.add(svc.Close)
	facURL, err := serveLoopback(ctx, svc.Handler(), cleanup)
	if err != nil {
		return nil, err
	}
	steps.printf("2. facilitator %s (settles from %s)\n", facURL, short(facKey.Address.Hex()))

	// 3. The paid API: weather at $0.001, a report at $0.05.
	facClient, err := remote.New(remote.Config{URL: facURL, Logger: quiet})
	if err != nil {
		return nil, err
	}
	nets := &evm.Networks{}
	if err := d.Register(nets); err != nil {
		return nil, err
	}
	opt := func(price string) []x402http.PaymentOption {
		return []x402http.PaymentOption{{Network: network, Price: price, PayTo: seller.Address.Hex()}}
	}
	mw, err := x402http.New(x402http.Config{
		Facilitator: observingFacilitator{facClient, steps},
		Schemes:     evm.ServerSchemes(nets),
		Logger:      quiet,
		Routes: []x402http.Route{
			{Pattern: "GET /weather", Accepts: opt("$0.001"), Description: "Current weather", MimeType: "application/json"},
			{Pattern: "GET /report", Accepts: opt("$0.05"), Description: "Quarterly report", MimeType: "application/json"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /weather", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city":"Lisbon","forecast":"sunny","celsius":22}`)
	})
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"quarter":"Q3","revenue":"1.2M","growth":"12%"}`)
	})
	apiAddr := opts.apiAddr
	if apiAddr == "" {
		apiAddr = "127.0.0.1:0"
	}
	apiURL, err := serveOn(ctx, apiAddr, mw.Handler(mux), cleanup)
	if err != nil {
		return nil, err
	}
	steps.printf("3. paid API   %s  GET /weather $0.001, GET /report $0.05 (payTo %s)\n", apiURL, short(seller.Address.Hex()))

	return &stack{devnet: d, network: network, nets: nets, payer: payer, seller: seller, facKey: facKey, facURL: facURL, apiURL: apiURL}, nil
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
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = srv.Serve(ln) }()
	cleanup.add(func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return "http://" + ln.Addr().String(), nil
}

// devInfo is the info file of `go402 dev`: the devnet's fields plus the
// number of payer accounts, the facilitator URL and the paid endpoints.
type devInfo struct {
	devnet.Info
	// Payers is how many accounts, first in Accounts, are funded payers
	// that the services never use.
	Payers         int           `json:"payers"`
	FacilitatorURL string        `json:"facilitatorUrl"`
	Endpoints      []devEndpoint `json:"endpoints"`
}

type devEndpoint struct {
	URL    string `json:"url"`
	Method string `json:"method"`
	Price  string `json:"price"`
	PayTo  string `json:"payTo"`
}

const devUsage = `dev [--listen ADDR] [--info-file PATH]

Runs, until interrupted (Ctrl-C), a devnet, a go402 facilitator and a
sample paid API (GET /weather at $0.001, GET /report at $0.05), all on
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
		{URL: st.apiURL + "/weather", Method: http.MethodGet, Price: "$0.001", PayTo: st.seller.Address.Hex()},
		{URL: st.apiURL + "/report", Method: http.MethodGet, Price: "$0.05", PayTo: st.seller.Address.Hex()},
	}}
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
	steps.printf("payers       accounts 0-%d (keys in the info file; these keys are public, DEV ONLY)\n\n", stackPayers-1)
	steps.printf("try it:\n")
	steps.printf("  curl -i %s/weather\n", st.apiURL)
	steps.printf("  GO402_PAYER_KEY=%s %s pay --devnet-info %s %s/weather\n\n", hexKey(st.payer), selfCommand(os.Args[0]), shellQuote(infoPath), st.apiURL)
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
