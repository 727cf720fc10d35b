package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/x402"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitInfo polls for a JSON info file until it appears (complete: it is
// renamed into place), and decodes it into v. exited reports an early exit.
func waitInfo(t *testing.T, ctx context.Context, path string, v any, exited func() (string, bool)) {
	t.Helper()
	for {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("info file %s: %v\n%s", path, err, b)
			}
			return
		case !errors.Is(err, fs.ErrNotExist):
			t.Fatal(err)
		}
		if why, ok := exited(); ok {
			t.Fatalf("exited before writing %s: %s", path, why)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no info file %s: %v", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// payment is a signed v2 payment, as the facilitator request body.
type payment struct {
	body   []byte
	payer  common.Address
	nonce  string // the EIP-3009 nonce, 0x-hex
	amount *big.Int
}

// signPayment signs an exact-scheme v2 payment of amount atomic units of
// token to payee with the hex key.
func signPayment(t *testing.T, ctx context.Context, keyHex string, network x402.Network, token evm.Asset, payee common.Address, amount uint64) payment {
	t.Helper()
	signer, err := evm.NewPrivateKeySigner(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	client, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	req := x402.PaymentRequirements{
		Scheme: evm.SchemeExact, Network: network, Amount: x402.NewAmount(amount),
		Asset: token.Address.Hex(), PayTo: payee.Hex(), MaxTimeoutSeconds: 300, Extra: token.Extra(),
	}
	obj, err := client.CreatePayload(ctx, x402.V2, req)
	if err != nil {
		t.Fatal(err)
	}
	var ep evm.ExactPayload
	if err := obj.Decode(&ep); err != nil {
		t.Fatal(err)
	}
	p := &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj, Resource: &x402.ResourceInfo{URL: "https://api.example/paid"}}
	body, err := json.Marshal(x402.NewFacilitatorRequest(p, &req))
	if err != nil {
		t.Fatal(err)
	}
	return payment{body: body, payer: signer.Address(), nonce: ep.Authorization.Nonce, amount: new(big.Int).SetUint64(amount)}
}

// call makes an HTTP request and decodes a JSON answer into out.
func call(ctx context.Context, method, url string, body []byte, out any) (int, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decoding %s: %w", raw, err)
		}
	}
	return resp.StatusCode, nil
}

// tokenBalance reads balanceOf(who) on token.
func tokenBalance(t *testing.T, ctx context.Context, c *ethclient.Client, token, who common.Address) *big.Int {
	t.Helper()
	data := append(crypto.Keccak256([]byte("balanceOf(address)"))[:4], common.LeftPadBytes(who.Bytes(), 32)...)
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

// freshAddress is an address nobody holds a key for, with no balance.
func freshAddress(label string) common.Address {
	return common.BytesToAddress(crypto.Keccak256([]byte("go402 test payee " + label)))
}

func devnetAsset(info facilitatorInfo) evm.Asset {
	tok := info.Devnet.Token
	return evm.Asset{Address: common.HexToAddress(tok.Address), Name: tok.Name, Version: tok.Version, Decimals: tok.Decimals, Symbol: "USDC"}
}

// waitExit interrupts a facilitator that Run serves (cancel), and fails
// the test unless Run returns ExitOK (on done) within 45 s.
func waitExit(t *testing.T, cancel context.CancelFunc, done <-chan int, stderr *syncBuffer) {
	t.Helper()
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit code %d after the interrupt, want %d\nstderr:\n%s", code, ExitOK, stderr.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the facilitator did not exit within 45s of the interrupt")
	}
}

func TestFacilitatorDevnet(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	path := filepath.Join(t.TempDir(), "facilitator.json")
	// The metrics on a separate address too (metricsListen).
	t.Setenv("GO402_METRICS_LISTEN", "127.0.0.1:0")

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"facilitator", "--devnet", "--listen", "127.0.0.1:0", "--info-file", path}, strings.NewReader(""), &stdout, &stderr)
	}()
	exited := func() (string, bool) {
		select {
		case code := <-done:
			return fmt.Sprintf("code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String()), true
		default:
			return "", false
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	var info facilitatorInfo
	waitInfo(t, wctx, path, &info, exited)

	if runtime.GOOS != "windows" {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("info file mode: %v %v", st.Mode().Perm(), err)
		}
	}
	if info.Devnet == nil || info.Network != "eip155:31337" || info.Devnet.Network != info.Network || !strings.HasPrefix(info.URL, "http://127.0.0.1:") {
		t.Fatalf("info = %+v", info)
	}
	// The signer is the devnet's last account; payers are the others.
	last := info.Devnet.Accounts[len(info.Devnet.Accounts)-1]
	if info.Signer != last.Address {
		t.Errorf("signer %s, want the last devnet account %s", info.Signer, last.Address)
	}
	out := stdout.String()
	checkMetricsListen(t, info)
	for _, want := range []string{info.URL, info.Signer, "eip155:31337", "sqlite ", "batched settlement through Multicall3", info.MetricsURL} {
		if !strings.Contains(out, want) {
			t.Errorf("startup output lacks %q:\n%s", want, out)
		}
	}
	// No private key is printed or logged (the devnet's keys live in the
	// info file only).
	for _, a := range info.Devnet.Accounts {
		if k := strings.TrimPrefix(a.PrivateKey, "0x"); strings.Contains(out, k) || strings.Contains(stderr.String(), k) {
			t.Errorf("private key of %s printed", a.Address)
		}
	}

	// GET /supported: exact on the devnet for v1 and v2, and the signer.
	var sup x402.SupportedResponse
	if status, err := call(ctx, http.MethodGet, info.URL+"/supported", nil, &sup); err != nil || status != http.StatusOK {
		t.Fatalf("GET /supported: %d %v", status, err)
	}
	for _, v := range []int{x402.V1, x402.V2} {
		found := false
		for _, k := range sup.Kinds {
			found = found || (k.X402Version == v && k.Scheme == "exact" && k.Network == "eip155:31337")
		}
		if !found {
			t.Errorf("no exact kind for v%d on eip155:31337: %+v", v, sup.Kinds)
		}
	}
	if s := sup.Signers["eip155:*"]; len(s) != 1 || s[0] != info.Signer {
		t.Errorf("signers = %v, want [%s]", sup.Signers, info.Signer)
	}
	// GET /health.
	var health map[string]string
	if status, err := call(ctx, http.MethodGet, info.URL+"/health", nil, &health); err != nil || status != http.StatusOK || health["status"] != "ok" {
		t.Fatalf("GET /health: %d %v %v", status, health, err)
	}

	// A paid settle over HTTP, from devnet account 0.
	rpc, err := ethclient.DialContext(ctx, info.Devnet.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	asset := devnetAsset(info)
	payee := freshAddress(t.Name())
	pay := signPayment(t, ctx, info.Devnet.Accounts[0].PrivateKey, x402.Network(info.Network), asset, payee, 10_000)
	payerBefore := tokenBalance(t, ctx, rpc, asset.Address, pay.payer)

	var vr x402.VerifyResponse
	if status, err := call(ctx, http.MethodPost, info.URL+"/verify", pay.body, &vr); err != nil || status != http.StatusOK || !vr.IsValid {
		t.Fatalf("POST /verify: %d %+v %v", status, vr, err)
	}
	var sr x402.SettleResponse
	if status, err := call(ctx, http.MethodPost, info.URL+"/settle", pay.body, &sr); err != nil || status != http.StatusOK {
		t.Fatalf("POST /settle: %d %v", status, err)
	}
	if !sr.Success || sr.Transaction == "" || sr.Payer != pay.payer.Hex() || sr.Network != "eip155:31337" {
		t.Fatalf("settle response: %+v", sr)
	}
	if got := tokenBalance(t, ctx, rpc, asset.Address, payee); got.Cmp(pay.amount) != 0 {
		t.Errorf("payee balance %s, want %s", got, pay.amount)
	}
	if got, want := tokenBalance(t, ctx, rpc, asset.Address, pay.payer), new(big.Int).Sub(payerBefore, pay.amount); got.Cmp(want) != 0 {
		t.Errorf("payer balance %s, want %s", got, want)
	}
	// Settling again returns the first result.
	var again x402.SettleResponse
	if status, err := call(ctx, http.MethodPost, info.URL+"/settle", pay.body, &again); err != nil || status != http.StatusOK || again.Transaction != sr.Transaction || !again.Success {
		t.Errorf("second settle: %d %+v %v", status, again, err)
	}

	// Interrupt: a clean exit, and the info file removed.
	waitExit(t, cancel, done, &stderr)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("info file not removed: %v", err)
	}
}

// TestFacilitatorAPIKeys runs the devnet mode from a configuration file
// that requires an API key.
func TestFacilitatorAPIKeys(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "facilitator.yaml")
	token := "test-token-not-a-secret"
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\ndatabase:\n  sqlite: %s\nauth:\n  apiKeyHashes: [%s]\ndevnet:\n  enabled: true\n  chainId: 84532\nlogFormat: json\n",
		filepath.Join(dir, "ledger.db"), facilitator.HashAPIKey(token))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	infoPath := filepath.Join(dir, "info.json")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"facilitator", "--config", cfgPath, "--info-file", infoPath}, strings.NewReader(""), &stdout, &stderr)
	}()
	exited := func() (string, bool) {
		select {
		case code := <-done:
			return fmt.Sprintf("code %d\nstderr:\n%s", code, stderr.String()), true
		default:
			return "", false
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	var info facilitatorInfo
	waitInfo(t, wctx, infoPath, &info, exited)
	if info.Network != "eip155:84532" || info.Database != "sqlite "+filepath.Join(dir, "ledger.db") {
		t.Errorf("info = %+v", info)
	}
	// v1 clients can name the network base-sepolia.
	var sup x402.SupportedResponse
	if _, err := call(ctx, http.MethodGet, info.URL+"/supported", nil, &sup); err != nil {
		t.Fatal(err)
	}
	v1Name := false
	for _, k := range sup.Kinds {
		v1Name = v1Name || (k.X402Version == x402.V1 && k.Network == "base-sepolia")
	}
	if !v1Name {
		t.Errorf("no v1 kind named base-sepolia: %+v", sup.Kinds)
	}

	pay := signPayment(t, ctx, info.Devnet.Accounts[1].PrivateKey, x402.Network(info.Network), devnetAsset(info), freshAddress(t.Name()), 1)
	if status, err := call(ctx, http.MethodPost, info.URL+"/verify", pay.body, nil); err != nil || status != http.StatusUnauthorized {
		t.Errorf("verify without a key: %d %v", status, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, info.URL+"/verify", bytes.NewReader(pay.body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("verify with the key: %d", resp.StatusCode)
	}
	if strings.Contains(stdout.String()+stderr.String(), token) {
		t.Error("the API token was printed")
	}
	if !strings.Contains(stderr.String(), `"msg":"facilitator listening"`) {
		t.Errorf("logs are not JSON:\n%s", stderr.String())
	}
	waitExit(t, cancel, done, &stderr)
}

func TestFacilitatorHashKey(t *testing.T) {
	for _, in := range []string{"s3cret", "s3cret\n", "  s3cret \r\nsecond line ignored\n"} {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), []string{"facilitator", "hash-key"}, strings.NewReader(in), &stdout, &stderr)
		if code != ExitOK || stdout.String() != facilitator.HashAPIKey("s3cret")+"\n" {
			t.Errorf("hash-key(%q): code %d stdout %q stderr %q", in, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"facilitator", "hash-key"}, strings.NewReader("\n"), &stdout, &stderr); code != ExitUsage {
		t.Errorf("empty token: code %d", code)
	}
	if code := Run(t.Context(), []string{"facilitator", "hash-key", "s3cret"}, strings.NewReader(""), &stdout, &stderr); code != ExitUsage {
		t.Errorf("token as an argument: code %d", code)
	}
}

func TestFacilitatorUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: 127.0.0.1:0\nnetworks:\n  - network: eip155:8453\n    rpcUrl: [http://x]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("networks:\n  - network: eip155:8453\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"facilitator"}, "--config FILE is required"},
		{[]string{"facilitator", "--config", bad}, bad + ":4: networks[0].rpcUrl: unknown key (did you mean rpcUrls?)"},
		{[]string{"facilitator", "--config", invalid}, invalid + ":2: networks[0].rpcUrls: required"},
		{[]string{"facilitator", "--config", invalid, "--listen", "nope"}, "listen (from --listen): must be host:port"},
		{[]string{"facilitator", "--chain-id", "5", "--config", bad}, "unknown key"},
		{[]string{"facilitator", "--devnet", "--config", invalid}, invalid + ":1: networks: must be empty when the devnet is enabled"},
		{[]string{"facilitator", "--devnet", "--chain-id", "0"}, "devnet.chainId (from --chain-id): must be a positive chain id"},
		{[]string{"facilitator", "--devnet", "extra"}, "unexpected arguments: extra"},
		{[]string{"facilitator", "--bogus"}, "flag provided but not defined"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), tt.args, strings.NewReader(""), &stdout, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: code %d, stderr:\n%s\nwant %q", tt.args, code, stderr.String(), tt.want)
		}
	}
	// --chain-id without --devnet.
	valid := filepath.Join(dir, "valid.yaml")
	if err := os.WriteFile(valid, []byte("networks:\n  - network: eip155:8453\n    rpcUrls: [http://127.0.0.1:1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"facilitator", "--config", valid, "--chain-id", "5"}, strings.NewReader(""), &stdout, &stderr); code != ExitUsage ||
		!strings.Contains(stderr.String(), "--chain-id only applies with --devnet") {
		t.Errorf("--chain-id without --devnet: code %d %s", code, stderr.String())
	}
}

// TestFacilitatorPostgres runs the devnet mode on a PostgreSQL ledger: it
// warns that no instance name is configured, and records settlements under
// the host name.
func TestFacilitatorPostgres(t *testing.T) {
	pg := postgresCrashLedger(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	path := filepath.Join(t.TempDir(), "facilitator.json")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"facilitator", "--devnet", "--listen", "127.0.0.1:0", "--db", pg.url, "--info-file", path}, strings.NewReader(""), &stdout, &stderr)
	}()
	exited := func() (string, bool) {
		select {
		case code := <-done:
			return fmt.Sprintf("code %d\nstderr:\n%s", code, stderr.String()), true
		default:
			return "", false
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	var info facilitatorInfo
	waitInfo(t, wctx, path, &info, exited)
	if !strings.HasPrefix(info.Database, "postgres ") || strings.Contains(info.Database, "search_path") {
		t.Errorf("database = %q", info.Database)
	}
	if !strings.Contains(stderr.String(), "no instance name configured") {
		t.Errorf("no warning about the instance name:\n%s", stderr.String())
	}
	pay := signPayment(t, ctx, info.Devnet.Accounts[0].PrivateKey, x402.Network(info.Network), devnetAsset(info), freshAddress(t.Name()), 1000)
	var sr x402.SettleResponse
	if status, err := call(ctx, http.MethodPost, info.URL+"/settle", pay.body, &sr); err != nil || status != http.StatusOK || !sr.Success {
		t.Fatalf("settle: %d %+v %v", status, sr, err)
	}
	host, _ := os.Hostname()
	var owner, status string
	if err := pg.db.QueryRowContext(ctx, `SELECT owner, status FROM settlements WHERE tx_hash = $1`, sr.Transaction).Scan(&owner, &status); err != nil ||
		owner != host || status != "settled" {
		t.Errorf("ledger row: owner %q status %q (%v); want %q settled", owner, status, err, host)
	}
	waitExit(t, cancel, done, &stderr)
}

// TestFacilitatorBatchedSettlement runs `go402 facilitator --config` on a
// configured network (a devnet reached over JSON-RPC) with batched
// settlement and a small read batch size: concurrent payments all settle,
// in fewer transactions than payments, at least one of them a Multicall3
// batch.
func TestFacilitatorBatchedSettlement(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	d, err := devnet.Start(ctx, devnet.Config{RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	accounts := d.Info().Accounts // hex keys
	nc := d.NetworkConfig()
	asset := nc.Assets[0]

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "facilitator.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
database:
  sqlite: %s
signer:
  privateKey: %q
  allowInsecureKeyInConfig: true
networks:
  - network: %s
    rpcUrls: [%q]
    assets:
      - {address: %q, name: %q, version: %q, decimals: %d, symbol: USDC}
    batch:
      enabled: true
      maxSize: 16
      window: 250ms
    readBatchSize: 8
`, filepath.Join(dir, "ledger.db"), accounts[len(accounts)-1].PrivateKey, nc.Network, d.RPCURL(),
		asset.Address.Hex(), asset.Name, asset.Version, asset.Decimals)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	infoPath := filepath.Join(dir, "info.json")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"facilitator", "--config", cfgPath, "--info-file", infoPath}, strings.NewReader(""), &stdout, &stderr)
	}()
	exited := func() (string, bool) {
		select {
		case code := <-done:
			return fmt.Sprintf("code %d\nstderr:\n%s", code, stderr.String()), true
		default:
			return "", false
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	var info facilitatorInfo
	waitInfo(t, wctx, infoPath, &info, exited)
	if out := stdout.String(); !strings.Contains(out, "batched settlement through Multicall3 "+evm.Multicall3AddressHex+", up to 16") {
		t.Errorf("startup output does not show batching:\n%s", out)
	}

	// Concurrent payments from different payers to one payee.
	const n = 6
	payee := freshAddress(t.Name())
	pays := make([]payment, n)
	var total big.Int
	for i := range pays {
		pays[i] = signPayment(t, ctx, accounts[i].PrivateKey, nc.Network, asset, payee, uint64(1000*(i+1)))
		total.Add(&total, pays[i].amount)
	}
	results := make([]x402.SettleResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range pays {
		wg.Go(func() {
			status, err := call(ctx, http.MethodPost, info.URL+"/settle", pays[i].body, &results[i])
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			errs[i] = err
		})
	}
	wg.Wait()

	txs := map[string]int{}
	for i, r := range results {
		if errs[i] != nil || !r.Success || r.Payer != pays[i].payer.Hex() {
			t.Fatalf("settle %d: %v %+v", i, errs[i], r)
		}
		txs[r.Transaction]++
	}
	if len(txs) >= n {
		t.Errorf("%d payments settled in %d transactions; want fewer transactions than payments", n, len(txs))
	}
	batches := 0
	for h, k := range txs {
		tx, _, err := d.Client().TransactionByHash(ctx, common.HexToHash(h))
		if err != nil {
			t.Fatalf("transaction %s: %v", h, err)
		}
		if k > 1 {
			batches++
			if tx.To() == nil || *tx.To() != evm.Multicall3Address() {
				t.Errorf("transaction %s settles %d payments but is sent to %v, not Multicall3", h, k, tx.To())
			}
		}
	}
	if batches == 0 {
		t.Error("no transaction settled more than one payment")
	}
	if got := tokenBalance(t, ctx, d.Client(), asset.Address, payee); got.Cmp(&total) != 0 {
		t.Errorf("payee balance %s, want %s", got, &total)
	}
	// Each payment is answered on its own: a repeat gives its own result.
	var again x402.SettleResponse
	if status, err := call(ctx, http.MethodPost, info.URL+"/settle", pays[2].body, &again); err != nil || status != http.StatusOK ||
		!again.Success || again.Transaction != results[2].Transaction || again.Payer != pays[2].payer.Hex() {
		t.Errorf("repeated settle: %d %+v %v", status, again, err)
	}

	waitExit(t, cancel, done, &stderr)
}

// TestFacilitatorNeedsAConfig: without --config, only --devnet or a true
// GO402_DEVNET starts a facilitator; GO402_DEVNET=false asks for the file,
// as no variable does.
func TestFacilitatorNeedsAConfig(t *testing.T) {
	for _, v := range []string{"", "false", "0"} {
		t.Run("GO402_DEVNET="+v, func(t *testing.T) {
			t.Setenv("GO402_DEVNET", v)
			code, _, stderr := run(t, "facilitator")
			if code != ExitUsage || !strings.Contains(stderr, "--config FILE is required") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}
