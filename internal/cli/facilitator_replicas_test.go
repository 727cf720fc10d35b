package cli

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// TestFacilitatorReplicasSurviveSIGKILL is a bounded load test on
// loopback: three facilitator processes share one PostgreSQL ledger and
// settle a stream of payments sent to them round-robin by concurrent
// clients, which retry a failed or pending settlement on the next
// facilitator (as the settlement queue does). One facilitator is killed
// with SIGKILL in the middle and restarted under the same instance name
// (its start-up reconciliation finishes what it left). At the end nothing
// is lost and nothing doubled: every payment has exactly one ledger row,
// settled, every client got that row's transaction, and the payee's
// balance moved by the sum of the payments.
func TestFacilitatorReplicasSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet and three facilitators as subprocesses")
	}
	ledger := postgresCrashLedger(t)
	bin := go402Binary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	devInfoPath := filepath.Join(dir, "devnet.json")
	dev := startProc(t, "devnet", bin, cleanEnv(), "devnet", "--listen", "127.0.0.1:0", "--info-file", devInfoPath)
	var dinfo devnet.Info
	waitInfo(t, ctx, devInfoPath, &dinfo, dev.exited)
	rpc, err := ethclient.DialContext(ctx, dinfo.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	asset := evm.Asset{Address: common.HexToAddress(dinfo.Token.Address), Name: dinfo.Token.Name, Version: dinfo.Token.Version, Decimals: dinfo.Token.Decimals, Symbol: "USDC"}

	const facilitators = 3
	var (
		mu   sync.Mutex
		urls [facilitators]string
	)
	start := func(i int) *proc {
		acct := dinfo.Accounts[len(dinfo.Accounts)-1-i] // a signer of its own
		cfgPath := filepath.Join(dir, fmt.Sprintf("facilitator-%d.yaml", i))
		replicasWriteFile(t, cfgPath, fmt.Sprintf(`listen: 127.0.0.1:0
instance: replica-%d
%ssigner: {privateKeyEnv: REPLICA_KEY}
networks:
  - network: %s
    rpcUrls: [%q]
    assets:
      - {address: %q, name: %q, version: %q, decimals: %d, symbol: USDC}
settleTimeout: 10s
reconcileInterval: 1s
`, i, ledger.yaml, dinfo.Network, dinfo.RPCURL, asset.Address.Hex(), asset.Name, asset.Version, asset.Decimals))
		infoPath := filepath.Join(dir, fmt.Sprintf("facilitator-%d-%d.json", i, time.Now().UnixNano()))
		p := startProc(t, fmt.Sprintf("facilitator-%d", i), bin, cleanEnv("REPLICA_KEY="+acct.PrivateKey), "facilitator", "--config", cfgPath, "--info-file", infoPath)
		var info facilitatorInfo
		waitInfo(t, ctx, infoPath, &info, p.exited)
		mu.Lock()
		urls[i] = info.URL
		mu.Unlock()
		return p
	}
	procs := make([]*proc, facilitators)
	for i := range procs {
		procs[i] = start(i)
	}

	payee := freshAddress(t.Name())
	const payments, payers, clients = 30, 6, 6
	work := make(chan int, payments)
	pays := make([]payment, payments)
	sum := new(big.Int)
	for i := range pays {
		amount := uint64(1000 + i)
		pays[i] = signPayment(t, ctx, dinfo.Accounts[i%payers].PrivateKey, x402.Network(dinfo.Network), asset, payee, amount)
		sum.Add(sum, pays[i].amount)
		work <- i
	}
	close(work)
	before := tokenBalance(t, ctx, rpc, asset.Address, payee)

	var settledCount, retries atomic.Int64
	txs := make([]string, payments)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range work {
				for try := c + i; ; try++ {
					if ctx.Err() != nil {
						t.Errorf("payment %d: not settled before the deadline", i)
						return
					}
					mu.Lock()
					url := urls[try%facilitators]
					mu.Unlock()
					var resp x402.SettleResponse
					cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
					status, err := call(cctx, http.MethodPost, url+"/settle", pays[i].body, &resp)
					ccancel()
					if err == nil && status == http.StatusOK && resp.Success {
						txs[i] = resp.Transaction
						settledCount.Add(1)
						break
					}
					if err == nil && status == http.StatusOK && !resp.Success && resp.ErrorReason != x402.ReasonSettlementPending {
						t.Errorf("payment %d refused by %s: %s %s", i, url, resp.ErrorReason, resp.ErrorMessage)
						return
					}
					retries.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	// SIGKILL facilitator 1 in the middle of the stream, then restart it.
	poll(t, ctx, "a third of the payments to settle", func() bool { return settledCount.Load() >= payments/3 })
	procs[1].kill()
	killedAt := settledCount.Load()
	time.Sleep(300 * time.Millisecond)
	procs[1] = start(1)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Nothing lost, nothing doubled.
	var rows, settled, distinctTx int
	if err := ledger.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'settled'), count(DISTINCT tx_hash) FROM settlements WHERE lower(pay_to) = $1`,
		strings.ToLower(payee.Hex())).Scan(&rows, &settled, &distinctTx); err != nil {
		t.Fatalf("reading the ledger: %v", err)
	}
	for i, p := range pays {
		var n int
		var tx string
		if err := ledger.db.QueryRowContext(ctx, `SELECT count(*), max(tx_hash) FROM settlements WHERE payer = $1 AND nonce = $2 AND status = 'settled'`,
			strings.ToLower(p.payer.Hex()), strings.ToLower(p.nonce)).Scan(&n, &tx); err != nil {
			t.Fatal(err)
		}
		if n != 1 || !strings.EqualFold(tx, txs[i]) {
			t.Errorf("payment %d: %d settled rows (tx %s), the client was told %s; want one, the same", i, n, tx, txs[i])
		}
	}
	got := new(big.Int).Sub(tokenBalance(t, ctx, rpc, asset.Address, payee), before)
	if got.Cmp(sum) != 0 {
		t.Errorf("payee received %v, want %v (the sum of %d payments)", got, sum, payments)
	}
	t.Logf("load: %d payments, %d facilitators, 1 SIGKILL (after %d settled), %d client retries, ledger rows %d settled %d distinct tx %d; lost 0, doubled 0",
		payments, facilitators, killedAt, retries.Load(), rows, settled, distinctTx)
	if rows != payments || settled != payments {
		t.Errorf("ledger: %d rows, %d settled; want %d each", rows, settled, payments)
	}
	_ = os.Remove(devInfoPath)
}
