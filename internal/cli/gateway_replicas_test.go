package cli

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// TestGatewayReplicasSharePostgresQueue runs gateway processes sharing one
// PostgreSQL settlement queue (queue.postgres), in front of one go402
// facilitator on a devnet (2 s blocks, so a settlement takes a while):
// one payment sent to two replicas at once is served once and settled
// once; a replica killed (SIGKILL) while it settles leaves a lease that
// runs out, and another replica finishes the settlement of the same
// payment, which the facilitator settles once.
func TestGatewayReplicasSharePostgresQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet, a facilitator and gateways as subprocesses")
	}
	ledger := postgresCrashLedger(t) // a fresh schema, dropped at the end
	bin := go402Binary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	devInfoPath := filepath.Join(dir, "devnet.json")
	dev := startProc(t, "devnet", bin, cleanEnv(), "devnet", "--listen", "127.0.0.1:0", "--block-time", "2s", "--no-automine", "--info-file", devInfoPath)
	var dinfo devnet.Info
	waitInfo(t, ctx, devInfoPath, &dinfo, dev.exited)
	rpc, err := ethclient.DialContext(ctx, dinfo.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	signerAcct := dinfo.Accounts[len(dinfo.Accounts)-1]
	asset := evm.Asset{Address: common.HexToAddress(dinfo.Token.Address), Name: dinfo.Token.Name, Version: dinfo.Token.Version, Decimals: dinfo.Token.Decimals, Symbol: "USDC"}

	facCfg := filepath.Join(dir, "facilitator.yaml")
	ledgerPath := filepath.Join(dir, "ledger.db")
	replicasWriteFile(t, facCfg, fmt.Sprintf(`listen: 127.0.0.1:0
instance: replicas-test
database: {sqlite: %q}
signer: {privateKeyEnv: REPLICAS_TEST_FACILITATOR_KEY}
networks:
  - network: %s
    rpcUrls: [%q]
    assets:
      - {address: %q, name: %q, version: %q, decimals: %d, symbol: USDC}
settleTimeout: 1m
`, ledgerPath, dinfo.Network, dinfo.RPCURL, asset.Address.Hex(), asset.Name, asset.Version, asset.Decimals))
	facInfoPath := filepath.Join(dir, "facilitator.json")
	fac := startProc(t, "facilitator", bin, cleanEnv("REPLICAS_TEST_FACILITATOR_KEY="+signerAcct.PrivateKey), "facilitator", "--config", facCfg, "--info-file", facInfoPath)
	var finfo facilitatorInfo
	waitInfo(t, ctx, facInfoPath, &finfo, fac.exited)

	var served atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		fmt.Fprint(w, "the paid answer")
	}))
	t.Cleanup(up.Close)
	payee := freshAddress(t.Name())
	const price = 10_000 // $0.01
	gwCfg := filepath.Join(dir, "gateway.yaml")
	replicasWriteFile(t, gwCfg, fmt.Sprintf(`listen: 127.0.0.1:0
facilitator: {url: %q, reservesFunds: true}
networks:
  - network: %s
    assets:
      - {address: %q, name: %q, version: %q, decimals: %d, symbol: USDC}
network: %[2]s
payTo: %[7]q
queue: {postgres: %[8]q, leaseSeconds: 2, workers: 4}
routes:
  - path: GET /paid
    upstream: %[9]q
    price: $0.01
    policy: serve-then-settle
`, finfo.URL, dinfo.Network, asset.Address.Hex(), asset.Name, asset.Version, asset.Decimals, payee.Hex(), ledger.url, up.URL))
	urlRE := regexp.MustCompile(`URL +(http://\S+)`)
	startGateway := func(name string) (*proc, string) {
		p := startProc(t, name, bin, cleanEnv(), "gateway", "--config", gwCfg)
		var base string
		poll(t, ctx, name+" listening", func() bool {
			if msg, ok := p.exited(); ok {
				t.Fatal(msg)
			}
			if m := urlRE.FindStringSubmatch(p.out.String()); m != nil {
				base = m[1]
			}
			return base != ""
		})
		return p, base
	}
	gwA, baseA := startGateway("gateway-a")
	gwB, baseB := startGateway("gateway-b")

	// The queue, read directly (the gateways created it in the test's
	// schema, the search_path of ledger.url).
	queueRow := func(id int) (state string, attempts int) {
		err := ledger.db.QueryRowContext(ctx, `SELECT state, attempts FROM settlement_queue WHERE state != 'claimed' ORDER BY id OFFSET $1 LIMIT 1`, id).Scan(&state, &attempts)
		if err != nil && err != sql.ErrNoRows {
			t.Fatalf("reading the queue: %v", err)
		}
		return state, attempts
	}
	payeeBalance := func() *big.Int { return tokenBalance(t, ctx, rpc, asset.Address, payee) }
	pay := func(base string) http.Header {
		return replicasSign(t, dinfo.Accounts[1].PrivateKey, gwRequired(t, gwGet(t, base+"/paid", nil)))
	}

	// 1. One payment, sent to both replicas at once: served once.
	header := pay(baseA)
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, base := range []string{baseA, baseB} {
		wg.Go(func() { statuses[i] = gwGet(t, base+"/paid", header).status })
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusPaymentRequired:
		default:
			t.Fatalf("statuses %v: want one 200 and one 402", statuses)
		}
	}
	if ok != 1 || served.Load() != 1 {
		t.Fatalf("statuses %v, upstream called %d times: want one 200 (one call) and one 402", statuses, served.Load())
	}
	// ...and settled once.
	poll(t, ctx, "the first settlement", func() bool { s, _ := queueRow(0); return s == "done" })
	if got := payeeBalance(); got.Cmp(big.NewInt(price)) != 0 {
		t.Fatalf("payee balance %v after one payment of %d", got, price)
	}

	// 2. A replica killed mid-settle: only A runs; once it leased the
	// second payment (the facilitator waits for a block), kill it.
	gwB.kill()
	if r := gwGet(t, baseA+"/paid", pay(baseA)); r.status != http.StatusOK {
		t.Fatalf("second payment: %d %s", r.status, r.body)
	}
	poll(t, ctx, "replica A to lease the second settlement", func() bool { s, n := queueRow(1); return s == "queued" && n >= 1 })
	gwA.kill()
	if s, n := queueRow(1); s != "queued" || n != 1 {
		t.Fatalf("after the kill: %s after %d attempts; the scenario did not happen (settled before the kill?)", s, n)
	}
	// Replica C takes it over once A's lease runs out, with the same
	// payment: the facilitator settles it once.
	startGateway("gateway-c")
	poll(t, ctx, "replica C to finish the second settlement", func() bool { s, _ := queueRow(1); return s == "done" })
	if _, n := queueRow(1); n < 2 {
		t.Errorf("the second settlement was handed out %d times, want a second attempt after the lease ran out", n)
	}
	if got := payeeBalance(); got.Cmp(big.NewInt(2*price)) != 0 {
		t.Fatalf("payee balance %v after two payments of %d: want each settled once", got, price)
	}
	if served.Load() != 2 {
		t.Errorf("upstream called %d times for two payments", served.Load())
	}
	// The facilitator's ledger: two settlements, each settled once.
	led, err := sql.Open("sqlite", "file:"+ledgerPath+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	var rows, settled int
	if err := led.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'settled') FROM settlements`).Scan(&rows, &settled); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || settled != 2 {
		t.Errorf("facilitator ledger: %d settlements, %d settled; want 2, 2", rows, settled)
	}
}

func replicasWriteFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replicasSign pays the first option of pr with the hex key.
func replicasSign(t *testing.T, keyHex string, pr *x402.PaymentRequired) http.Header {
	t.Helper()
	signer, err := evm.NewPrivateKeySigner(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{x402.HeaderPaymentSignature: {h}}
}
