package paywall_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/paywall"
)

// paidMarker is the text only the paid page contains.
const paidMarker = "go402-e2e-paid-content-7f3a9c"

// e2eDescription is shown on the paywall; its markup must appear as text.
const e2eDescription = `The <b>premium</b> report & "friends"`

// chromiumPath returns the Chromium binary, skipping the test when there is
// none, or failing it in CI (env CI set), where the browser test must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium binary on PATH: the browser paywall end-to-end test did NOT run (install it: apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI must run it")
	}
	t.Skip("!!! SKIPPED: " + msg)
	return ""
}

// shop is a devnet, an in-process go402 facilitator and a web server with
// the paywall for browsers, where GET /premium (HTML) and GET /premium.json
// cost $0.01 each.
type shop struct {
	net          *devnet.Devnet
	payer, payee devnet.Account
	url          string // base URL of the web server
}

func newShop(t *testing.T) *shop {
	t.Helper()
	st := stacktest.New(t, stacktest.Config{Signer: 2})
	net, accts, fac, nets, network := st.Devnet, st.Accounts, st.Facilitator, st.Networks, st.Network
	s := &shop{net: net, payer: accts[0], payee: accts[1]}

	opts := []x402http.PaymentOption{{Network: network, Price: "$0.01", PayTo: s.payee.Address.Hex()}}
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(nets),
		Routes: []x402http.Route{
			{Pattern: "GET /premium", Accepts: opts, Description: e2eDescription, MimeType: "text/html"},
			{Pattern: "GET /premium.json", Accepts: opts, Description: "Premium data", MimeType: "application/json"},
		},
		Paywall: paywall.Handler(paywall.Options{AppName: "go402 e2e shop"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /premium", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Premium</title>
<style>body{font:18px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}</style></head>
<body><h1>Premium report</h1><p id="paid">%s</p><p>Thank you for paying with x402.</p></body></html>`, paidMarker)
	})
	mux.HandleFunc("GET /premium.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"marker":%q,"items":[1,2,3]}`, paidMarker)
	})
	srv := httptest.NewServer(mw.Handler(mux))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *shop) balance(t *testing.T, a common.Address) *big.Int {
	t.Helper()
	b, err := s.net.BalanceOf(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// typedSigner is the test wallet's key holder: an HTTP endpoint that signs eth_signTypedData_v4 requests with go-ethereum's generic EIP-712
// implementation, independent of go402's own signer. It keeps what it
// signed.
type typedSigner struct {
	key    *ecdsa.PrivateKey
	mu     sync.Mutex
	signed []apitypes.TypedData
}

func (s *typedSigner) typedData() []apitypes.TypedData {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signed)
}

func (s *typedSigner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST typed data", http.StatusMethodNotAllowed)
		return
	}
	var td apitypes.TypedData
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&td); err != nil {
		http.Error(w, "typed data: "+err.Error(), http.StatusBadRequest)
		return
	}
	hash, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		http.Error(w, "hashing typed data: "+err.Error(), http.StatusBadRequest)
		return
	}
	sig, err := crypto.Sign(hash, s.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sig[64] += 27
	s.mu.Lock()
	s.signed = append(s.signed, td)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"signature": hexutil.Encode(sig)})
}

// providerScript is an EIP-1193 provider for window.ethereum: one account,
// one chain, and typed-data signatures from the signing endpoint.
//
// The paywall's CSP allows connections to its own origin only, and the
// test's isolated worlds inherit that policy, so the provider cannot fetch
// the endpoint itself. Like a wallet extension, it relays signing requests
// out of the page instead: through a DevTools binding to the test, which
// POSTs the typed data to the endpoint and hands back the signature.
const providerScript = `(() => {
  const account = %s, chainId = %s, relay = window[%s];
  const calls = [], pending = new Map();
  let seq = 0;
  window.__walletCalls = calls;
  window.__walletReply = (reply) => {
    const r = JSON.parse(reply), p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (r.error) p.reject(new Error(r.error)); else p.resolve(r.signature);
  };
  window.ethereum = {
    isGo402Test: true,
    on() {},
    removeListener() {},
    async request({ method, params }) {
      calls.push(method);
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [account];
        case "eth_chainId":
          return chainId;
        case "wallet_switchEthereumChain":
          return null;
        case "eth_signTypedData_v4": {
          if (String(params[0]).toLowerCase() !== account.toLowerCase()) throw { code: 4100, message: "unknown account" };
          const id = ++seq;
          const p = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
          relay(JSON.stringify({ id, typedData: params[1] }));
          return p;
        }
      }
      throw { code: 4200, message: "unsupported method " + method };
    },
  };
})();`

// relayBinding is the name of the DevTools binding the provider calls.
const relayBinding = "__go402TestWalletRelay"

// installWallet injects the test provider into every document of the tab
// and serves its signing requests with the endpoint at signerURL.
func installWallet(t *testing.T, ctx context.Context, account common.Address, chainID *big.Int, signerURL string) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	if err := chromedp.Listen(ctx, func(ev any) {
		call, ok := ev.(*runtime.EventBindingCalled)
		if !ok || call.Name != relayBinding {
			return
		}
		wg.Go(func() {
			var req struct {
				ID        int    `json:"id"`
				TypedData string `json:"typedData"`
			}
			reply := map[string]any{}
			if err := json.Unmarshal([]byte(call.Payload), &req); err != nil {
				reply["error"] = err.Error()
			} else {
				reply["id"] = req.ID
				if sig, err := postTypedData(ctx, signerURL, req.TypedData); err != nil {
					reply["error"] = err.Error()
				} else {
					reply["signature"] = sig
				}
			}
			b, _ := json.Marshal(reply)
			expr := "window.__walletReply(" + jsString(string(b)) + ")"
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](expr)); err != nil && ctx.Err() == nil {
				t.Errorf("wallet reply: %v", err)
			}
		})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: relayBinding}); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(providerScript, jsString(account.Hex()), jsString(fmt.Sprintf("0x%x", chainID)), jsString(relayBinding))
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		t.Fatal(err)
	}
}

// postTypedData asks the signing endpoint to sign typed data (JSON text)
// and returns the signature.
func postTypedData(ctx context.Context, url, typedData string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(typedData))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("signer: %s: %s", resp.Status, body)
	}
	var out struct{ Signature string }
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	return out.Signature, nil
}

// jsString returns s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// browser is a headless Chromium tab with the test wallet.
type browser struct {
	ctx  context.Context
	logs *syncBuffer
}

// newBrowser starts Chromium (killed in cleanup) with the test wallet: it
// holds account, on chainID, and gets its signatures from signer, served on
// its own test server.
func newBrowser(t *testing.T, ctx context.Context, account common.Address, chainID *big.Int, signer *typedSigner) *browser {
	t.Helper()
	bin := chromiumPath(t)
	signSrv := httptest.NewServer(signer)
	t.Cleanup(signSrv.Close)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 820),
	)
	t.Cleanup(cancelAlloc) // kills the browser
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	b := &browser{ctx: bctx, logs: browserLog(t, bctx)}
	installWallet(t, bctx, account, chainID, signSrv.URL)
	return b
}

// openPaywall navigates to url, checks the paywall answers 402 with the
// price, and connects the wallet.
func (b *browser) openPaywall(t *testing.T, s *shop, url string) {
	t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusPaymentRequired || !strings.HasPrefix(resp.MimeType, "text/html") {
		t.Fatalf("GET %s: status %d, %s; want 402 with the HTML paywall", url, resp.Status, resp.MimeType)
	}
	price, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("#price")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0.01 USDC on " + s.net.Network(); !strings.Contains(strings.Join(strings.Fields(price), " "), want) {
		t.Errorf("price shows %q, want %q", price, want)
	}
	if err := chromedp.Do(b.ctx,
		chromedp.Click(chromedp.CSS("#connect"), chromedp.NodeVisible),
		chromedp.WaitEnabled(chromedp.CSS("#pay")),
	); err != nil {
		t.Fatal(err)
	}
}

// pay clicks Pay and waits until the predicate expression is truthy or the
// paywall shows an error; it returns the predicate's value or the error text.
func (b *browser) pay(t *testing.T, done string) string {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#pay"), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	out, err := chromedp.Run(b.ctx, chromedp.Poll[string](`(`+done+`) || (document.querySelector("#status.err") || {}).textContent`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("after Pay: %v; browser log:\n%s", err, b.logs)
	}
	return out
}

// checkMoved checks the payer paid and the payee received exactly amount
// since the balances before.
func (s *shop) checkMoved(t *testing.T, payerBefore, payeeBefore *big.Int, amount int64) {
	t.Helper()
	want := big.NewInt(amount)
	dPayee := new(big.Int).Sub(s.balance(t, s.payee.Address), payeeBefore)
	dPayer := new(big.Int).Sub(payerBefore, s.balance(t, s.payer.Address))
	if dPayee.Cmp(want) != 0 || dPayer.Cmp(want) != 0 {
		t.Fatalf("payee received %s and payer paid %s atomic units, want %s each", dPayee, dPayer, want)
	}
}

// TestBrowserPaysThroughPaywall opens the paywall of a $0.01 HTML page in
// headless Chromium, pays with the injected test wallet, and checks that the
// paid page replaces the paywall, that the transaction it names is mined,
// and that exactly 0.01 USDC moved on the devnet.
func TestBrowserPaysThroughPaywall(t *testing.T) {
	chromiumPath(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := newShop(t)
	signer := &typedSigner{key: s.payer.PrivateKey}
	b := newBrowser(t, ctx, s.payer.Address, s.net.ChainID(), signer)
	payerBefore, payeeBefore := s.balance(t, s.payer.Address), s.balance(t, s.payee.Address)

	b.openPaywall(t, s, s.url+"/premium")
	desc, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("#desc")))
	if err != nil {
		t.Fatal(err)
	}
	if desc != e2eDescription {
		t.Errorf("description shows %q, want the text %q", desc, e2eDescription)
	}
	shot(t, b.ctx, "paywall.png")

	if out := b.pay(t, `document.getElementById("paid") && "paid"`); out != "paid" {
		t.Fatalf("paid page not shown; the paywall says %q; browser log:\n%s", out, b.logs)
	}
	got, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("#paid")))
	if err != nil {
		t.Fatal(err)
	}
	if got != paidMarker {
		t.Errorf("paid page shows %q, want %q", got, paidMarker)
	}
	note, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("#x402-receipt")))
	if err != nil {
		t.Fatal(err)
	}
	tx := regexp.MustCompile(`0x[0-9a-fA-F]{64}`).FindString(note)
	if !strings.HasPrefix(note, "Paid") || tx == "" {
		t.Fatalf("receipt note %q shows no transaction hash", note)
	}
	shot(t, b.ctx, "paid.png")

	receipt, err := s.net.WaitMined(ctx, common.HexToHash(tx))
	if err != nil {
		t.Fatalf("transaction %s shown by the paywall: %v", tx, err)
	}
	if receipt.Status != 1 {
		t.Fatalf("transaction %s failed on the devnet", tx)
	}
	s.checkMoved(t, payerBefore, payeeBefore, 10_000)

	calls, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.__walletCalls`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"eth_requestAccounts", "eth_chainId", "eth_signTypedData_v4"}; !slices.Equal(calls, want) {
		t.Errorf("wallet calls %v, want %v", calls, want)
	}
	signed := signer.typedData()
	if len(signed) != 1 {
		t.Fatalf("signed %d typed-data messages, want 1", len(signed))
	}
	td := signed[0]
	if td.PrimaryType != "TransferWithAuthorization" || td.Domain.Name != "USDC" || td.Domain.Version != "2" ||
		!strings.EqualFold(td.Domain.VerifyingContract, s.net.Token().Address.Hex()) ||
		!strings.EqualFold(fmt.Sprint(td.Message["from"]), s.payer.Address.Hex()) ||
		!strings.EqualFold(fmt.Sprint(td.Message["to"]), s.payee.Address.Hex()) || fmt.Sprint(td.Message["value"]) != "10000" {
		t.Errorf("signed unexpected typed data: %+v", td)
	}
	t.Logf("paid through the browser paywall in %v", time.Since(start).Round(time.Millisecond))
}

// TestBrowserPaysForJSON pays for a JSON resource: the paywall shows it in
// place, with the settlement's transaction.
func TestBrowserPaysForJSON(t *testing.T) {
	chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := newShop(t)
	b := newBrowser(t, ctx, s.payer.Address, s.net.ChainID(), &typedSigner{key: s.payer.PrivateKey})
	payerBefore, payeeBefore := s.balance(t, s.payer.Address), s.balance(t, s.payee.Address)

	b.openPaywall(t, s, s.url+"/premium.json")
	out := b.pay(t, `(document.querySelector("#result pre") || {}).textContent`)
	var got struct{ Marker string }
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Marker != paidMarker {
		t.Fatalf("paywall shows %q, want the paid JSON (%v)", out, err)
	}
	shot(t, b.ctx, "paid-json.png")
	status, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("#status")))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^Paid · transaction 0x[0-9a-fA-F]{64}$`).MatchString(status) {
		t.Errorf("status %q, want the transaction", status)
	}
	s.checkMoved(t, payerBefore, payeeBefore, 10_000)
}

// TestBrowserPaywallShowsFailure pays with a signature from the wrong key:
// the server refuses it, the paywall shows the facilitator's reason, and
// nothing moves.
func TestBrowserPaywallShowsFailure(t *testing.T) {
	chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := newShop(t)
	wrong := s.net.Accounts()[3].PrivateKey
	b := newBrowser(t, ctx, s.payer.Address, s.net.ChainID(), &typedSigner{key: wrong})
	payerBefore, payeeBefore := s.balance(t, s.payer.Address), s.balance(t, s.payee.Address)

	b.openPaywall(t, s, s.url+"/premium")
	out := b.pay(t, `document.getElementById("paid") && "paid"`)
	if !strings.HasPrefix(out, "Payment failed (402): ") || !strings.Contains(out, "signature") {
		t.Fatalf("paywall says %q, want the refusal with its reason", out)
	}
	t.Logf("paywall says: %s", out)
	shot(t, b.ctx, "failed.png")
	if enabled, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!document.getElementById("pay").disabled`)); err != nil || !enabled {
		t.Errorf("Pay is not enabled again after a failure (%v)", err)
	}
	s.checkMoved(t, payerBefore, payeeBefore, 0)
}

// browserLog collects the page's console messages, uncaught exceptions and
// browser log entries (where CSP violations are reported).
func browserLog(t *testing.T, ctx context.Context) *syncBuffer {
	t.Helper()
	b := &syncBuffer{}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.printf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			b.printf("exception: %s %s", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception.Description)
		case *cdplog.EventEntryAdded:
			b.printf("log %s/%s: %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return b
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) printf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(&b.buf, format+"\n", args...)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// artifactsDir is $GO402_ARTIFACTS, where CI keeps the screenshots, or "".
// A relative path is taken from the module root (where .ci/run and make
// run), not from this package's directory, where go test runs the test.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GO402_ARTIFACTS")
	if dir == "" || filepath.IsAbs(dir) {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for root := wd; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return filepath.Join(root, dir)
		}
		if filepath.Dir(root) == root {
			return filepath.Join(wd, dir)
		}
	}
}

// shot saves a full-page screenshot in a temporary directory and, if
// GO402_ARTIFACTS is set, copies it there.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if dir := artifactsDir(t); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "paywall-e2e-"+name)
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot copied to %s", dst)
	}
}
