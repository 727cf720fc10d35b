package evm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
)

// Both real and simulated clients satisfy Backend.
var (
	_ Backend = (*ethclient.Client)(nil)
	_ Backend = simulated.Client(nil)
)

// Contracts placed in the genesis allocation of the simulated chain.
var (
	// revertReasonCode reverts with Error("nope"): it copies the 100-byte
	// ABI encoding that follows the 12-byte prologue into memory and
	// reverts with it.
	revertReasonCode = common.FromHex("0x6064600c60003960646000fd" +
		"08c379a0" +
		"0000000000000000000000000000000000000000000000000000000000000020" +
		"0000000000000000000000000000000000000000000000000000000000000004" +
		"6e6f706500000000000000000000000000000000000000000000000000000000")
	// revertCustomCode reverts with the 4-byte custom error 0xdeadbeef.
	revertCustomCode = common.FromHex("0x63deadbeef60e01b60005260046000fd")
	// revertBareCode reverts with no data.
	revertBareCode = common.FromHex("0x60006000fd")

	revertReasonAddr = common.HexToAddress("0x00000000000000000000000000000000000ba5e1")
	revertCustomAddr = common.HexToAddress("0x00000000000000000000000000000000000ba5e2")
	revertBareAddr   = common.HexToAddress("0x00000000000000000000000000000000000ba5e3")
)

type simChain struct {
	sim    *simulated.Backend
	client simulated.Client
	key    *ecdsa.PrivateKey
	from   common.Address
}

var simFunds = new(big.Int).Mul(big.NewInt(10), big.NewInt(params.Ether))

func newSimChain(t *testing.T) *simChain {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	sim := simulated.NewBackend(types.GenesisAlloc{
		from:             {Balance: simFunds},
		revertReasonAddr: {Code: revertReasonCode},
		revertCustomAddr: {Code: revertCustomCode},
		revertBareAddr:   {Code: revertBareCode},
	})
	t.Cleanup(func() { _ = sim.Close() })
	return &simChain{sim: sim, client: sim.Client(), key: key, from: from}
}

// mine commits a block every few milliseconds until the test ends: the
// simulated backend does not mine on its own.
func (c *simChain) mine(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				c.sim.Commit()
			}
		}
	}()
	// Registered after newSimChain's Close, so it runs before it.
	t.Cleanup(func() { close(done); wg.Wait() })
}

func (c *simChain) sender(t *testing.T, backend Backend, mod func(*SenderConfig)) *Sender {
	t.Helper()
	if backend == nil {
		backend = c.client
	}
	cfg := SenderConfig{
		Backend:        backend,
		Key:            c.key,
		ChainID:        params.AllDevChainProtocolChanges.ChainID,
		Logger:         slog.New(slog.NewTextHandler(newTestWriter(t, crypto.FromECDSA(c.key)), &slog.HandlerOptions{Level: slog.LevelDebug})),
		ReceiptTimeout: 20 * time.Second,
		PollInterval:   5 * time.Millisecond,
		ResolveTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSender(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

// testWriter sends log output to t.Log and fails the test if it ever holds
// the key. The Sender's background re-submissions may log after the test
// has returned; those lines are dropped (t.Log would panic).
type testWriter struct {
	t    *testing.T
	key  string
	mu   sync.Mutex
	done bool
}

func newTestWriter(t *testing.T, key []byte) *testWriter {
	w := &testWriter{t: t, key: fmt.Sprintf("%x", key)}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	line := strings.TrimSpace(string(p))
	if strings.Contains(strings.ToLower(line), w.key) {
		w.t.Errorf("a log line holds the private key: %s", line)
	}
	w.t.Log(line)
	return len(p), nil
}

func recipient(i int) common.Address {
	return common.BigToAddress(big.NewInt(int64(0x10000 + i)))
}

// checkSettled waits for the receipts of txs and checks that the chain
// nonce of the key equals the Sender's counter, with nothing released: no
// gap, nothing stuck.
func checkSettled(t *testing.T, c *simChain, s *Sender, txs []*types.Transaction) {
	t.Helper()
	ctx := context.Background()
	for _, tx := range txs {
		r, err := s.WaitReceipt(ctx, tx.Hash())
		if err != nil {
			t.Fatalf("WaitReceipt(nonce %d): %v", tx.Nonce(), err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("tx nonce %d failed", tx.Nonce())
		}
	}
	next, released := s.nonces.state()
	if len(released) != 0 {
		t.Fatalf("released nonces left over: %v", released)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mined, err := c.client.NonceAt(ctx, c.from, nil)
		if err != nil {
			t.Fatal(err)
		}
		if mined == next {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("chain nonce %d, sender counter %d: a transaction is stuck", mined, next)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nonceSet(txs []*types.Transaction) []uint64 {
	var ns []uint64
	for _, tx := range txs {
		ns = append(ns, tx.Nonce())
	}
	slices.Sort(ns)
	return ns
}

func TestSenderConcurrentSends(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	s := c.sender(t, nil, nil)
	ctx := context.Background()

	const n = 50
	txs := make([]*types.Transaction, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txs[i], errs[i] = s.SendValue(ctx, recipient(i), big.NewInt(int64(1000+i)), nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	ns := nonceSet(txs)
	for i, nonce := range ns {
		if nonce != uint64(i) {
			t.Fatalf("nonces %v: want 0..%d without collisions or gaps", ns, n-1)
		}
	}
	for _, tx := range txs {
		if tx.Type() != types.DynamicFeeTxType || tx.Gas() < params.TxGas || tx.Gas() > DefaultGasCap {
			t.Fatalf("tx type %d gas %d", tx.Type(), tx.Gas())
		}
		if tx.GasFeeCap().Cmp(tx.GasTipCap()) < 0 {
			t.Fatal("fee cap below tip")
		}
		signer := types.LatestSignerForChainID(s.ChainID())
		if from, err := types.Sender(signer, tx); err != nil || from != c.from {
			t.Fatalf("tx sender %s (%v)", from, err)
		}
	}
	checkSettled(t, c, s, txs)
	for i := range n {
		bal, err := c.client.BalanceAt(ctx, recipient(i), nil)
		if err != nil || bal.Int64() != int64(1000+i) {
			t.Fatalf("recipient %d balance %s (%v)", i, bal, err)
		}
	}
}

func TestSenderNodeRejectionLeavesNoGap(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	s := c.sender(t, nil, nil)
	ctx := context.Background()

	var txs []*types.Transaction
	send := func(i int) {
		t.Helper()
		tx, err := s.SendValue(ctx, recipient(i), big.NewInt(1), nil)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		txs = append(txs, tx)
	}
	for i := range 3 {
		send(i)
	}
	// Passes estimation (value < balance) but the pool rejects it: the
	// balance cannot also pay for the gas. The first three are mined first so
	// the balance read here is the one estimation sees: with them still
	// pending, estimation runs on a state whose balance is lower by their gas.
	for _, tx := range txs {
		if _, err := s.WaitReceipt(ctx, tx.Hash()); err != nil {
			t.Fatalf("WaitReceipt(nonce %d): %v", tx.Nonce(), err)
		}
	}
	bal, err := c.client.BalanceAt(ctx, c.from, nil)
	if err != nil {
		t.Fatal(err)
	}
	huge := new(big.Int).Sub(bal, big.NewInt(1))
	if _, err := s.SendValue(ctx, recipient(99), huge, nil); !errors.Is(err, ErrTxRejected) {
		t.Fatalf("huge send error = %v, want ErrTxRejected", err)
	} else if !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("huge send error = %v, want the node's reason", err)
	}
	for i := 3; i < 6; i++ {
		send(i)
	}
	if ns := nonceSet(txs); !slices.Equal(ns, []uint64{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("nonces %v", ns)
	}
	checkSettled(t, c, s, txs)
}

func TestSenderConcurrentRejectionIsFilled(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	s := c.sender(t, nil, nil)
	ctx := context.Background()
	bal, err := c.client.BalanceAt(ctx, c.from, nil)
	if err != nil {
		t.Fatal(err)
	}
	huge := new(big.Int).Sub(bal, big.NewInt(1))

	const n = 20
	const hugeAt = 7
	txs := make([]*types.Transaction, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := big.NewInt(1)
			if i == hugeAt {
				v = huge
			}
			txs[i], errs[i] = s.SendValue(ctx, recipient(i), v, nil)
		}()
	}
	wg.Wait()
	var ok []*types.Transaction
	for i, err := range errs {
		switch {
		case i == hugeAt && !errors.Is(err, ErrTxRejected):
			t.Fatalf("huge send error = %v, want ErrTxRejected", err)
		case i != hugeAt && err != nil:
			t.Fatalf("send %d: %v", i, err)
		case i != hugeAt:
			ok = append(ok, txs[i])
		}
	}
	// Whatever nonce the rejected send had, the others all get mined: the
	// gap was filled by a self-transfer or closed by the counter.
	checkSettled(t, c, s, ok)
}

// hookBackend lets a test intercept calls to a Backend.
type hookBackend struct {
	Backend
	// send, if set, handles SendTransaction; forward calls the real one.
	send   func(ctx context.Context, tx *types.Transaction, forward func(context.Context) error) error
	header func(ctx context.Context)
	mu     sync.Mutex
	calls  int
}

func (h *hookBackend) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	h.mu.Lock()
	h.calls++
	send := h.send
	h.mu.Unlock()
	if send == nil {
		return h.Backend.SendTransaction(ctx, tx)
	}
	return send(ctx, tx, func(ctx context.Context) error { return h.Backend.SendTransaction(ctx, tx) })
}

// setSend replaces the send hook while other goroutines (the Sender's
// re-submissions) may be calling SendTransaction.
func (h *hookBackend) setSend(f func(ctx context.Context, tx *types.Transaction, forward func(context.Context) error) error) {
	h.mu.Lock()
	h.send = f
	h.mu.Unlock()
}

func (h *hookBackend) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	head, err := h.Backend.HeaderByNumber(ctx, n)
	if h.header != nil {
		h.header(ctx)
	}
	return head, err
}

// testRPCError is an error the node answered with (it has a JSON-RPC code).
type testRPCError struct {
	msg  string
	code int
	data any
}

func (e *testRPCError) Error() string  { return e.msg }
func (e *testRPCError) ErrorCode() int { return e.code }
func (e *testRPCError) ErrorData() any { return e.data }

func TestSenderRejectedNonceReused(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	reject := recipient(13)
	h := &hookBackend{Backend: c.client}
	h.send = func(ctx context.Context, tx *types.Transaction, forward func(context.Context) error) error {
		if *tx.To() == reject {
			return &testRPCError{msg: "transaction underpriced", code: -32000}
		}
		return forward(ctx)
	}
	s := c.sender(t, h, func(cfg *SenderConfig) { cfg.DisableGapFill = true })
	ctx := context.Background()

	// Take nonces 0 and 1 concurrently-in-spirit: 0 fails after 1 was handed
	// out, so 0 is released below 1 and must be reused by the next Send.
	n0 := s.nonces.acquire()
	n1 := s.nonces.acquire()
	tx1, err := s.submit(ctx, n1, nil, &types.DynamicFeeTx{ChainID: s.chainID, Nonce: n1, GasTipCap: big.NewInt(params.GWei),
		GasFeeCap: big.NewInt(10 * params.GWei), Gas: params.TxGas, To: ptr(recipient(1)), Value: big.NewInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.submit(ctx, n0, nil, &types.DynamicFeeTx{ChainID: s.chainID, Nonce: n0, GasTipCap: big.NewInt(params.GWei),
		GasFeeCap: big.NewInt(10 * params.GWei), Gas: params.TxGas, To: &reject, Value: big.NewInt(1)}); !errors.Is(err, ErrTxRejected) {
		t.Fatalf("error = %v, want ErrTxRejected", err)
	}
	if _, released := s.nonces.state(); !slices.Equal(released, []uint64{0}) {
		t.Fatalf("released = %v, want [0]", released)
	}
	tx0, err := s.Send(ctx, recipient(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tx0.Nonce() != 0 {
		t.Fatalf("next send got nonce %d, want the released 0", tx0.Nonce())
	}
	checkSettled(t, c, s, []*types.Transaction{tx0, tx1})
}

func ptr[T any](v T) *T { return &v }

func TestSenderCanceledContextReleasesNonce(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	h := &hookBackend{Backend: c.client}
	s := c.sender(t, h, nil)

	// The context ends after gas estimation and fee lookup, before the
	// transaction is submitted.
	ctx, cancel := context.WithCancel(context.Background())
	h.header = func(context.Context) { cancel() }
	if _, err := s.Send(ctx, recipient(1), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	h.header = nil
	if h.calls != 0 {
		t.Fatal("a transaction was submitted with a canceled context")
	}
	if next, released := s.nonces.state(); next != 0 || len(released) != 0 {
		t.Fatalf("counter %d released %v after a canceled send", next, released)
	}
	// Canceled before anything happens.
	if _, err := s.Send(ctx, recipient(1), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	tx, err := s.Send(context.Background(), recipient(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Nonce() != 0 {
		t.Fatalf("nonce %d, want 0", tx.Nonce())
	}
	checkSettled(t, c, s, []*types.Transaction{tx})
}

func TestSenderAmbiguousSubmission(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	h := &hookBackend{Backend: c.client}
	s := c.sender(t, h, func(cfg *SenderConfig) { cfg.RebroadcastInterval = 20 * time.Millisecond })
	ctx := context.Background()
	var txs []*types.Transaction

	// The node got it, but the answer was lost: the re-submission finds it
	// "already known".
	var first bool
	h.setSend(func(ctx context.Context, tx *types.Transaction, forward func(context.Context) error) error {
		if first = !first; first {
			if err := forward(ctx); err != nil {
				return err
			}
			return errors.New("read tcp: connection reset by peer")
		}
		return forward(ctx)
	})
	tx, err := s.Send(ctx, recipient(1), nil)
	if err != nil {
		t.Fatalf("lost answer: %v", err)
	}
	txs = append(txs, tx)

	// The request never reached the node (context ended in transit): the
	// re-submission, under a fresh context, delivers it.
	first = false
	h.setSend(func(ctx context.Context, tx *types.Transaction, forward func(context.Context) error) error {
		if first = !first; first {
			return fmt.Errorf("posting: %w", context.DeadlineExceeded)
		}
		return forward(ctx)
	})
	tx, err = s.Send(ctx, recipient(2), nil)
	if err != nil {
		t.Fatalf("lost request: %v", err)
	}
	txs = append(txs, tx)

	// The node is unreachable twice: outcome unknown, the transaction is
	// returned and its nonce stays taken.
	h.setSend(func(context.Context, *types.Transaction, func(context.Context) error) error {
		return errors.New("dial tcp: connection refused")
	})
	lost, err := s.Send(ctx, recipient(3), nil)
	if !errors.Is(err, ErrSendUnknown) || lost == nil {
		t.Fatalf("unreachable node: tx %v, error %v; want the tx and ErrSendUnknown", lost, err)
	}
	if next, _ := s.nonces.state(); next != 3 {
		t.Fatalf("counter %d, want 3 (nonce 2 stays taken)", next)
	}
	// Once the node is reachable again, the Sender's own re-submission
	// delivers the transaction: no gap is left behind.
	h.setSend(nil)
	if r, err := s.WaitReceipt(ctx, lost.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("re-submitted transaction: %+v %v", r, err)
	}
	txs = append(txs, lost)
	tx, err = s.Send(ctx, recipient(4), nil)
	if err != nil || tx.Nonce() != 3 {
		t.Fatalf("after the re-submission: nonce %v, error %v; want 3", tx, err)
	}
	txs = append(txs, tx)
	checkSettled(t, c, s, txs)
}

// errorSignal is a slog handler that reports each Error record.
type errorSignal struct {
	slog.Handler
	errs chan string
}

func (h *errorSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.errs <- r.Message
	}
	return h.Handler.Handle(ctx, r)
}

func (h *errorSignal) WithAttrs(as []slog.Attr) slog.Handler {
	return &errorSignal{Handler: h.Handler.WithAttrs(as), errs: h.errs}
}

func (h *errorSignal) WithGroup(name string) slog.Handler {
	return &errorSignal{Handler: h.Handler.WithGroup(name), errs: h.errs}
}

// A transaction whose outcome stays unknown is re-submitted for a minute of
// the Sender's clock, then given up, its nonce left taken.
func TestSenderUnknownOutcomeGivenUpAfterAMinute(t *testing.T) {
	c := newSimChain(t)
	h := &hookBackend{Backend: c.client}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	errs := make(chan string, 4)
	s := c.sender(t, h, func(cfg *SenderConfig) {
		cfg.RebroadcastInterval = time.Millisecond
		cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		cfg.Logger = slog.New(&errorSignal{Handler: cfg.Logger.Handler(), errs: errs})
	})
	sends := make(chan struct{}, 1)
	h.setSend(func(context.Context, *types.Transaction, func(context.Context) error) error {
		select {
		case sends <- struct{}{}:
		default:
		}
		return errors.New("dial tcp: connection refused")
	})
	lost, err := s.Send(context.Background(), recipient(1), nil)
	if !errors.Is(err, ErrSendUnknown) || lost == nil {
		t.Fatalf("unreachable node: tx %v, error %v; want the tx and ErrSendUnknown", lost, err)
	}
	// Within the minute it is submitted again and again, never given up.
	<-sends // the Send's own two submissions signalled once
	resubmitted := func() {
		t.Helper()
		for range 3 {
			select {
			case <-sends:
			case msg := <-errs:
				t.Fatalf("gave up within the minute: %s", msg)
			case <-time.After(time.Minute):
				t.Fatal("not re-submitted")
			}
		}
	}
	resubmitted()
	clock.Add(int64(rebroadcastFor - time.Second))
	resubmitted()
	clock.Add(int64(2 * time.Second))
	select {
	case msg := <-errs:
		if !strings.Contains(msg, "giving up") {
			t.Fatalf("error logged: %s", msg)
		}
	case <-time.After(time.Minute):
		t.Fatal("still re-submitted after the minute")
	}
	if next, released := s.nonces.state(); next != lost.Nonce()+1 || len(released) != 0 {
		t.Fatalf("counter %d, released %v; want %d and none (the nonce stays taken)", next, released, lost.Nonce()+1)
	}
}

func TestSenderUnknownOutcomeRefusedLaterIsFilled(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	h := &hookBackend{Backend: c.client}
	s := c.sender(t, h, func(cfg *SenderConfig) { cfg.RebroadcastInterval = 20 * time.Millisecond })
	ctx := context.Background()

	// Nonce 0's submission has an unknown outcome and the node never got
	// it; nonce 1 goes out and waits behind the gap.
	var refused atomic.Bool
	h.setSend(func(ctx context.Context, tx *types.Transaction, forward func(context.Context) error) error {
		if tx.Nonce() == 0 && tx.Value().Sign() > 0 {
			if refused.Load() {
				return &testRPCError{msg: "transaction underpriced", code: -32000}
			}
			return errors.New("dial tcp: connection refused")
		}
		return forward(ctx)
	})
	lost, err := s.SendValue(ctx, recipient(1), big.NewInt(1), nil)
	if !errors.Is(err, ErrSendUnknown) || lost == nil || lost.Nonce() != 0 {
		t.Fatalf("first send: tx %v, error %v; want nonce 0 with ErrSendUnknown", lost, err)
	}
	behind, err := s.SendValue(ctx, recipient(2), big.NewInt(1), nil)
	if err != nil || behind.Nonce() != 1 {
		t.Fatalf("second send: %v %v", behind, err)
	}
	// The node now refuses the lost transaction outright: the Sender
	// releases its nonce and fills the gap, so nonce 1 is mined.
	refused.Store(true)
	if r, err := s.WaitReceipt(ctx, behind.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transaction behind the gap: %+v %v", r, err)
	}
	if _, err := c.client.TransactionReceipt(ctx, lost.Hash()); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("the refused transaction was mined: %v", err)
	}
	checkSettled(t, c, s, []*types.Transaction{behind})
}

func TestSenderNonceTooLowRecovers(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	s := c.sender(t, nil, nil)
	ctx := context.Background()

	// Another process uses nonces 0 and 1 of the same key behind the
	// Sender's back.
	head, err := c.client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var external []*types.Transaction
	for nonce := range uint64(2) {
		tx, err := types.SignNewTx(c.key, types.LatestSignerForChainID(s.ChainID()), &types.DynamicFeeTx{
			ChainID: s.ChainID(), Nonce: nonce, GasTipCap: big.NewInt(params.GWei),
			GasFeeCap: new(big.Int).Add(new(big.Int).Lsh(head.BaseFee, 1), big.NewInt(params.GWei)),
			Gas:       params.TxGas, To: ptr(recipient(50)), Value: big.NewInt(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.client.SendTransaction(ctx, tx); err != nil {
			t.Fatal(err)
		}
		external = append(external, tx)
	}
	for _, tx := range external {
		if _, err := s.WaitReceipt(ctx, tx.Hash()); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := s.Send(ctx, recipient(51), nil)
	if err != nil {
		t.Fatalf("send after external use of the key: %v", err)
	}
	if tx.Nonce() != 2 {
		t.Fatalf("nonce %d, want 2", tx.Nonce())
	}
	checkSettled(t, c, s, []*types.Transaction{tx})
}

func TestSenderNonceConflictGivesUp(t *testing.T) {
	c := newSimChain(t)
	h := &hookBackend{Backend: c.client}
	h.send = func(context.Context, *types.Transaction, func(context.Context) error) error {
		return &testRPCError{msg: "nonce too low: next nonce 5, tx nonce 0", code: -32000}
	}
	s := c.sender(t, h, nil)
	_, err := s.Send(context.Background(), recipient(1), nil)
	if !errors.Is(err, ErrNonceConflict) {
		t.Fatalf("error = %v, want ErrNonceConflict", err)
	}
	if h.calls != maxNonceAttempts {
		t.Fatalf("%d submissions, want %d", h.calls, maxNonceAttempts)
	}
}

func TestSenderRevertDuringEstimation(t *testing.T) {
	c := newSimChain(t)
	h := &hookBackend{Backend: c.client}
	s := c.sender(t, h, nil)
	ctx := context.Background()

	cases := []struct {
		to     common.Address
		reason string
		data   string
	}{
		{revertReasonAddr, "nope", "0x08c379a0"},
		{revertCustomAddr, "", "0xdeadbeef"},
		{revertBareAddr, "", ""},
	}
	for _, tc := range cases {
		_, err := s.Send(ctx, tc.to, []byte{1, 2, 3, 4})
		if !errors.Is(err, ErrGasEstimation) || !errors.Is(err, ErrExecutionReverted) {
			t.Fatalf("%s: error = %v, want ErrGasEstimation and ErrExecutionReverted", tc.to, err)
		}
		var rev *RevertError
		if !errors.As(err, &rev) {
			t.Fatalf("%s: no RevertError in %v", tc.to, err)
		}
		if rev.Reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.to, rev.Reason, tc.reason)
		}
		if !strings.HasPrefix(common.Bytes2Hex(rev.Data), strings.TrimPrefix(tc.data, "0x")) {
			t.Errorf("%s: data %x, want prefix %s", tc.to, rev.Data, tc.data)
		}
		if sel, ok := rev.Selector(); ok != (tc.data != "") || (ok && "0x"+common.Bytes2Hex(sel[:]) != tc.data) {
			t.Errorf("%s: selector %x %v", tc.to, sel, ok)
		}
	}
	if h.calls != 0 {
		t.Fatal("a reverting call was submitted")
	}
	if next, released := s.nonces.state(); next != 0 || len(released) != 0 {
		t.Fatalf("estimation failures touched the nonce counter: %d %v", next, released)
	}
}

func TestRevertFromError(t *testing.T) {
	if revertFromError(errors.New("connection refused")) != nil {
		t.Fatal("transport error taken for a revert")
	}
	if revertFromError(&testRPCError{msg: "insufficient funds for transfer", code: -32000}) != nil {
		t.Fatal("non-revert node error taken for a revert")
	}
	// A provider that only sends the message.
	rev := revertFromError(fmt.Errorf("rpc: %w", &testRPCError{msg: "execution reverted: FiatTokenV2: invalid signature", code: -32000}))
	if rev == nil || rev.Reason != "FiatTokenV2: invalid signature" {
		t.Fatalf("message-only revert: %+v", rev)
	}
	// Code 3 with undecodable data.
	rev = revertFromError(&testRPCError{msg: "execution reverted", code: 3, data: "0x1234"})
	if rev == nil || rev.Reason != "" || !bytes.Equal(rev.Data, []byte{0x12, 0x34}) {
		t.Fatalf("code 3: %+v", rev)
	}
	if _, ok := rev.Selector(); ok {
		t.Fatal("selector from 2 bytes")
	}
	if got := rev.Error(); got != "execution reverted: data 0x1234" {
		t.Fatalf("Error() = %q", got)
	}
	// Panic(uint256) 0x11: arithmetic overflow.
	panicData := "0x4e487b71" + strings.Repeat("0", 62) + "11"
	rev = revertFromError(&testRPCError{msg: "execution reverted", code: 3, data: panicData})
	if rev == nil || !strings.Contains(rev.Reason, "overflow") {
		t.Fatalf("panic revert: %+v", rev)
	}
}

func TestSenderGasAndFeePolicy(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()

	s := c.sender(t, nil, func(cfg *SenderConfig) { cfg.GasCap = params.TxGas - 1 })
	if _, err := s.Send(ctx, recipient(1), nil); !errors.Is(err, ErrGasCapExceeded) {
		t.Fatalf("error = %v, want ErrGasCapExceeded", err)
	}

	// The margin is clamped to the cap.
	s = c.sender(t, nil, func(cfg *SenderConfig) { cfg.GasCap = 22_000 })
	gas, err := s.estimateGas(ctx, recipient(1), new(big.Int), nil)
	if err != nil || gas != 22_000 {
		t.Fatalf("gas %d (%v), want 22000", gas, err)
	}
	s = c.sender(t, nil, func(cfg *SenderConfig) { cfg.GasLimitMultiplier = 1.5 })
	if gas, err = s.estimateGas(ctx, recipient(1), new(big.Int), nil); err != nil || gas != 31_500 {
		t.Fatalf("gas %d (%v), want 31500", gas, err)
	}

	head, err := c.client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := head.BaseFee
	s = c.sender(t, nil, nil)
	tip, feeCap, err := s.fees(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := new(big.Int).Add(new(big.Int).Lsh(base, 1), tip); feeCap.Cmp(want) != 0 {
		t.Fatalf("fee cap %s, want 2*%s+%s", feeCap, base, tip)
	}

	s = c.sender(t, nil, func(cfg *SenderConfig) { cfg.MaxFeePerGas = new(big.Int).Set(base) })
	if _, err := s.Send(ctx, recipient(1), nil); !errors.Is(err, ErrFeeCapExceeded) {
		t.Fatalf("error = %v, want ErrFeeCapExceeded", err)
	}
	limit := new(big.Int).Add(base, big.NewInt(1))
	s = c.sender(t, nil, func(cfg *SenderConfig) { cfg.MaxFeePerGas = limit; cfg.MaxTipCap = big.NewInt(params.GWei) })
	tip, feeCap, err = s.fees(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if feeCap.Cmp(limit) != 0 || tip.Cmp(big.NewInt(1)) > 0 {
		t.Fatalf("capped fees: tip %s fee cap %s, limit %s", tip, feeCap, limit)
	}
}

func TestNewSenderValidation(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	if _, err := NewSender(ctx, SenderConfig{Backend: c.client, Key: c.key, ChainID: big.NewInt(8453)}); !errors.Is(err, ErrChainIDMismatch) {
		t.Fatalf("error = %v, want ErrChainIDMismatch", err)
	}
	if _, err := NewSender(ctx, SenderConfig{Key: c.key}); err == nil {
		t.Fatal("nil backend accepted")
	}
	if _, err := NewSender(ctx, SenderConfig{Backend: c.client}); !errors.Is(err, ErrInvalidPrivateKey) {
		t.Fatalf("nil key: %v", err)
	}
	if _, err := NewSender(ctx, SenderConfig{Backend: c.client, Key: c.key, GasLimitMultiplier: 0.5}); err == nil {
		t.Fatal("multiplier below 1 accepted")
	}
	s, err := NewSender(ctx, SenderConfig{Backend: c.client, Key: c.key})
	if err != nil {
		t.Fatal(err)
	}
	if s.Address() != c.from || s.ChainID().Cmp(params.AllDevChainProtocolChanges.ChainID) != 0 {
		t.Fatal("Address/ChainID")
	}
}

func TestWaitReceipt(t *testing.T) {
	c := newSimChain(t)
	// Polls with at most ReceiptTimeout left of their context, and how
	// many.
	var polls atomic.Int32
	var left atomic.Int64
	rb := &receiptBackend{Backend: c.client}
	rb.deadline = func(d time.Duration) {
		polls.Add(1)
		left.Store(max(left.Load(), int64(d)))
	}
	s := c.sender(t, rb, func(cfg *SenderConfig) { cfg.ReceiptTimeout = 100 * time.Millisecond })
	ctx := context.Background()

	// Sent but never mined (nobody commits).
	tx, err := s.Send(ctx, recipient(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitReceipt(ctx, tx.Hash()); !errors.Is(err, ErrReceiptTimeout) {
		t.Fatalf("error = %v, want ErrReceiptTimeout", err)
	}
	if polls.Load() == 0 || time.Duration(left.Load()) > 100*time.Millisecond {
		t.Fatalf("%d polls, the longest with %v left: ReceiptTimeout not honoured", polls.Load(), time.Duration(left.Load()))
	}
	// The caller's deadline counts as a timeout too.
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.WaitReceipt(dctx, tx.Hash()); !errors.Is(err, ErrReceiptTimeout) {
		t.Fatalf("caller deadline: error = %v, want ErrReceiptTimeout", err)
	}
	// Cancellation is not a timeout.
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := s.WaitReceipt(cctx, tx.Hash()); !errors.Is(err, context.Canceled) || errors.Is(err, ErrReceiptTimeout) {
		t.Fatalf("canceled: error = %v, want context.Canceled only", err)
	}
	// Once mined, the receipt comes back.
	c.sim.Commit()
	r, err := s.WaitReceipt(ctx, tx.Hash())
	if err != nil || r.TxHash != tx.Hash() || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt %+v, error %v", r, err)
	}
}

// receiptBackend serves canned receipts (nil receipt: the backend's).
type receiptBackend struct {
	Backend
	receipt func(n int) (*types.Receipt, error)
	// deadline, if set, is told how long each receipt poll's context has
	// left (-1: no deadline).
	deadline func(left time.Duration)
	mu       sync.Mutex
	n        int
}

func (b *receiptBackend) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	b.mu.Lock()
	b.n++
	n := b.n
	receipt, deadline := b.receipt, b.deadline
	b.mu.Unlock()
	if deadline != nil {
		left := time.Duration(-1)
		if dl, ok := ctx.Deadline(); ok {
			left = max(time.Until(dl), 0)
		}
		deadline(left)
	}
	if receipt == nil {
		return b.Backend.TransactionReceipt(ctx, h)
	}
	return receipt(n)
}

func TestWaitReceiptStatusAndErrors(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()

	// Transient errors are retried; a failed transaction returns its receipt
	// and ErrTxReverted.
	rb := &receiptBackend{Backend: c.client, receipt: func(n int) (*types.Receipt, error) {
		switch n {
		case 1:
			return nil, ethereum.NotFound
		case 2:
			return nil, errors.New("502 bad gateway")
		}
		return &types.Receipt{Status: types.ReceiptStatusFailed, BlockNumber: big.NewInt(7)}, nil
	}}
	s := c.sender(t, rb, nil)
	r, err := s.WaitReceipt(ctx, common.Hash{1})
	if !errors.Is(err, ErrTxReverted) || r == nil || r.Status != types.ReceiptStatusFailed {
		t.Fatalf("failed tx: receipt %v, error %v", r, err)
	}

	// A node failing until the deadline: timeout, carrying the last error.
	boom := errors.New("node down")
	rb = &receiptBackend{Backend: c.client, receipt: func(int) (*types.Receipt, error) { return nil, boom }}
	s = c.sender(t, rb, func(cfg *SenderConfig) { cfg.ReceiptTimeout = 50 * time.Millisecond })
	if _, err := s.WaitReceipt(ctx, common.Hash{1}); !errors.Is(err, ErrReceiptTimeout) || !errors.Is(err, boom) {
		t.Fatalf("error = %v, want ErrReceiptTimeout wrapping the last error", err)
	}
}

func TestClassifySend(t *testing.T) {
	cases := []struct {
		err  error
		want sendOutcome
	}{
		{nil, sendAccepted},
		{&testRPCError{msg: "already known", code: -32000}, sendAccepted},
		{&testRPCError{msg: "Known transaction: 0xabc", code: -32010}, sendAccepted},
		{&testRPCError{msg: "AlreadyKnown", code: -32010}, sendAccepted},
		{&testRPCError{msg: "nonce too low: next nonce 3, tx nonce 1", code: -32000}, sendNonceTaken},
		{&testRPCError{msg: "replacement transaction underpriced", code: -32000}, sendNonceTaken},
		{&testRPCError{msg: "insufficient funds for gas * price + value", code: -32000}, sendRejected},
		{&testRPCError{msg: "unknown transaction type", code: -32000}, sendRejected},
		{&testRPCError{msg: "transaction underpriced", code: -32000}, sendRejected},
		{fmt.Errorf("wrapped: %w", &testRPCError{msg: "exceeds block gas limit", code: -32000}), sendRejected},
		{context.Canceled, sendUnknown},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), sendUnknown},
		{errors.New("EOF"), sendUnknown},
	}
	for _, c := range cases {
		if got := classifySend(c.err); got != c.want {
			t.Errorf("classifySend(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestNonceManager(t *testing.T) {
	var m nonceManager
	m.reset(10)
	a, b, c := m.acquire(), m.acquire(), m.acquire() // 10 11 12
	if a != 10 || b != 11 || c != 12 {
		t.Fatalf("acquired %d %d %d", a, b, c)
	}
	if gap := m.release(11); !gap {
		t.Fatal("releasing 11 below 12 should report a gap")
	}
	if gap := m.release(12); gap {
		t.Fatal("releasing the top should collapse 12 and 11")
	}
	if next, rel := m.state(); next != 11 || len(rel) != 0 {
		t.Fatalf("state %d %v, want 11 []", next, rel)
	}
	d, e := m.acquire(), m.acquire() // 11 12
	m.release(11)
	m.release(11) // double release is ignored
	if next, rel := m.state(); next != 13 || !slices.Equal(rel, []uint64{11}) {
		t.Fatalf("state %d %v", next, rel)
	}
	if n := m.acquire(); n != 11 {
		t.Fatalf("reuse got %d, want 11", n)
	}
	_ = d
	_ = e
	m.release(5) // below the range: kept for reuse (the counter was reset)
	m.advance(12)
	if next, rel := m.state(); next != 13 || len(rel) != 0 {
		t.Fatalf("after advance(12): %d %v", next, rel)
	}
	m.advance(20)
	if next, _ := m.state(); next != 20 {
		t.Fatalf("after advance(20): %d", next)
	}
	m.release(25) // above the counter: ignored
	if next, rel := m.state(); next != 20 || len(rel) != 0 {
		t.Fatalf("after stale release: %d %v", next, rel)
	}
	if _, ok := m.takeReleased(); ok {
		t.Fatal("takeReleased on empty list")
	}
}

func TestNonceManagerConcurrent(t *testing.T) {
	var m nonceManager
	m.reset(0)
	var (
		mu   sync.Mutex
		used = map[uint64]int{}
		wg   sync.WaitGroup
	)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				n := m.acquire()
				if (g+i)%5 == 0 {
					m.release(n)
					continue
				}
				mu.Lock()
				used[n]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Fill what is left released, as the gap filler would.
	for {
		n, ok := m.takeReleased()
		if !ok {
			break
		}
		used[n]++
	}
	next, _ := m.state()
	if uint64(len(used)) != next {
		t.Fatalf("%d distinct nonces used, counter %d: gap", len(used), next)
	}
	for n, k := range used {
		if k != 1 || n >= next {
			t.Fatalf("nonce %d used %d times", n, k)
		}
	}
}

// TestSenderLostFillerIsResubmitted: the filler of a released nonce is
// itself lost in transit; it is re-submitted like any other transaction,
// so the transactions behind the gap are mined.
func TestSenderLostFillerIsResubmitted(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	h := &hookBackend{Backend: c.client}
	s := c.sender(t, h, func(cfg *SenderConfig) { cfg.RebroadcastInterval = 20 * time.Millisecond })
	ctx := context.Background()

	var refused atomic.Bool
	var fillerAttempts atomic.Int64
	h.setSend(func(ctx context.Context, tx *types.Transaction, forward func(context.Context) error) error {
		switch {
		case tx.Nonce() == 0 && tx.Value().Sign() > 0:
			if refused.Load() {
				return &testRPCError{msg: "transaction underpriced", code: -32000}
			}
			return errors.New("dial tcp: connection refused")
		case tx.Nonce() == 0 && *tx.To() == c.from:
			// The filler: lost twice (the first submission and its
			// immediate retry), then delivered.
			if fillerAttempts.Add(1) <= 2 {
				return errors.New("read tcp: connection reset by peer")
			}
		}
		return forward(ctx)
	})
	lost, err := s.SendValue(ctx, recipient(1), big.NewInt(1), nil)
	if !errors.Is(err, ErrSendUnknown) || lost.Nonce() != 0 {
		t.Fatalf("first send: %v %v", lost, err)
	}
	behind, err := s.SendValue(ctx, recipient(2), big.NewInt(1), nil)
	if err != nil || behind.Nonce() != 1 {
		t.Fatalf("second send: %v %v", behind, err)
	}
	refused.Store(true)
	if r, err := s.WaitReceipt(ctx, behind.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transaction behind the gap: %+v %v (filler attempts %d)", r, err, fillerAttempts.Load())
	}
	if fillerAttempts.Load() < 3 {
		t.Errorf("filler submitted %d times, want the lost ones re-submitted", fillerAttempts.Load())
	}
}

func TestClassifySendProviderErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want sendOutcome
	}{
		{&testRPCError{msg: "insufficient funds for gas * price + value", code: -32000}, sendRejected},
		{&testRPCError{msg: "internal error", code: -32603}, sendUnknown},
		{&testRPCError{msg: "rate limit exceeded", code: -32005}, sendUnknown},
		{errors.New("dial tcp: connection refused"), sendUnknown},
		{&testRPCError{msg: "nonce too low", code: -32000}, sendNonceTaken},
		{&testRPCError{msg: "already known", code: -32000}, sendAccepted},
	} {
		if got := classifySend(c.err); got != c.want {
			t.Errorf("classifySend(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
