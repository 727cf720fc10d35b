package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	_ "github.com/jackc/pgx/v5/stdlib" // the test reads the PostgreSQL ledger directly
	_ "modernc.org/sqlite"             // and the SQLite one

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// go402Binary returns the command that runs as go402: this test binary,
// which TestMain turns into the go402 command in a subprocess started by
// startProc.
func go402Binary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatalf("locating the test binary: %v", err)
	}
	return bin
}

// proc is a subprocess whose output is kept for failure reports.
type proc struct {
	name     string
	cmd      *exec.Cmd
	out, err syncBuffer
	done     chan struct{}
	waitErr  error
}

// startProc starts bin with args and env. It is killed at the end of the
// test, and its output is logged if the test failed.
func startProc(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(env, runAsGo402+"=1")
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("----- %s (%s) stdout:\n%s\n----- %s stderr:\n%s", name, strings.Join(args, " "), p.out.String(), name, p.err.String())
		}
	})
	return p
}

// kill sends SIGKILL (no clean-up runs in the process) and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) exited() (string, bool) {
	select {
	case <-p.done:
		return fmt.Sprintf("%s exited: %v", p.name, p.waitErr), true
	default:
		return "", false
	}
}

// cleanEnv is the test's environment without GO402_* variables, which
// would override the facilitator's configuration.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GO402_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// poll calls f every interval until it returns true, or fails the test
// when ctx ends.
func poll(t *testing.T, ctx context.Context, what string, f func() bool) {
	t.Helper()
	for !f() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %v", what, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// crashLedger is the ledger database of a crash test, as the facilitator
// configuration names it and as the test reads it. Queries use $1, $2...
// placeholders, which both databases' drivers bind by position.
type crashLedger struct {
	yaml string  // the database section of the configuration
	url  string  // the PostgreSQL URL; "" for SQLite
	db   *sql.DB // read access to the ledger
}

// sqliteCrashLedger is a SQLite ledger file in dir.
func sqliteCrashLedger(t *testing.T, dir string) *crashLedger {
	t.Helper()
	path := filepath.Join(dir, "ledger.db")
	// query_only: the test never writes. The file is created by the
	// facilitator; the pool connects lazily.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &crashLedger{yaml: fmt.Sprintf("database:\n  sqlite: %q\n", path), db: db}
}

// postgresCrashLedger is a PostgreSQL ledger in a schema of its own on the
// test server, dropped at the end; it skips the test (fails it in CI) when
// no server answers.
func postgresCrashLedger(t *testing.T) *crashLedger {
	t.Helper()
	base := os.Getenv("GO402_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL not reachable (%v); CI must run the PostgreSQL tests", err)
		}
		t.Skipf("PostgreSQL not reachable (%v); set GO402_TEST_POSTGRES_URL to run this test", err)
	}
	schema := fmt.Sprintf("crash_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &crashLedger{yaml: fmt.Sprintf("database:\n  postgres: %q\n", u.String()), url: u.String(), db: db}
}

// TestFacilitatorCrashAfterBroadcast kills the facilitator (SIGKILL) after
// it broadcast a settlement but before the transaction was mined, and
// checks that the restarted facilitator finishes the settlement from the
// ledger: one transfer on chain, one ledger row, and an idempotent answer
// to a repeated settle that sends no new transaction. It runs on each
// ledger database.
func TestFacilitatorCrashAfterBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet and a facilitator as subprocesses")
	}
	bin := go402Binary(t)
	// The two runs are independent (own devnet, facilitator and database)
	// and spend most of their time waiting for 3 s blocks.
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		crashAfterBroadcast(t, bin, dir, sqliteCrashLedger(t, dir))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		crashAfterBroadcast(t, bin, t.TempDir(), postgresCrashLedger(t))
	})
}

func crashAfterBroadcast(t *testing.T, bin, dir string, ledger *crashLedger) {

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	// The chain: blocks only every 3 s, so a broadcast settlement waits in
	// the pool.
	devInfoPath := filepath.Join(dir, "devnet.json")
	dev := startProc(t, "devnet", bin, cleanEnv(), "devnet", "--listen", "127.0.0.1:0", "--block-time", "3s", "--no-automine", "--info-file", devInfoPath)
	var dinfo devnet.Info
	waitInfo(t, ctx, devInfoPath, &dinfo, dev.exited)
	rpc, err := ethclient.DialContext(ctx, dinfo.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()

	signerAcct := dinfo.Accounts[len(dinfo.Accounts)-1]
	signer := common.HexToAddress(signerAcct.Address)
	asset := evm.Asset{Address: common.HexToAddress(dinfo.Token.Address), Name: dinfo.Token.Name, Version: dinfo.Token.Version, Decimals: dinfo.Token.Decimals, Symbol: "USDC"}
	cfgPath := filepath.Join(dir, "facilitator.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
instance: crash-test
%ssigner:
  privateKeyEnv: CRASH_TEST_FACILITATOR_KEY
networks:
  - network: %s
    rpcUrls: [%q]
    assets:
      - {address: %q, name: %q, version: %q, decimals: %d, symbol: USDC}
settleTimeout: 1m
reconcileInterval: 1s
logLevel: debug
`, ledger.yaml, dinfo.Network, dinfo.RPCURL, asset.Address.Hex(), asset.Name, asset.Version, asset.Decimals)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	facEnv := cleanEnv("CRASH_TEST_FACILITATOR_KEY=" + signerAcct.PrivateKey)
	startFacilitator := func(name string) (*proc, facilitatorInfo) {
		infoPath := filepath.Join(dir, name+".json")
		p := startProc(t, name, bin, facEnv, "facilitator", "--config", cfgPath, "--info-file", infoPath)
		var info facilitatorInfo
		waitInfo(t, ctx, infoPath, &info, p.exited)
		if info.Signer != signer.Hex() {
			t.Fatalf("%s: signer %s, want %s", name, info.Signer, signer.Hex())
		}
		return p, info
	}
	fac1, info1 := startFacilitator("facilitator-1")

	// The ledger, read directly.
	db := ledger.db

	payee := freshAddress(t.Name())
	const price = 25_000 // 0.025 USDC
	pay := signPayment(t, ctx, dinfo.Accounts[0].PrivateKey, x402.Network(dinfo.Network), asset, payee, price)
	payerBefore := tokenBalance(t, ctx, rpc, asset.Address, pay.payer)
	ledgerRow := func() (status, tx string, found bool) {
		err := db.QueryRowContext(ctx, `SELECT status, tx_hash FROM settlements WHERE payer = $1 AND nonce = $2`,
			strings.ToLower(pay.payer.Hex()), strings.ToLower(pay.nonce)).Scan(&status, &tx)
		if errors.Is(err, sql.ErrNoRows) {
			return "", "", false
		}
		if err != nil {
			t.Fatalf("reading the ledger: %v", err)
		}
		return status, tx, true
	}

	// Settle right after a block, so that the next one is about 3 s away:
	// ample time to see the transaction in the pool and kill the
	// facilitator before it is mined. The facilitator dies before
	// answering, so the outcome of this request is not looked at.
	head, err := rpc.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the next block", func() bool {
		n, err := rpc.BlockNumber(ctx)
		return err == nil && n > head
	})
	go func() { _, _ = call(ctx, http.MethodPost, info1.URL+"/settle", pay.body, nil) }()

	// The transaction hash is in the ledger before the broadcast...
	var txHash string
	poll(t, ctx, "the settlement's transaction hash in the ledger", func() bool {
		_, txHash, _ = ledgerRow()
		return txHash != ""
	})
	// ...and then the transaction is in the devnet's pool, not mined.
	hash := common.HexToHash(txHash)
	poll(t, ctx, "the settlement transaction in the devnet's pool", func() bool {
		_, pending, err := rpc.TransactionByHash(ctx, hash)
		if err == nil && !pending {
			t.Fatalf("transaction %s was mined before the crash could be staged (blocks should only come every 3s)", txHash)
		}
		return err == nil && pending
	})
	fac1.kill()
	if status, _, _ := ledgerRow(); status == "settled" {
		t.Fatalf("the ledger says settled before the crash; the scenario did not happen")
	}

	// The chain mines it while the facilitator is down.
	var receipt *types.Receipt
	poll(t, ctx, "the settlement transaction to be mined", func() bool {
		receipt, err = rpc.TransactionReceipt(ctx, hash)
		return err == nil
	})
	if receipt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("settlement transaction reverted")
	}
	if status, tx, _ := ledgerRow(); status == "settled" || tx != txHash {
		t.Fatalf("ledger changed while the facilitator was down: %s %s", status, tx)
	}

	// Restart with the same configuration: start-up reconciliation records
	// the outcome from the chain.
	fac2, info2 := startFacilitator("facilitator-2")
	poll(t, ctx, "the ledger to say settled", func() bool {
		status, tx, _ := ledgerRow()
		if status == "settled" && tx != txHash {
			t.Fatalf("ledger settled with %s, want %s", tx, txHash)
		}
		return status == "settled"
	})

	// Exactly one transfer on chain.
	if got := tokenBalance(t, ctx, rpc, asset.Address, payee); got.Cmp(big.NewInt(price)) != 0 {
		t.Errorf("payee balance %s, want %d", got, price)
	}
	if got, want := tokenBalance(t, ctx, rpc, asset.Address, pay.payer), new(big.Int).Sub(payerBefore, big.NewInt(price)); got.Cmp(want) != 0 {
		t.Errorf("payer balance %s, want %s", got, want)
	}
	transfer := crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	logs, err := rpc.FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: big.NewInt(0), Addresses: []common.Address{asset.Address},
		Topics: [][]common.Hash{{transfer}, {common.BytesToHash(pay.payer.Bytes())}, {common.BytesToHash(payee.Bytes())}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].TxHash != hash {
		t.Errorf("transfers from payer to payee: %d (want exactly 1, in %s)", len(logs), txHash)
	}
	// One ledger row for the key, and no other.
	var rows, rowsForKey int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(CASE WHEN payer = $1 AND nonce = $2 THEN 1 END) FROM settlements`,
		strings.ToLower(pay.payer.Hex()), strings.ToLower(pay.nonce)).Scan(&rows, &rowsForKey); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || rowsForKey != 1 {
		t.Errorf("settlement rows: %d in all, %d for the key; want 1 and 1", rows, rowsForKey)
	}

	// Settling the same payment again: the same transaction, success, and
	// no new transaction from the facilitator (its only one is the
	// settlement).
	nonceBefore, err := rpc.PendingNonceAt(ctx, signer)
	if err != nil {
		t.Fatal(err)
	}
	if nonceBefore != 1 {
		t.Errorf("facilitator account nonce %d before the retry, want 1 (one transaction ever)", nonceBefore)
	}
	var again x402.SettleResponse
	if status, err := call(ctx, http.MethodPost, info2.URL+"/settle", pay.body, &again); err != nil || status != http.StatusOK {
		t.Fatalf("repeated settle: %d %v", status, err)
	}
	if !again.Success || again.Transaction != txHash || again.Payer != pay.payer.Hex() {
		t.Errorf("repeated settle: %+v, want success with %s", again, txHash)
	}
	if nonceAfter, err := rpc.PendingNonceAt(ctx, signer); err != nil || nonceAfter != nonceBefore {
		t.Errorf("facilitator nonce moved from %d to %d (%v): a new transaction was sent", nonceBefore, nonceAfter, err)
	}
	if log := fac2.err.String(); !strings.Contains(log, "reconciled settlement") || !strings.Contains(log, "instance=crash-test") {
		t.Errorf("the restarted facilitator did not log the reconciliation under its instance name")
	}

	// Graceful shutdown: SIGTERM while a settlement waits for its block.
	// The facilitator stops accepting requests but finishes the settlement,
	// records it, answers the caller and exits 0.
	if runtime.GOOS == "windows" {
		return // no SIGTERM
	}
	pay2 := signPayment(t, ctx, dinfo.Accounts[1].PrivateKey, x402.Network(dinfo.Network), asset, payee, price)
	if head, err = rpc.BlockNumber(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the next block", func() bool {
		n, err := rpc.BlockNumber(ctx)
		return err == nil && n > head
	})
	answered := make(chan x402.SettleResponse, 1)
	go func() {
		var sr x402.SettleResponse
		if status, err := call(ctx, http.MethodPost, info2.URL+"/settle", pay2.body, &sr); err == nil && status == http.StatusOK {
			answered <- sr
		}
		close(answered)
	}()
	row2 := func() (status, tx string) {
		_ = db.QueryRowContext(ctx, `SELECT status, tx_hash FROM settlements WHERE payer = $1 AND nonce = $2`,
			strings.ToLower(pay2.payer.Hex()), strings.ToLower(pay2.nonce)).Scan(&status, &tx)
		return status, tx
	}
	var tx2 string
	poll(t, ctx, "the second settlement's broadcast", func() bool {
		_, tx2 = row2()
		if tx2 == "" {
			return false
		}
		_, _, err := rpc.TransactionByHash(ctx, common.HexToHash(tx2))
		return err == nil // broadcast (and normally not mined yet)
	})
	if err := fac2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fac2.done:
	case <-ctx.Done():
		t.Fatal("the facilitator did not exit after SIGTERM")
	}
	if code := fac2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM: %d, want 0", code)
	}
	if status, tx := row2(); status != "settled" || tx != tx2 {
		t.Errorf("after a graceful shutdown the ledger says %q %s, want settled %s", status, tx, tx2)
	}
	if sr, ok := <-answered; !ok || !sr.Success || sr.Transaction != tx2 {
		t.Errorf("the in-flight settle was not answered with its result: %+v (answered %v)", sr, ok)
	}
	if got := tokenBalance(t, ctx, rpc, asset.Address, payee); got.Cmp(big.NewInt(2*price)) != 0 {
		t.Errorf("payee balance %s after the second payment, want %d", got, 2*price)
	}
}

func TestDevnetNoAutoMineNeedsBlockTime(t *testing.T) {
	var stdout, stderr strings.Builder
	code := Run(t.Context(), []string{"devnet", "--no-automine"}, strings.NewReader(""), &stdout, &stderr)
	if code != ExitUsage || !strings.Contains(stderr.String(), "--no-automine needs --block-time") {
		t.Errorf("code %d, stderr %q", code, stderr.String())
	}
}
