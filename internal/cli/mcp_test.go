package cli

import (
	"context"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402mcp"
)

// devStack is a running `go402 dev` and what the tests read of it.
type devStack struct {
	info     devInfo
	infoPath string
	eth      *ethclient.Client
	token    common.Address
	payee    common.Address
}

// startDev runs `go402 dev` in process until the test ends.
func startDev(t *testing.T) *devStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "dev.json")
	var out, errOut devOutput
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"dev", "--info-file", path}, strings.NewReader(""), &out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("go402 dev did not stop")
		}
	})
	exited := func() (string, bool) {
		select {
		case code := <-done:
			done <- code
			return "go402 dev exited\n" + out.String() + errOut.String(), true
		default:
			return "", false
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	d := &devStack{infoPath: path}
	waitInfo(t, wctx, path, &d.info, exited)
	if d.info.MCP == nil || len(d.info.Endpoints) == 0 {
		t.Fatalf("info without mcp or endpoints: %+v", d.info)
	}
	var err error
	if d.eth, err = ethclient.DialContext(ctx, d.info.RPCURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.eth.Close)
	d.token = common.HexToAddress(d.info.Token.Address)
	d.payee = common.HexToAddress(d.info.Endpoints[0].PayTo)
	return d
}

func (d *devStack) balance(t *testing.T) *big.Int {
	t.Helper()
	return tokenBalance(t, t.Context(), d.eth, d.token, d.payee)
}

// moved checks that the payee's balance grew by want atomic units since
// before, and returns the new balance.
func (d *devStack) moved(t *testing.T, before *big.Int, want int64) *big.Int {
	t.Helper()
	now := d.balance(t)
	if got := new(big.Int).Sub(now, before); got.Cmp(big.NewInt(want)) != 0 {
		t.Errorf("payee balance moved by %s, want %d", got, want)
	}
	return now
}

// TestDevMCPToolPaidBySession: the tool that the info file of go402 dev
// announces is paid by the go402 client through an x402mcp.Session.
func TestDevMCPToolPaidBySession(t *testing.T) {
	d := startDev(t)
	if d.info.MCP.URL != strings.TrimSuffix(d.info.Endpoints[0].URL, "/weather")+"/mcp" || len(d.info.MCP.Tools) < 1 {
		t.Fatalf("mcp entry %+v", d.info.MCP)
	}
	tool := d.info.MCP.Tools[0]
	if tool.Name != "weather" || tool.Price != "$0.001" || tool.Scheme != "exact" {
		t.Fatalf("first tool %+v", tool)
	}
	key, err := evm.NewPrivateKeySigner(d.info.Accounts[1].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	assets := client.DefaultAssets()
	nc, err := loadDevnetNetwork(d.infoPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := assets.Add(client.EVMAssets(nc)...); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(key, client.Config{Base: x402mcp.Transport(nil), Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.01"}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: d.info.MCP.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	before := d.balance(t)
	res, receipt, err := x402mcp.NewSession(c, cs, d.info.MCP.URL).CallTool(t.Context(), &mcp.CallToolParams{Name: tool.Name, Arguments: map[string]any{"city": "Porto"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || receipt == nil || receipt.Settlement == nil || !receipt.Settlement.Success || !strings.Contains(mcpText(res), "Porto") {
		t.Fatalf("result %+v receipt %+v", res, receipt)
	}
	if receipt.Option.Requirements.PayTo != tool.PayTo {
		t.Errorf("paid to %s, info says %s", receipt.Option.Requirements.PayTo, tool.PayTo)
	}
	before = d.moved(t, before, 1000)

	// The upto tool: authorized $0.01, charged 7 tokens at $0.0001.
	gen := d.info.MCP.Tools[len(d.info.MCP.Tools)-1]
	if gen.Name != "generate" || gen.Scheme != "upto" || gen.Price != "$0.01" {
		t.Fatalf("last tool %+v", gen)
	}
	res, receipt, err = x402mcp.NewSession(c, cs, d.info.MCP.URL).CallTool(t.Context(), &mcp.CallToolParams{Name: gen.Name, Arguments: map[string]any{"tokens": 7}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || receipt == nil || receipt.Settlement == nil || !receipt.Settlement.Success || !strings.Contains(mcpText(res), `"tokens":7`) {
		t.Fatalf("generate: result %+v receipt %+v", res, receipt)
	}
	d.moved(t, before, 700)
}

// mcpText is the text of a result's contents.
func mcpText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// walletSession is an MCP client session with `go402 mcp` run as a
// subprocess over stdio; it keeps every result it received.
type walletSession struct {
	cs     *mcp.ClientSession
	stderr syncBuffer
	mu     sync.Mutex
	seen   []string // every result, as JSON
}

// startWallet runs go402 mcp with args (and the payer key in the
// environment) and connects to it.
func startWallet(t *testing.T, key string, args ...string) *walletSession {
	t.Helper()
	w := &walletSession{}
	cmd := exec.Command(go402Binary(t), append([]string{"mcp"}, args...)...)
	cmd.Env = cleanEnv("GO402_PAYER_KEY="+key, runAsGo402+"=1")
	cmd.Stderr = &w.stderr
	var err error
	w.cs, err = mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).Connect(t.Context(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connecting to go402 mcp: %v\n%s", err, w.stderr.String())
	}
	t.Cleanup(func() {
		_ = w.cs.Close()
		if t.Failed() {
			t.Logf("go402 mcp stderr:\n%s", w.stderr.String())
		}
	})
	return w
}

// call calls a wallet tool and decodes its structured result into out.
func (w *walletSession) call(t *testing.T, tool string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := w.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	raw, _ := json.Marshal(res)
	w.mu.Lock()
	w.seen = append(w.seen, string(raw))
	w.mu.Unlock()
	t.Logf("%s %v -> %s", tool, args, res.StructuredContent)
	if out != nil && !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
	}
	return res
}

// TestMCPWallet drives go402 mcp (a subprocess, over stdio) with the Go
// SDK's client against go402 dev: quote pays nothing, fetch pays once,
// a price above --approve-above is paid only with the token issued for
// it, a paid tool of the dev MCP endpoint is called through it, the
// budget refuses what exceeds it with nothing paid, the budget tool lists
// the payments, and the payer key appears in no output.
func TestMCPWallet(t *testing.T) {
	d := startDev(t)
	key := d.info.Accounts[0].PrivateKey
	budgetFile := filepath.Join(t.TempDir(), "budget.json")
	w := startWallet(t, key, "--devnet-info", d.infoPath, "--max", "$0.10", "--budget", "$0.105", "--budget-file", budgetFile,
		"--approve-above", "$0.01", "--allow-host", "127.0.0.1")
	api := strings.TrimSuffix(d.info.Endpoints[0].URL, "/weather")
	bal := d.balance(t)

	var q struct {
		Price         string `json:"price"`
		Allowed       bool   `json:"allowed"`
		NeedsApproval bool   `json:"needsApproval"`
	}
	w.call(t, "quote", map[string]any{"url": api + "/report"}, &q)
	if q.Price != "0.05 USDC" || !q.Allowed || !q.NeedsApproval {
		t.Errorf("quote %+v", q)
	}
	bal = d.moved(t, bal, 0)

	var f struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
		Paid   *struct {
			Price, Transaction string
			Settled            bool
		} `json:"paid"`
		Approval *struct{ Confirm, Price string } `json:"approval"`
	}
	w.call(t, "fetch", map[string]any{"url": api + "/weather"}, &f)
	if f.Status != 200 || !strings.Contains(f.Body, "sunny") || f.Paid == nil || f.Paid.Price != "0.001 USDC" || !f.Paid.Settled || f.Paid.Transaction == "" {
		t.Errorf("fetch /weather %+v", f)
	}
	bal = d.moved(t, bal, 1000)

	// The upto tool: $0.01 authorized, 7 tokens charged ($0.0007), and
	// the budget counts what was charged.
	var g struct {
		Paid *struct{ Price, Charged string } `json:"paid"`
	}
	w.call(t, "call_tool", map[string]any{"server": d.info.MCP.URL, "tool": "generate", "arguments": map[string]any{"tokens": 7}}, &g)
	if g.Paid == nil || g.Paid.Price != "0.01 USDC" || g.Paid.Charged != "0.0007 USDC" {
		t.Errorf("call_tool generate: %+v", g.Paid)
	}
	bal = d.moved(t, bal, 700)

	checkApproval(t, d, w, api, bal)
	bal = d.balance(t)

	bal = checkCallTool(t, d, w, bal)

	// The next report (0.05) is refused by the budget, before any
	// approval or signature.
	res := w.call(t, "fetch", map[string]any{"url": api + "/report"}, nil)
	if !res.IsError || !strings.Contains(mcpText(res), "refused by the policy (budget), nothing was signed") {
		t.Errorf("over budget: %s", mcpText(res))
	}
	res = w.call(t, "fetch", map[string]any{"url": "http://localhost:1/x"}, nil)
	if !res.IsError || !strings.Contains(mcpText(res), "allowed hosts") {
		t.Errorf("host not allowed: %s", mcpText(res))
	}
	d.moved(t, bal, 0)

	var b struct {
		Spent       string `json:"spent"`
		Outstanding string `json:"outstanding"`
		Payments    int    `json:"payments"`
		History     []struct{ Tool, Price, Transaction string }
	}
	w.call(t, "budget", nil, &b)
	var tools []string
	for _, h := range b.History {
		tools = append(tools, h.Tool)
	}
	if b.Spent != "0.1027" || b.Outstanding != "0" || b.Payments != 5 || strings.Join(tools, " ") != "fetch call_tool fetch call_tool call_tool" || b.History[0].Transaction == "" {
		t.Errorf("budget %+v", b)
	}
	// The budget file holds the same totals, for the next run.
	raw, err := os.ReadFile(budgetFile)
	var file struct {
		Spent    json.Number `json:"spent"`
		Payments int         `json:"payments"`
	}
	if err != nil || json.Unmarshal(raw, &file) != nil || file.Payments != 5 || file.Spent.String() != "0.1027" {
		t.Errorf("budget file %s: %v", raw, err)
	}

	_ = w.cs.Close()
	all := strings.Join(w.seen, "\n") + w.stderr.String()
	for _, k := range []string{strings.TrimPrefix(key, "0x"), strings.ToUpper(strings.TrimPrefix(key, "0x"))} {
		if strings.Contains(all, k) {
			t.Fatal("the payer key appears in the output of go402 mcp")
		}
	}
}

// checkApproval: /report ($0.05) is above --approve-above: the answer
// asks for approval and pays nothing; a wrong token, or the token with
// other arguments, is not accepted; the right one pays once and is then
// spent.
func checkApproval(t *testing.T, d *devStack, w *walletSession, api string, bal *big.Int) {
	t.Helper()
	type answer struct {
		Paid     *struct{ Price string } `json:"paid"`
		Approval *struct {
			Confirm, Price, Message string
		} `json:"approval"`
	}
	var a answer
	w.call(t, "fetch", map[string]any{"url": api + "/report"}, &a)
	if a.Paid != nil || a.Approval == nil || a.Approval.Price != "0.05 USDC" || !strings.HasPrefix(a.Approval.Message, "needs approval") {
		t.Fatalf("fetch /report above the threshold: %+v", a)
	}
	token := a.Approval.Confirm
	for _, args := range []map[string]any{
		{"url": api + "/report", "confirm": "approve_0000"},
		{"url": api + "/report", "confirm": token, "headers": map[string]any{"X-Other": "1"}},
	} {
		var again answer
		w.call(t, "fetch", args, &again)
		if again.Paid != nil || again.Approval == nil || again.Approval.Confirm == token {
			t.Errorf("fetch %v: %+v", args, again)
		}
	}
	bal = d.moved(t, bal, 0)
	var ok answer
	w.call(t, "fetch", map[string]any{"url": api + "/report", "confirm": token}, &ok)
	if ok.Paid == nil || ok.Paid.Price != "0.05 USDC" || ok.Approval != nil {
		t.Fatalf("confirmed fetch: %+v", ok)
	}
	bal = d.moved(t, bal, 50000)
	var reused answer
	w.call(t, "fetch", map[string]any{"url": api + "/report", "confirm": token}, &reused)
	if reused.Paid != nil || reused.Approval == nil {
		t.Errorf("a token paid twice: %+v", reused)
	}
	d.moved(t, bal, 0)
}

// checkCallTool: the dev MCP tools through call_tool: weather (0.001)
// paid at once; report (0.05, above the threshold) only with the token.
// It returns the payee's balance.
func checkCallTool(t *testing.T, d *devStack, w *walletSession, bal *big.Int) *big.Int {
	t.Helper()
	var ct struct {
		Text string                  `json:"text"`
		Paid *struct{ Price string } `json:"paid"`
	}
	w.call(t, "call_tool", map[string]any{"server": d.info.MCP.URL, "tool": "weather", "arguments": map[string]any{"city": "Porto"}}, &ct)
	if !strings.Contains(ct.Text, "Porto") || ct.Paid == nil || ct.Paid.Price != "0.001 USDC" {
		t.Errorf("call_tool %+v", ct)
	}
	bal = d.moved(t, bal, 1000)

	// The report tool (0.05) through call_tool: approval first, then
	// paid with the token; 0.1027 spent of 0.105.
	var a struct {
		Text     string                    `json:"text"`
		Paid     *struct{ Price string }   `json:"paid"`
		Approval *struct{ Confirm string } `json:"approval"`
	}
	report := map[string]any{"server": d.info.MCP.URL, "tool": "report"}
	w.call(t, "call_tool", report, &a)
	if a.Approval == nil || a.Paid != nil {
		t.Fatalf("call_tool report: no approval asked: %+v", a)
	}
	bal = d.moved(t, bal, 0)
	report["confirm"] = a.Approval.Confirm
	a.Approval = nil
	w.call(t, "call_tool", report, &a)
	if a.Paid == nil || a.Paid.Price != "0.05 USDC" || a.Approval != nil || !strings.Contains(a.Text, "Q3") {
		t.Fatalf("approved call_tool report: %+v", a)
	}
	bal = d.moved(t, bal, 50000)
	return bal
}
