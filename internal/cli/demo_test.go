package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/health"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/go402/go402/devnet"
)

func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(t.Context(), []string{"demo", "--json", "--calls", "2", "--compare", "0"}, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	var sum demoSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.OK || sum.Error != "" || len(sum.Calls) != 3 || sum.TotalPaid != "0.052 USDC" || sum.GasPerSettlement == 0 || sum.AgentBudgetRefusals != 1 {
		t.Errorf("%+v", sum)
	}
	for _, c := range sum.Calls {
		if c.Status != 200 || !strings.HasPrefix(c.Transaction, "0x") || c.Payer != sum.Payer.Address {
			t.Errorf("call %+v", c)
		}
	}
	if sum.Payer.Before != "1000000" || sum.Payer.After != "999999.948" || sum.Payee.After != "1000000.052" {
		t.Errorf("balances %+v %+v", sum.Payer, sum.Payee)
	}

	// The human-readable flow names every step.
	out.Reset()
	if code := Run(t.Context(), []string{"demo", "--calls", "1", "--compare", "0"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, step := range []string{"402 Payment Required", "authorization signed", "verified", "served", "settled on chain: tx 0x", "refused by the agent's policy", "summary:"} {
		if !strings.Contains(out.String(), step) {
			t.Errorf("output lacks %q:\n%s", step, out.String())
		}
	}
}

// With the devnet's default 10 s timestamp lead, settlements beyond the
// tenth of a burst came one per second: 51 paid calls took over 40 s. The
// stack's lead lets the largest demo finish in seconds: its chain mines 51
// blocks in a burst without waiting for the clock, its head running more
// than the default lead ahead of it.
func TestDemoMaxCallsIsNotPacedByTheClock(t *testing.T) {
	var cleanup closers
	defer func() { _ = cleanup.close() }()
	st, err := startStack(t.Context(), &demoSteps{}, slog.New(slog.DiscardHandler), &cleanup, stackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 51 {
		if err := st.devnet.Mint(t.Context(), st.payer.Address, big.NewInt(1)); err != nil {
			t.Fatal(err)
		}
	}
	head, err := st.devnet.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Timestamps have one-second resolution; the head is compared with the
	// clock after it was mined, so the lead is never overstated.
	if lead := time.Duration(int64(head.Time)-time.Now().Unix()) * time.Second; lead <= devnet.MaxTimestampLead {
		t.Errorf("after a burst of 51 blocks the head is only %v ahead of the clock: the stack's chain waits for it", lead)
	}

	var out, errOut bytes.Buffer
	code := Run(t.Context(), []string{"demo", "--json", "--calls", "50", "--compare", "0"}, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	var sum demoSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.OK || len(sum.Calls) != 51 || sum.TotalPaid != "0.1 USDC" {
		t.Errorf("%+v", sum)
	}
}

func TestDemoTimeout(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(t.Context(), []string{"demo", "--json", "--timeout", "1ms"}, strings.NewReader(""), &out, &errOut)
	if code != ExitError {
		t.Fatalf("exit %d, want %d: %s %s", code, ExitError, out.String(), errOut.String())
	}
	var sum map[string]any
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	msg, _ := sum["error"].(string)
	if sum["ok"] != false || !strings.Contains(msg, "did not finish within 1ms") {
		t.Errorf("summary %v", sum)
	}
	if !strings.Contains(errOut.String(), "go402 demo: demo failed: the demo did not finish within 1ms") {
		t.Errorf("stderr: %s", errOut.String())
	}
}

func TestDemoAndDevUsage(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "extra"},
		{"demo", "--json", "extra", "args"},
		{"demo", "--calls", "51"},
		{"demo", "--calls", "0"},
		{"demo", "--timeout", "0s"},
		{"dev", "extra-arg"},
		{"dev", "--info-file", "x.json", "extra-arg"},
		{"dev", "--listen", "0.0.0.0:8402"},
		{"dev", "--listen", "192.0.2.1:8402"},
		{"dev", "--listen", "example.com:8402"},
		{"dev", "--listen", "127.0.0.1"},
	} {
		var out, errOut bytes.Buffer
		if code := Run(t.Context(), args, strings.NewReader(""), &out, &errOut); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d: %s", args, code, ExitUsage, errOut.String())
		}
	}
}

func TestDevSelfCommand(t *testing.T) {
	hash := strings.Repeat("7b", 32)
	abs, err := filepath.Abs("go402")
	if err != nil {
		t.Fatal(err)
	}
	for argv0, want := range map[string]string{
		"/tmp/go-build1234/b001/exe/go402":              goRunCommand,
		"/root/.cache/go-build/7b/" + hash + "-d/go402": goRunCommand,
		"/srv/gocache/7b/" + hash + "-d/go402":          goRunCommand,
		"/tmp/go-build99/b001/cli.test":                 goRunCommand,
		"go402":                                         "go402",
		"./go402":                                       abs,
		"/usr/local/bin/go402":                          "/usr/local/bin/go402",
		"/opt/my tools/go402":                           "'/opt/my tools/go402'",
		"/opt/it's/go402":                               `'/opt/it'\''s/go402'`,
		"/srv/7b/" + hash[:10] + "-d/go402":             "/srv/7b/" + hash[:10] + "-d/go402",
	} {
		if got := selfCommand(argv0); got != want {
			t.Errorf("selfCommand(%q) = %q, want %q", argv0, got, want)
		}
	}
}

// devOutput is a buffer that `go402 dev` writes to while the test reads.
type devOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *devOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *devOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// payLine matches the copy-paste line `go402 dev` prints.
var payLine = regexp.MustCompile(`(?m)^  GO402_PAYER_KEY=(0x[0-9a-f]{64}) (.+) pay --devnet-info (\S+) (http://\S+/weather)$`)

// TestDevAndPay runs `go402 dev` without --info-file: the info file is a
// temporary one whose path the printed pay line names, and the pay line
// works as printed.
func TestDevAndPay(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut devOutput
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"dev"}, strings.NewReader(""), &out, &errOut) }()
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no pay line:\n%s\n%s", out.String(), errOut.String())
		}
		m = payLine.FindStringSubmatch(out.String())
	}
	key, command, info, url := m[1], m[2], m[3], m[4]
	if command != goRunCommand || !filepath.IsAbs(info) || !strings.Contains(out.String(), "info file    "+info+" (deleted on exit)") {
		t.Errorf("pay line %q; output:\n%s", m[0], out.String())
	}
	raw, err := os.ReadFile(info)
	if err != nil {
		t.Fatal(err)
	}
	var di devInfo
	if err := json.Unmarshal(raw, &di); err != nil {
		t.Fatal(err)
	}
	if di.RPCURL == "" || di.FacilitatorURL == "" || len(di.Endpoints) != 6 || len(di.Accounts) != stackAccounts || di.Endpoints[0].Price != "$0.001" || di.Endpoints[0].URL != url {
		t.Fatalf("info %+v", di)
	}
	// Every existing field is still there, and "payers" is added.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rpcUrl", "chainId", "network", "token", "accounts", "facilitatorUrl", "endpoints", "payers", "readyUrl"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("info file lacks %q: %s", k, raw)
		}
	}
	if !bytes.Contains(raw, []byte(`"settleIntervalSeconds"`)) || !bytes.Contains(raw, []byte(`"batch-settlement"`)) {
		t.Errorf("info file lacks the batch-settlement endpoint: %s", raw)
	}
	if di.Payers != 4 || di.Accounts[0].PrivateKey != key {
		t.Fatalf("payers %d, first key %s; the pay line's key %s", di.Payers, di.Accounts[0].PrivateKey, key)
	}
	// The facilitator and the paid API answer the probes: liveness, and
	// readiness with their checks.
	apiBase := url[:strings.Index(url[len("http://"):], "/")+len("http://")]
	if di.ReadyURL != apiBase+"/ready" {
		t.Errorf("info file: readyUrl %q, want %s/ready", di.ReadyURL, apiBase)
	}
	for base, checks := range map[string]string{di.FacilitatorURL: "ledger,rpc eip155:31337,gas eip155:31337", apiBase: "queue,ledger,rpc eip155:31337,gas eip155:31337"} {
		var rep health.Report
		if status, err := call(ctx, http.MethodGet, base+"/health", nil, nil); err != nil || status != http.StatusOK {
			t.Errorf("%s/health: %d %v", base, status, err)
		}
		status, err := call(ctx, http.MethodGet, base+"/ready", nil, &rep)
		var names []string
		for _, c := range rep.Checks {
			names = append(names, c.Name)
		}
		if err != nil || status != http.StatusOK || strings.Join(names, ",") != checks {
			t.Errorf("%s/ready: %d %v %+v, want checks %s", base, status, err, rep, checks)
		}
	}

	// The pay line, as printed.
	t.Setenv("GO402_PAYER_KEY", key)
	var pout, perr bytes.Buffer
	if code := Run(ctx, []string{"pay", "--devnet-info", info, url}, strings.NewReader(""), &pout, &perr); code != 0 {
		t.Fatalf("pay exit %d: %s", code, perr.String())
	}
	tx := regexp.MustCompile(`tx (0x[0-9a-f]{64})`).FindStringSubmatch(perr.String())
	if !strings.Contains(pout.String(), "sunny") || !strings.Contains(perr.String(), "paid 0.001 USDC") || tx == nil {
		t.Fatalf("pay output: %q / %q", pout.String(), perr.String())
	}

	checkDevMetrics(t, di)

	// The payers are neither the payee nor the facilitator's settlement
	// key (the sender of the settlement).
	ec, err := ethclient.DialContext(ctx, di.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	settled, _, err := ec.TransactionByHash(ctx, common.HexToHash(tx[1]))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := types.Sender(types.LatestSignerForChainID(settled.ChainId()), settled)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range di.Accounts[:di.Payers] {
		if a.Address == di.Endpoints[0].PayTo || a.Address == sender.Hex() {
			t.Errorf("payer account %d %s is used by the services (payee %s, facilitator %s)", i, a.Address, di.Endpoints[0].PayTo, sender.Hex())
		}
	}
	if sender.Hex() != di.Accounts[stackAccounts-1].Address {
		t.Errorf("settled by %s, want the last account %s", sender.Hex(), di.Accounts[stackAccounts-1].Address)
	}
	checkDevPolicies(t, ctx, ec, di, info, key)
	checkDevUpto(t, ctx, ec, di, info, di.Accounts[1].PrivateKey)
	checkDevPermit2(t, ctx, ec, di, info)

	cancel()
	if code := <-done; code != 0 {
		t.Errorf("dev exit %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(info); !os.IsNotExist(err) {
		t.Errorf("the info file outlived go402 dev: %v", err)
	}
}

// TestDevInfoFileFlag: --info-file names the file, relative to the
// working directory, and the pay line prints its absolute path.
func TestDevInfoFileFlag(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut devOutput
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"dev", "--info-file", "dev.json"}, strings.NewReader(""), &out, &errOut)
	}()
	abs, err := filepath.Abs("dev.json")
	if err != nil {
		t.Fatal(err)
	}
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no pay line:\n%s\n%s", out.String(), errOut.String())
		}
		m = payLine.FindStringSubmatch(out.String())
	}
	if m[3] != abs {
		t.Errorf("pay line names %q, want %q", m[3], abs)
	}
	var di devInfo
	if raw, err := os.ReadFile("dev.json"); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &di); err != nil || di.Payers != stackPayers {
		t.Errorf("info: %v, %+v", err, di)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("dev exit %d: %s", code, errOut.String())
	}
	if _, err := os.Stat("dev.json"); !os.IsNotExist(err) {
		t.Errorf("the info file outlived go402 dev: %v", err)
	}
}

// checkDevPolicies: the info file announces one exact GET endpoint per
// settlement policy, and the serve-then-settle one is served, then
// settled on chain.
func checkDevPolicies(t *testing.T, ctx context.Context, ec *ethclient.Client, di devInfo, infoPath, key string) {
	t.Helper()
	byPolicy := map[string]devEndpoint{}
	for _, ep := range di.Endpoints {
		if ep.Scheme == "upto" {
			continue // checkDevUpto
		}
		want := "exact"
		if ep.Policy == policyServeThenClaim {
			want = "batch-settlement"
			if ep.SettleIntervalSeconds < 30 || !strings.HasSuffix(ep.URL, stackChannelPath) {
				t.Errorf("batch-settlement endpoint %+v: want settleIntervalSeconds ≥ 30", ep)
			}
		} else if ep.SettleIntervalSeconds != 0 {
			t.Errorf("exact endpoint %+v has a settleIntervalSeconds", ep)
		}
		if ep.Scheme != want || ep.Method != http.MethodGet {
			t.Errorf("endpoint %+v: want a %s GET endpoint", ep, want)
		}
		byPolicy[ep.Policy] = ep
	}
	sts, ok := byPolicy["serve-then-settle"]
	_, sbs := byPolicy["settle-before-serve"]
	if _, stc := byPolicy[policyServeThenClaim]; !stc || !sbs || !ok || len(byPolicy) != 3 {
		t.Fatalf("endpoints by policy %v: want settle-before-serve, serve-then-settle and serve-then-claim", byPolicy)
	}
	token, payTo := common.HexToAddress(di.Token.Address), common.HexToAddress(sts.PayTo)
	before := tokenBalance(t, ctx, ec, token, payTo)
	t.Setenv("GO402_PAYER_KEY", key)
	var out, errOut bytes.Buffer
	if code := Run(ctx, []string{"pay", "--devnet-info", infoPath, sts.URL}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("pay %s: exit %d: %s", sts.URL, code, errOut.String())
	}
	if !strings.Contains(out.String(), "ETH-USD") {
		t.Fatalf("pay %s: body %q", sts.URL, out.String())
	}
	want := new(big.Int).Add(before, big.NewInt(1000)) // $0.001 of a 6-decimal token
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := tokenBalance(t, ctx, ec, token, payTo)
		if got.Cmp(want) == 0 {
			return
		}
		if got.Cmp(want) > 0 || time.Now().After(deadline) {
			t.Fatalf("payee balance %s after the serve-then-settle payment, want %s", got, want)
		}
	}
}

// checkDevPermit2: a payer that never approved Permit2 pays the route
// priced in the Permit2 test token with go402 pay: its 402 declares
// eip2612GasSponsoring, so the client signs an EIP-2612 permit that the
// facilitator submits with the transfer.
func checkDevPermit2(t *testing.T, ctx context.Context, ec *ethclient.Client, di devInfo, info string) {
	t.Helper()
	ep := di.Endpoints[4]
	if ep.Price != stackPermit2Price || !strings.HasSuffix(ep.URL, stackPermit2Path) || ep.Scheme != "exact" {
		t.Fatalf("Permit2 endpoint %+v", ep)
	}
	payer := di.Accounts[1]
	token := common.HexToAddress(di.PermitToken.Address)
	word := func(sig string, args ...string) *big.Int {
		data := crypto.Keccak256([]byte(sig))[:4]
		for _, a := range args {
			data = append(data, common.LeftPadBytes(common.HexToAddress(a).Bytes(), 32)...)
		}
		out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
		if err != nil || len(out) != 32 {
			t.Fatalf("%s: %x %v", sig, out, err)
		}
		return new(big.Int).SetBytes(out)
	}
	if a := word("allowance(address,address)", payer.Address, permit2.AddressHex); a.Sign() != 0 {
		t.Fatalf("payer starts with a Permit2 allowance %s", a)
	}
	before := word("balanceOf(address)", ep.PayTo)
	t.Setenv("GO402_PAYER_KEY", payer.PrivateKey)
	var pout, perr bytes.Buffer
	if code := Run(ctx, []string{"pay", "--devnet-info", info, "--max", "0.01 TPD", ep.URL}, strings.NewReader(""), &pout, &perr); code != 0 {
		t.Fatalf("pay %s exit %d: %s", ep.URL, code, perr.String())
	}
	if !strings.Contains(pout.String(), "cloudy") {
		t.Fatalf("pay output: %q / %q", pout.String(), perr.String())
	}
	if got := new(big.Int).Sub(word("balanceOf(address)", ep.PayTo), before); got.Int64() != 2000 {
		t.Errorf("payee received %s TPD units, want 2000", got)
	}
	if n := word("nonces(address)", payer.Address); n.Int64() != 1 {
		t.Errorf("the payer's EIP-2612 nonce is %s: the permit was not used", n)
	}
}
