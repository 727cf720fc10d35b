// Package devtest runs the examples' tests against the real stack: it
// starts `go402 dev` in-process (a devnet with JSON-RPC, a facilitator and
// a paid API on loopback, described by its info file), reads token balances
// over the devnet's JSON-RPC as any wallet would, and builds an example
// into a binary to run as its own process.
package devtest

import (
	"bytes"
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

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/internal/cli"
)

// startTimeout bounds the wait for `go402 dev` (or `go402 gateway`) to be
// ready, and stopTimeout for it to exit.
const (
	startTimeout = 20 * time.Second
	stopTimeout  = 30 * time.Second
)

// Info is the info file of `go402 dev`: the devnet's fields, then the
// payer accounts, the facilitator URL and the paid endpoints. That of
// `go402 gateway --devnet` has these fields too, but no facilitator URL
// (its facilitator is embedded).
type Info struct {
	devnet.Info
	// Payers is how many accounts, first in Accounts, are funded payers
	// that the services never use.
	Payers         int        `json:"payers"`
	FacilitatorURL string     `json:"facilitatorUrl"`
	Endpoints      []Endpoint `json:"endpoints"`
}

// Endpoint is a paid endpoint in Info.
type Endpoint struct {
	URL    string `json:"url"`
	Method string `json:"method"`
	Price  string `json:"price"`
	PayTo  string `json:"payTo"`
}

// Dev is a running `go402 dev`.
type Dev struct {
	*Chain
	// InfoFile is the path of its info file, and Info its content.
	InfoFile string
	Info     Info
}

// StartDev runs `go402 dev --info-file …` until the test ends, and returns
// once the info file is written.
func StartDev(t testing.TB) *Dev {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dev.json")
	out := RunCommand(t, "dev", "--info-file", path)
	d := &Dev{InfoFile: path}
	WaitFor(t, out, func() bool {
		b, err := os.ReadFile(path) // written complete: renamed into place
		return err == nil && json.Unmarshal(b, &d.Info) == nil
	})
	if d.Info.Payers == 0 || len(d.Info.Accounts) <= d.Info.Payers || len(d.Info.Endpoints) == 0 {
		t.Fatalf("go402 dev info file: %+v", d.Info)
	}
	d.Chain = Dial(t, d.Info.RPCURL, d.Info.Token.Address)
	return d
}

// Output is a go402 command's output, written while the test reads it.
type Output struct {
	mu       sync.Mutex
	out, err bytes.Buffer
	exited   bool
	code     int
}

type stream struct {
	o *Output
	b *bytes.Buffer
}

func (s stream) Write(p []byte) (int, error) {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	return s.b.Write(p)
}

// Stdout returns what the command wrote to stdout so far.
func (o *Output) Stdout() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out.String()
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return "stdout:\n" + o.out.String() + "\nstderr:\n" + o.err.String()
}

// RunCommand runs `go402 args…` in-process until the test ends; it must
// then exit with status 0.
func RunCommand(t testing.TB, args ...string) *Output {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := &Output{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		code := cli.Run(ctx, args, strings.NewReader(""), stream{o, &o.out}, stream{o, &o.err})
		o.mu.Lock()
		o.exited, o.code = true, code
		o.mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			t.Errorf("go402 %s did not stop within %v", args[0], stopTimeout)
			return
		}
		if o.code != 0 {
			t.Errorf("go402 %s exited with status %d\n%s", args[0], o.code, o)
		}
	})
	return o
}

// WaitFor polls ready until it reports true; it fails the test if the
// command exits first or startTimeout passes.
func WaitFor(t testing.TB, o *Output, ready func() bool) {
	t.Helper()
	for deadline := time.Now().Add(startTimeout); !ready(); time.Sleep(20 * time.Millisecond) {
		o.mu.Lock()
		exited, code := o.exited, o.code
		o.mu.Unlock()
		if exited {
			t.Fatalf("the command exited with status %d before it was ready\n%s", code, o)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command was not ready within %v\n%s", startTimeout, o)
		}
	}
}

// Chain reads a devnet's token balances over its JSON-RPC.
type Chain struct {
	rpc   *ethclient.Client
	token common.Address
}

// Dial connects to the JSON-RPC at rpcURL for the token at token.
func Dial(t testing.TB, rpcURL, token string) *Chain {
	t.Helper()
	rpc, err := ethclient.Dial(rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rpc.Close)
	return &Chain{rpc: rpc, token: common.HexToAddress(token)}
}

// Balance returns the token balance of addr, in atomic units.
func (c *Chain) Balance(t testing.TB, addr string) *big.Int {
	t.Helper()
	// balanceOf(address): selector 0x70a08231, then the address padded
	// to 32 bytes.
	data := append([]byte{0x70, 0xa0, 0x82, 0x31}, common.LeftPadBytes(common.HexToAddress(addr).Bytes(), 32)...)
	out, err := c.rpc.CallContract(context.Background(), ethereum.CallMsg{To: &c.token, Data: data}, nil)
	if err != nil || len(out) != 32 {
		t.Fatalf("balanceOf(%s): %x, %v", addr, out, err)
	}
	return new(big.Int).SetBytes(out)
}

// Balances snapshots the balances of addrs.
func (c *Chain) Balances(t testing.TB, addrs ...string) []*big.Int {
	t.Helper()
	out := make([]*big.Int, len(addrs))
	for i, a := range addrs {
		out[i] = c.Balance(t, a)
	}
	return out
}

// Moved checks that the balances of addrs moved from before by exactly
// deltas (atomic units, negative for a payer).
func (c *Chain) Moved(t testing.TB, before []*big.Int, addrs []string, deltas ...int64) {
	t.Helper()
	for i, a := range addrs {
		got := new(big.Int).Sub(c.Balance(t, a), before[i])
		if got.Cmp(big.NewInt(deltas[i])) != 0 {
			t.Errorf("the balance of %s moved by %s, want exactly %d", a, got, deltas[i])
		}
	}
}

// Build compiles the example (a package directory) into a binary in a
// temporary directory and returns its path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building %s needs the go command: %v", pkg, err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command(gocmd, "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
