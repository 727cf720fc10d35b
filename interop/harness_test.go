package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
)

// testTimeout bounds each test, Node start-ups and payments included.
const testTimeout = 60 * time.Second

// startTimeout bounds the wait for a Node server's "listening <port>" line.
const startTimeout = 20 * time.Second

// Devnet account roles.
const (
	acctNodePayer  = 0 // pays from the official/legacy Node clients
	acctPayee      = 1 // receives every payment
	acctGoFac      = 2 // go402 facilitator's settlement key
	acctNodeFac    = 3 // official facilitator's settlement key
	acctGoPayer    = 4 // pays from the go402 client
	acctForeign    = 5 // a signer that is not the payer (case f)
	devnetAccounts = 6
)

// requireNode skips the test, loudly, when node or the installed packages
// are missing; with CI set it fails instead.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	var missing string
	switch {
	case err != nil:
		missing = "node is not on PATH"
	default:
		if _, err := os.Stat(filepath.Join("node_modules", "@x402", "core", "package.json")); err != nil {
			missing = "interop/node_modules is not installed (run `make interop`)"
		}
	}
	if missing == "" {
		return node
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("INTEROP TESTS CANNOT RUN: %s; CI must run them", missing)
	}
	t.Skipf("\n*** SKIPPING go402 <-> official x402 TypeScript interop tests: %s ***\n", missing)
	return ""
}

// world is one test's devnet and helpers around it.
type world struct {
	t     *testing.T
	ctx   context.Context
	node  string
	dev   *devnet.Devnet
	accts []devnet.Account
	nets  *evm.Networks
	token devnet.TokenInfo
}

// newWorld starts a devnet with JSON-RPC on a free port. chainID 0 means
// 31337.
func newWorld(t *testing.T, chainID uint64) *world {
	t.Helper()
	node := requireNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	dev, err := devnet.Start(ctx, devnet.Config{ChainID: chainID, Accounts: devnetAccounts, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	nets := &evm.Networks{}
	if err := dev.Register(nets); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, node: node, dev: dev, accts: dev.Accounts(), nets: nets, token: dev.Token()}
}

// sub returns w for subtest t: failures and cleanups go to t.
func (w *world) sub(t *testing.T) *world {
	c := *w
	c.t = t
	return &c
}

func (w *world) network() x402.Network { return x402.Network(w.dev.Network()) }

func (w *world) addr(i int) common.Address { return w.accts[i].Address }

func (w *world) key(i int) string {
	return "0x" + hex.EncodeToString(crypto.FromECDSA(w.accts[i].PrivateKey))
}

func (w *world) balance(a common.Address) *big.Int {
	w.t.Helper()
	b, err := w.dev.BalanceOf(w.ctx, a)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// balances snapshots the payer's and payee's token balances.
type balances struct {
	w            *world
	payer, payee common.Address
	before       [2]*big.Int
}

func (w *world) snapshot(payer, payee common.Address) *balances {
	return &balances{w: w, payer: payer, payee: payee, before: [2]*big.Int{w.balance(payer), w.balance(payee)}}
}

// moved checks that exactly price moved from payer to payee since the
// snapshot (so the payment was settled once).
func (b *balances) moved(price int64) {
	b.w.t.Helper()
	down := new(big.Int).Sub(b.before[0], b.w.balance(b.payer))
	up := new(big.Int).Sub(b.w.balance(b.payee), b.before[1])
	if down.Int64() != price || up.Int64() != price {
		b.w.t.Fatalf("balances: payer down %s, payee up %s; want exactly %d each", down, up, price)
	}
}

// goFacilitator assembles go402's facilitator on the devnet (ledger in a
// temporary SQLite file, settlement key acctGoFac), registered for v1 and
// v2, and serves it over HTTP. It returns the facilitator and its URL.
func (w *world) goFacilitator() (*facilitator.Facilitator, string) {
	t := w.t
	t.Helper()
	svc := stacktest.FacilitatorOn(t, w.dev, w.accts[acctGoFac], stacktest.Options{})
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return svc.Facilitator(), srv.URL
}

// baseEnv is the environment every script gets.
func (w *world) baseEnv() map[string]string {
	return map[string]string{
		"CHAIN_ID":      fmt.Sprint(w.dev.ChainID()),
		"RPC_URL":       w.dev.RPCURL(),
		"ASSET":         w.token.Address.Hex(),
		"TOKEN_NAME":    w.token.Name,
		"TOKEN_VERSION": w.token.Version,
	}
}

// proc is a running Node script.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *watchBuffer
	err  *watchBuffer
	done chan struct{}
	port string
}

// watchBuffer collects a stream and reports the first line matching re.
type watchBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
}

func (b *watchBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.re != nil {
		if m := b.re.FindSubmatch(b.buf.Bytes()); m != nil {
			b.found <- string(m[1])
			b.re = nil
		}
	}
	return len(p), nil
}

func (b *watchBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs js/<script> with env on top of the base environment. If ready
// is not empty the script is a server: start waits for its "<ready>
// listening <port>" line and records the port.
func (w *world) start(script, ready string, env map[string]string) *proc {
	t := w.t
	t.Helper()
	cmd := exec.CommandContext(w.ctx, w.node, filepath.Join("js", script))
	cmd.Env = os.Environ()
	for k, v := range w.baseEnv() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{name: script, cmd: cmd, out: &watchBuffer{found: make(chan string, 1)}, err: &watchBuffer{}, done: make(chan struct{})}
	if ready != "" {
		p.out.re = regexp.MustCompile(regexp.QuoteMeta(ready) + ` listening (\d+)\n`)
	}
	cmd.Stdout, cmd.Stderr = p.out, p.err
	cmd.WaitDelay = 2 * time.Second
	// Cleanups do not run when go test -timeout panics: the kernel then
	// kills the peer with the test process (Linux).
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- %s stdout:\n%s\n--- %s stderr:\n%s", script, p.out.String(), script, p.err.String())
		}
	})
	if ready == "" {
		return p
	}
	select {
	case p.port = <-p.out.found:
	case <-p.done:
		t.Fatalf("%s exited before listening: %v", script, cmd.ProcessState)
	case <-time.After(startTimeout):
		t.Fatalf("%s: no %q line within %v", script, ready+" listening <port>", startTimeout)
	}
	return p
}

func (p *proc) url(path string) string { return "http://127.0.0.1:" + p.port + path }

// clientResult is the JSON line printed by client-v1.mjs and client-v2.mjs.
type clientResult struct {
	OK              bool                 `json:"ok"`
	Status          int                  `json:"status"`
	Body            string               `json:"body"`
	PaymentResponse *x402.SettleResponse `json:"paymentResponse"`
	Error           string               `json:"error"`
}

// runClient runs a Node client script to completion and returns its result
// line, failing the test unless the client reports success.
func (w *world) runClient(script string, env map[string]string) clientResult {
	w.t.Helper()
	r := w.runClientResult(script, env)
	if !r.OK {
		w.t.Fatalf("%s failed: status %d, body %q, error %s", script, r.Status, r.Body, r.Error)
	}
	return r
}

// runClientResult runs a Node client script to completion and returns its
// result line, successful or not.
func (w *world) runClientResult(script string, env map[string]string) clientResult {
	t := w.t
	t.Helper()
	p := w.start(script, "", env)
	select {
	case <-p.done:
	case <-w.ctx.Done():
		t.Fatalf("%s: %v", script, w.ctx.Err())
	}
	out := strings.TrimSpace(p.out.String())
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var r clientResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%s: last line is not a result: %q (%v)", script, out, err)
	}
	return r
}

// checkSettled checks a settlement report for a successful on-chain
// transaction.
func (w *world) checkSettled(s *x402.SettleResponse, network string) {
	w.t.Helper()
	if s == nil || !s.Success || s.Transaction == "" {
		w.t.Fatalf("settlement %+v", s)
	}
	if network != "" && string(s.Network) != network {
		w.t.Errorf("settlement network %q, want %q", s.Network, network)
	}
	rcpt, err := w.dev.Client().TransactionReceipt(w.ctx, common.HexToHash(s.Transaction))
	if err != nil || rcpt.Status != 1 {
		w.t.Fatalf("transaction %s: receipt %v, err %v", s.Transaction, rcpt, err)
	}
}
