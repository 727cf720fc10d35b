package attack_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	_ "github.com/jackc/pgx/v5/stdlib" // the test reads the PostgreSQL ledger directly

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/cli"
	"github.com/go402/go402/x402http"
)

// runAsGo402 makes the test binary, started again as a subprocess, run as
// the go402 command, so that the crash test needs no separate build.
const runAsGo402 = "ATTACK_TEST_RUN_AS_GO402"

func TestMain(m *testing.M) {
	if os.Getenv(runAsGo402) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// facProc is a `go402 facilitator` subprocess.
type facProc struct {
	cmd  *exec.Cmd
	out  logSink
	done chan struct{}
}

// startFacProc runs `go402 facilitator --config cfg` and waits for its
// info file; it is killed when the test ends.
func startFacProc(t *testing.T, ctx context.Context, cfg, infoPath string, env []string) *facProc {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(infoPath)
	p := &facProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, "facilitator", "--config", cfg, "--info-file", infoPath)
	p.cmd.Env = append(env, runAsGo402+"=1")
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("----- facilitator output:\n%s", p.out.String())
		}
	})
	for {
		if _, err := os.Stat(infoPath); err == nil {
			return p
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case <-p.done:
			t.Fatalf("the facilitator exited:\n%s", p.out.String())
		case <-ctx.Done():
			t.Fatalf("the facilitator did not start: %v", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL: nothing of the process's clean-up runs.
func (p *facProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitFor polls f until it is true, or fails the test when ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, f func() bool) {
	t.Helper()
	for !f() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// TestFacilitatorKilledMidSettlement: while a payer keeps presenting one
// authorization to a server (default middleware, remote facilitator),
// the facilitator process is killed with SIGKILL after broadcasting the
// settlement and before it is mined, then restarted. Exactly one transfer
// reaches the chain, the ledger records it as settled, and at most one
// response is served. On both ledgers.
func TestFacilitatorKilledMidSettlement(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the facilitator as a subprocess")
	}
	t.Parallel() // it mostly waits for blocks: overlap it with the other tests
	for _, l := range ledgers {
		t.Run(string(l), func(t *testing.T) { killedMidSettlement(t, l) })
	}
}

func killedMidSettlement(t *testing.T, l ledgerKind) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	var dbYAML, dbURL string
	switch l {
	case onPostgres:
		u, err := url.Parse(postgresURL())
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", newSchema(t))
		u.RawQuery = q.Encode()
		dbURL = u.String()
		dbYAML = fmt.Sprintf("database:\n  postgres: %q\n", dbURL)
	default:
		path := filepath.Join(dir, "ledger.db")
		dbYAML = fmt.Sprintf("database:\n  sqlite: %q\n", path)
		dbURL = "file:" + path + "?_pragma=query_only(1)&_pragma=busy_timeout(5000)"
	}
	// Blocks every 3 s only: a broadcast settlement waits in the pool.
	c := newChain(t, devnet.Config{Accounts: 3, RPCAddr: "127.0.0.1:0", BlockTime: 3 * time.Second, NoAutoMine: true})
	signer := c.accts[len(c.accts)-1]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tok := c.dev.NetworkConfig().Assets[0]
	cfgPath := filepath.Join(dir, "facilitator.yaml")
	cfg := fmt.Sprintf(`listen: %s
instance: attack
%ssigner:
  privateKeyEnv: ATTACK_FACILITATOR_KEY
networks:
  - network: %s
    rpcUrls: [%q]
    assets:
      - {address: %q, name: %q, version: %q, decimals: %d, symbol: USDC}
settleTimeout: 1m
reconcileInterval: 1s
`, addr, dbYAML, c.network, c.dev.RPCURL(), tok.Address.Hex(), tok.Name, tok.Version, tok.Decimals)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GO402_") {
			env = append(env, kv)
		}
	}
	env = append(env, "ATTACK_FACILITATOR_KEY="+hex.EncodeToString(crypto.FromECDSA(signer.PrivateKey)))
	info := filepath.Join(dir, "info.json")
	fac := startFacProc(t, ctx, cfgPath, info, env)
	var fi struct{ URL string }
	if b, err := os.ReadFile(info); err != nil || json.Unmarshal(b, &fi) != nil {
		t.Fatalf("info file: %v %s", err, b)
	}
	rc, err := remote.New(remote.Config{URL: fi.URL})
	if err != nil {
		t.Fatal(err)
	}
	h := &counted{}
	_, srv := c.server(t, rc, nil, h, c.route("GET /paid", x402http.SettleBeforeServe))
	p := c.newPayer(t, 3*priceAtomic)
	pay := p.sign(t, offer(t, srv+"/paid"))

	// The attack: the same header, three at a time, until told to stop.
	var served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if a := get(ctx, srv+"/paid", pay); a.status == http.StatusOK {
					served.Add(1)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	eth := c.dev.Client()
	waitFor(t, ctx, "the settlement's broadcast", func() bool {
		n, err := eth.PendingNonceAt(ctx, signer.Address)
		return err == nil && n > 0
	})
	if n, err := eth.NonceAt(ctx, signer.Address, nil); err != nil || n != 0 {
		t.Fatalf("the settlement was mined before the crash could be staged (%d, %v)", n, err)
	}
	fac.kill()
	waitFor(t, ctx, "the settlement to be mined", func() bool {
		n, err := eth.NonceAt(ctx, signer.Address, nil)
		return err == nil && n > 0
	})
	startFacProc(t, ctx, cfgPath, info, env)

	db, err := sql.Open(map[ledgerKind]string{onSQLite: "sqlite", onPostgres: "pgx"}[l], dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitFor(t, ctx, "the ledger to record the settlement", func() bool {
		var status string
		err := db.QueryRowContext(ctx, "SELECT status FROM settlements").Scan(&status)
		return err == nil && status == "settled"
	})
	time.Sleep(2 * time.Second) // the attack goes on against the restarted facilitator
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM settlements").Scan(&rows); err != nil || rows != 1 {
		t.Errorf("ledger rows %d (%v), want 1", rows, err)
	}
	if n, err := eth.PendingNonceAt(ctx, signer.Address); err != nil || n != 1 {
		t.Errorf("the facilitator sent %d transactions (%v), want 1", n, err)
	}
	if got := c.balance(t, p.addr); got.Cmp(big.NewInt(2*priceAtomic)) != 0 {
		t.Errorf("payer balance %s, want %d: exactly one transfer", got, 2*priceAtomic)
	}
	if n := served.Load(); n > 1 {
		t.Errorf("%d responses served for one authorization", n)
	}
}
