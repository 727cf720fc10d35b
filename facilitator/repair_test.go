package facilitator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// staleLater is a clock at which every claim made now is stale: older than
// the settle timeout plus the margin.
func staleLater() time.Time {
	return time.Now().Add(facilitator.DefaultSettleTimeout + facilitator.StaleMargin + time.Second)
}

// named returns a Config adjustment setting the instance name and, if
// clock is not nil, the clock.
func named(instance string, clock func() time.Time) func(*facilitator.Config) {
	return func(c *facilitator.Config) {
		c.Instance = instance
		if clock != nil {
			c.Now = clock
		}
	}
}

// sendAuthorization sends req's transferWithAuthorization from facilitator
// key keyIndex, outside any facilitator, as a crashed facilitator would
// have, and waits until it is mined.
func (e *env) sendAuthorization(t *testing.T, req *x402.FacilitatorRequest, keyIndex int) common.Hash {
	t.Helper()
	ctx := t.Context()
	p, err := req.Payment()
	if err != nil {
		t.Fatal(err)
	}
	var ep evm.ExactPayload
	if err := p.Payload.Decode(&ep); err != nil {
		t.Fatal(err)
	}
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: e.net.Client(), Key: e.net.Accounts()[keyIndex].PrivateKey, ChainID: e.net.ChainID(), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	auth, sig := authFromPayload(t, &ep)
	tx, err := sender.Send(ctx, common.HexToAddress(p.Requirements.Asset), evm.TransferWithAuthorizationCalldata(auth, sig))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sender.WaitReceipt(ctx, tx.Hash()); err != nil {
		t.Fatal(err)
	}
	return tx.Hash()
}

// pendingRow leaves the ledger as a settlement answered "pending" on
// transaction tx would.
func pendingRow(t *testing.T, store ledger.Store, e *env, req *x402.FacilitatorRequest, tx, owner string) x402.SettlementKey {
	t.Helper()
	key := crashedClaim(t, store, e, req, tx, owner)
	resp := &x402.SettleResponse{ErrorReason: x402.ReasonSettlementPending, ErrorMessage: "broadcast, not confirmed",
		Transaction: tx, Network: x402.Network(e.net.Network()), Payer: common.HexToAddress(key.Payer).Hex()}
	if err := store.Update(t.Context(), key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: tx, Response: resp}); err != nil {
		t.Fatal(err)
	}
	return key
}

// waitFor polls cond every 20 ms until it holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readStore is a real store that reports every read of a settlement: a
// settle waiting for another claim re-reads it every PollInterval.
type readStore struct {
	ledger.Store
	reads chan x402.SettlementKey
}

// watchReads returns a Config adjustment that polls every millisecond and
// reports the facilitator's reads of settlements on the returned channel.
func watchReads(more func(*facilitator.Config)) (func(*facilitator.Config), <-chan x402.SettlementKey) {
	reads := make(chan x402.SettlementKey, 64)
	return func(c *facilitator.Config) {
		if more != nil {
			more(c)
		}
		c.PollInterval = time.Millisecond
		c.Store = &readStore{Store: c.Store, reads: reads}
	}, reads
}

func (s *readStore) Get(ctx context.Context, key x402.SettlementKey) (*ledger.Settlement, error) {
	rec, err := s.Store.Get(ctx, key)
	select {
	case s.reads <- key:
	default: // nobody is counting
	}
	return rec, err
}

// stillWaiting fails unless the settle answering on done reads the claim of
// key n more times, still without an answer: each read finds the claim
// undecided, and a settle that answered would not read it again.
func stillWaiting[R any](t *testing.T, reads <-chan x402.SettlementKey, key x402.SettlementKey, n int, done <-chan R) {
	t.Helper()
	for n > 0 {
		select {
		case k := <-reads:
			if k == key {
				n--
			}
		case r := <-done:
			t.Fatalf("answered %+v while the other claim was undecided", r)
		case <-time.After(time.Minute):
			t.Fatal("the settle neither answered nor re-read the claim")
		}
	}
	select {
	case r := <-done:
		t.Fatalf("answered %+v while the other claim was undecided", r)
	default:
	}
}

func TestReconcilerRepairsAbandonedClaimsOfAnyOwner(t *testing.T) {
	// A facilitator crashed, and came back under another name (a container
	// restarted with a new host name): its claims are not the new
	// instance's own, but once stale the background reconciler repairs them
	// all the same.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		_, store := e.facilitator(t, 3)

		sent := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req) // broadcast and mined before the crash
		tx := e.sendAuthorization(t, sent, 4)
		keyA := crashedClaim(t, store, e, sent, tx.Hex(), "old-host")
		unsent := e.sign(t, e.net.Accounts()[2].PrivateKey, e.req) // hash recorded, never sent
		keyB := crashedClaim(t, store, e, unsent, common.HexToHash("0xdead").Hex(), "old-host")

		// At start-up the claims are too fresh to be another name's: they
		// are left alone (their owner may be alive).
		fresh, _ := e.facilitatorWith(t, 3, nil, named("new-host", nil))
		if n, err := fresh.Reconcile(ctx); err != nil || n != 0 {
			t.Fatalf("start-up reconcile of fresh foreign claims: %d, %v", n, err)
		}
		for _, k := range []x402.SettlementKey{keyA, keyB} {
			if rec, err := store.Get(ctx, k); err != nil || rec.Status != ledger.StatusSettling {
				t.Fatalf("fresh claim touched: %+v %v", rec, err)
			}
		}

		// Once stale, the reconciler loop repairs them from the chain.
		fac, _ := e.facilitatorWith(t, 3, nil, named("new-host", staleLater))
		keys := []common.Address{e.net.Accounts()[3].Address}
		nonces := e.nonces(t, keys)
		before := e.balance(t, e.payee)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); fac.RunReconciler(rctx, 20*time.Millisecond) }()
		waitFor(t, 20*time.Second, "the reconciler to repair both claims", func() bool {
			recA, errA := store.Get(ctx, keyA)
			_, errB := store.Get(ctx, keyB)
			return errA == nil && recA.Status == ledger.StatusSettled && errors.Is(errB, ledger.ErrNotFound)
		})
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RunReconciler did not return after its context ended")
		}
		recA, err := store.Get(ctx, keyA)
		if err != nil || recA.TxHash != tx.Hex() || recA.Response == nil || !recA.Response.Success || recA.Response.Transaction != tx.Hex() {
			t.Errorf("repaired settlement: %+v %v", recA, err)
		}
		if e.sentSince(t, keys, nonces) != 0 || e.balance(t, e.payee).Cmp(before) != 0 {
			t.Error("the reconciler moved funds")
		}
		events, err := store.Events(ctx, ledger.EventFilter{Kind: ledger.EventSettle})
		if err != nil || len(events) != 1 || events[0].Status != "settled" || events[0].TxHash != tx.Hex() ||
			!strings.Contains(events[0].Message, "reconciled") {
			t.Errorf("ledger events: %+v %v", events, err)
		}
		// The released payment settles normally, and the repaired one
		// answers with its transaction.
		if s, err := fac.Settle(ctx, unsent); err != nil || !s.Success {
			t.Errorf("settle after release: %+v %v", s, err)
		}
		if s, err := fac.Settle(ctx, sent); err != nil || !s.Success || s.Transaction != tx.Hex() {
			t.Errorf("settle after repair: %+v %v", s, err)
		}
	})
}

func TestWaitingSettleRepairsAbandonedClaim(t *testing.T) {
	// A retry of a payment whose claim was left by a crashed instance does
	// not wait forever: while the claim may be live it waits (and gives up
	// with its caller); once the claim is stale it asks the chain, frees
	// the key and settles.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		_, store := e.facilitator(t, 3)
		reqS := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		reqV := e.sign(t, e.net.Accounts()[2].PrivateKey, e.req)
		keyS := crashedClaim(t, store, e, reqS, common.HexToHash("0xdead").Hex(), "crashed-instance")
		crashedClaim(t, store, e, reqV, "", "crashed-instance")

		now, _ := e.facilitatorWith(t, 3, nil, named("b", nil))
		sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := now.Settle(sctx, reqS)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("settle while the claim may be live: %v, want the caller's deadline", err)
		}
		if v, err := now.Verify(ctx, reqV); err != nil || v.IsValid || v.InvalidReason != x402.ReasonDuplicateSettlement {
			t.Fatalf("verify while the claim may be live: %+v %v", v, err)
		}

		// It polls the ledger only every hour: a settle that waited for the
		// abandoned claim at all, rather than repairing it at once, would
		// run into its deadline.
		later, _ := e.facilitatorWith(t, 3, nil, func(c *facilitator.Config) {
			named("b", staleLater)(c)
			c.PollInterval = time.Hour
		})
		if v, err := later.Verify(ctx, reqV); err != nil || !v.IsValid {
			t.Errorf("verify of an abandoned claim: %+v %v", v, err)
		}
		before := e.balance(t, e.payee)
		sctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := later.Settle(sctx, reqS)
		if err != nil || !s.Success {
			t.Fatalf("settle of an abandoned claim: %+v %v", s, err)
		}
		if got := new(big.Int).Sub(e.balance(t, e.payee), before); got.Cmp(e.req.Amount.Big()) != 0 {
			t.Errorf("payee received %s, want %s", got, e.req.Amount)
		}
		if rec, err := store.Get(ctx, keyS); err != nil || rec.Status != ledger.StatusSettled || rec.TxHash != s.Transaction || rec.Owner != "b" {
			t.Errorf("ledger: %+v %v", rec, err)
		}
	})
}

func TestDroppedPendingSettlement(t *testing.T) {
	// A settlement answered "pending" whose transaction the node dropped:
	// while it may only be slow it stays pending (and is not paid again);
	// after the settle timeout it is released and the payment settles.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		_, store := e.facilitator(t, 3)
		dropped := common.HexToHash("0xd0d0").Hex() // unknown to the node
		req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		key := pendingRow(t, store, e, req, dropped, "a")

		fac, _ := e.facilitatorWith(t, 3, nil, named("a", nil))
		s, err := fac.Settle(ctx, req)
		if err != nil || s.ErrorReason != x402.ReasonSettlementPending || s.Transaction != dropped {
			t.Fatalf("settle of a recent pending settlement: %+v %v", s, err)
		}
		if n, err := fac.Reconcile(ctx); err != nil || n != 0 {
			t.Errorf("reconcile of a recent pending settlement: %d %v", n, err)
		}
		if rec, err := store.Get(ctx, key); err != nil || rec.Status != ledger.StatusPending || rec.TxHash != dropped {
			t.Fatalf("recent pending settlement changed: %+v %v", rec, err)
		}
		if v, err := fac.Verify(ctx, req); err != nil || v.InvalidReason != x402.ReasonDuplicateSettlement {
			t.Errorf("verify of a pending settlement: %+v %v", v, err)
		}

		// Pending for longer than the settle timeout: a retry settles it.
		later, _ := e.facilitatorWith(t, 3, nil, named("a", func() time.Time { return time.Now().Add(facilitator.DefaultSettleTimeout + time.Second) }))
		before := e.balance(t, e.payee)
		s, err = later.Settle(ctx, req)
		if err != nil || !s.Success || s.Transaction == dropped {
			t.Fatalf("settle of a dropped settlement: %+v %v", s, err)
		}
		if got := new(big.Int).Sub(e.balance(t, e.payee), before); got.Cmp(e.req.Amount.Big()) != 0 {
			t.Errorf("payee received %s, want %s", got, e.req.Amount)
		}
		if rec, err := store.Get(ctx, key); err != nil || rec.Status != ledger.StatusSettled || rec.TxHash != s.Transaction {
			t.Errorf("ledger after the new settlement: %+v %v", rec, err)
		}
		if again, err := later.Settle(ctx, req); err != nil || !again.Success || again.Transaction != s.Transaction {
			t.Errorf("repeat: %+v %v", again, err)
		}

		// The reconciler releases one that nobody asks about.
		req2 := e.sign(t, e.net.Accounts()[2].PrivateKey, e.req)
		key2 := pendingRow(t, store, e, req2, dropped, "a")
		if n, err := later.Reconcile(ctx); err != nil || n != 1 {
			t.Errorf("reconcile of a dropped settlement: %d %v", n, err)
		}
		if _, err := store.Get(ctx, key2); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("dropped settlement not released: %v", err)
		}
		if s, err := later.Settle(ctx, req2); err != nil || !s.Success {
			t.Errorf("settle after release: %+v %v", s, err)
		}
	})
}

// faultyChain is the devnet's backend with one fault the devnet cannot
// produce on demand: once it has shown a reverted receipt, its eth_calls
// fail as a provider outage would, until healed.
type faultyChain struct {
	evm.ChainBackend
	down atomic.Bool
}

func (b *faultyChain) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	r, err := b.ChainBackend.TransactionReceipt(ctx, h)
	if err == nil && r.Status == types.ReceiptStatusFailed {
		b.down.Store(true)
	}
	return r, err
}

func (b *faultyChain) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	if b.down.Load() {
		return nil, errors.New(`Post "https://rpc.example/v2/SECRETKEY": read: connection reset by peer`)
	}
	return b.ChainBackend.CallContract(ctx, msg, block)
}

func TestRevertedSettlementKeptWhenChainUnreachable(t *testing.T) {
	// A settlement mined and reverted, with the authorization still unused,
	// while the chain cannot be asked about it: the claim stays settling
	// with its transaction (not failed, which would be final), and is
	// released by the reconciler once the chain answers, so the payment can
	// still be settled.
	//
	// The revert is real: one payer with just enough for one payment signs
	// two, and both settlements land in the same block.
	e := sqliteEnv(t, devnet.Config{Accounts: 5, NoAutoMine: true, BlockTime: 2 * time.Second})
	ctx := t.Context()
	var logs syncBuffer
	chain := &faultyChain{ChainBackend: e.net.Client()}
	fac, store := e.facilitatorWith(t, 3, chain, func(c *facilitator.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	var reverted *x402.FacilitatorRequest
	var revertedTx string
	for attempt := 0; attempt < 3 && reverted == nil; attempt++ {
		payer, err := devnet.DevAccount(700 + attempt) // derived, never funded by the devnet
		if err != nil {
			t.Fatal(err)
		}
		if err := e.net.Mint(ctx, payer.Address, e.req.Amount.Big()); err != nil {
			t.Fatal(err)
		}
		reqs := []*x402.FacilitatorRequest{e.sign(t, payer.PrivateKey, e.req), e.sign(t, payer.PrivateKey, e.req)}
		head, err := e.net.Client().BlockNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "a new block", func() bool {
			n, err := e.net.Client().BlockNumber(ctx)
			return err == nil && n > head
		})
		results := make([]*x402.SettleResponse, 2)
		var wg sync.WaitGroup
		for i := range reqs {
			wg.Go(func() {
				var err error
				if results[i], err = fac.Settle(ctx, reqs[i]); err != nil {
					t.Errorf("settle %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for i, r := range results {
			if !r.Success && r.Transaction != "" && r.ErrorReason == x402.ReasonExactEVMTransactionFailed {
				reverted, revertedTx = reqs[i], r.Transaction
			}
		}
		if reverted == nil {
			t.Logf("attempt %d: the settlements did not share a block (%+v, %+v); again", attempt, results[0], results[1])
		}
	}
	if reverted == nil {
		t.Fatal("could not make a settlement revert")
	}
	if !chain.down.Load() {
		t.Fatal("the reverted settlement was not checked with the chain")
	}
	key, _, err := evmIdentify(t, e, reverted)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.Get(ctx, key)
	if err != nil || rec.Status != ledger.StatusSettling || rec.TxHash != revertedTx {
		t.Fatalf("after a revert the chain could not confirm: %+v %v; want settling with %s", rec, err, revertedTx)
	}
	if strings.Contains(logs.String(), "SECRETKEY") {
		t.Errorf("an RPC URL was logged in full:\n%s", logs.String())
	}

	// The chain answers again; the payer tops up. Once the claim is stale
	// the reconciler releases it, and the payment settles.
	chain.down.Store(false)
	if err := e.net.Mint(ctx, common.HexToAddress(key.Payer), e.req.Amount.Big()); err != nil {
		t.Fatal(err)
	}
	later, _ := e.facilitatorWith(t, 3, nil, named("later", staleLater))
	if n, err := later.Reconcile(ctx); err != nil || n != 1 {
		t.Fatalf("reconcile: %d %v", n, err)
	}
	if _, err := store.Get(ctx, key); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("reverted claim not released: %v", err)
	}
	before := e.balance(t, e.payee)
	s, err := later.Settle(ctx, reverted)
	if err != nil || !s.Success || s.Transaction == revertedTx {
		t.Fatalf("settle after release: %+v %v", s, err)
	}
	if got := new(big.Int).Sub(e.balance(t, e.payee), before); got.Cmp(e.req.Amount.Big()) != 0 {
		t.Errorf("payee received %s, want %s", got, e.req.Amount)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
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

func TestRepeatAnswersInTheRequestersVersion(t *testing.T) {
	// One payment settled through v2 and v1 requests at once, then again:
	// every answer names the network as its request's version does.
	e := sqliteEnv(t, devnet.Config{Accounts: 5, ChainID: 84532})
	ctx := t.Context()
	fac, _ := e.facilitator(t, 3)
	v2 := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
	res := v2.Payload.Resource
	reqV1, err := x402.RequirementsV1(&e.req, res)
	if err != nil {
		t.Fatal(err)
	}
	v1 := x402.NewFacilitatorRequestV1(&x402.PaymentPayloadV1{X402Version: x402.V1, Scheme: "exact", Network: "base-sepolia", Payload: v2.Payload.Payload}, &reqV1)
	want := map[*x402.FacilitatorRequest]x402.Network{v1: "base-sepolia", v2: "eip155:84532"}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var txs []string
	for range 3 {
		for req, network := range want {
			wg.Go(func() {
				s, err := fac.Settle(ctx, req)
				if err != nil || !s.Success || s.Network != network {
					t.Errorf("v%d settle: %+v %v; want success on %s", req.X402Version, s, err, network)
					return
				}
				mu.Lock()
				txs = append(txs, s.Transaction)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for req, network := range want {
		if s, err := fac.Settle(ctx, req); err != nil || !s.Success || s.Network != network {
			t.Errorf("v%d repeat: %+v %v; want success on %s", req.X402Version, s, err, network)
		}
	}
	for _, tx := range txs {
		if tx != txs[0] {
			t.Errorf("answers name transactions %v; want one", txs)
			break
		}
	}
	// Another payment under the same key is refused in the v1 name too.
	other := reqV1
	other.PayTo = e.net.Accounts()[2].Address.Hex()
	conflict := x402.NewFacilitatorRequestV1(v1.PayloadV1, &other)
	if s, err := fac.Settle(ctx, conflict); err != nil || s.ErrorReason != x402.ReasonDuplicateSettlement || s.Network != "base-sepolia" {
		t.Errorf("v1 conflict: %+v %v", s, err)
	}
}

func TestSettleWaitsForAnotherPaymentsClaim(t *testing.T) {
	// Someone holding a copy of an authorization presents it first with
	// different content (here, another resource): the legitimate settle
	// waits for that claim's outcome instead of answering
	// duplicate_settlement at once, and settles when it is given back.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		adjust, reads := watchReads(nil)
		fac, store := e.facilitatorWith(t, 3, nil, adjust)
		req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		copyReq := *req
		payload := *req.Payload
		payload.Resource = &x402.ResourceInfo{URL: "https://attacker.example/other"}
		copyReq.Payload = &payload
		key := crashedClaim(t, store, e, &copyReq, "", "another-instance")

		type result struct {
			s   *x402.SettleResponse
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := fac.Settle(ctx, req)
			done <- result{s, err}
		}()
		stillWaiting(t, reads, key, 3, done)
		if err := store.Release(ctx, key, "", ""); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || !r.s.Success {
				t.Fatalf("after the other claim was released: %+v %v", r.s, r.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no answer after the other claim was released")
		}
		// And when the other claim did settle, the answer is
		// duplicate_settlement, never its success.
		req2 := e.sign(t, e.net.Accounts()[2].PrivateKey, e.req)
		copy2 := *req2
		payload2 := *req2.Payload
		payload2.Resource = &x402.ResourceInfo{URL: "https://attacker.example/other"}
		copy2.Payload = &payload2
		key2 := crashedClaim(t, store, e, &copy2, "", "another-instance")
		go func() {
			s, err := fac.Settle(ctx, req2)
			done <- result{s, err}
		}()
		stillWaiting(t, reads, key2, 3, done)
		settled := &x402.SettleResponse{Success: true, Transaction: common.HexToHash("0xabc").Hex(), Network: e.req.Network, Payer: e.net.Accounts()[2].Address.Hex()}
		if err := store.Update(ctx, key2, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettled, TxHash: settled.Transaction, Response: settled}); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || r.s.Success || r.s.ErrorReason != x402.ReasonDuplicateSettlement || r.s.Transaction != "" {
				t.Fatalf("after the other payment settled: %+v %v", r.s, r.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no answer after the other payment settled")
		}
	})
}

// flakyStore is a real store with the faults of a database connection that
// cannot be produced on demand: a write applied whose answer is lost, or a
// write that fails before being applied.
type flakyStore struct {
	ledger.Store
	mu sync.Mutex
	// lostClaims: Claims applied and then reported as failed.
	lostClaims int
	// failedUpdates: Updates (to a final status) failing before being
	// applied. failedReleases likewise for Release.
	failedUpdates, failedReleases int
}

var errConnReset = errors.New("ledger test: connection reset")

// set arms the faults.
func (s *flakyStore) set(lostClaims, failedUpdates, failedReleases int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lostClaims, s.failedUpdates, s.failedReleases = lostClaims, failedUpdates, failedReleases
}

func (s *flakyStore) take(n *int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *n > 0 {
		*n--
		return true
	}
	return false
}

func (s *flakyStore) Claim(ctx context.Context, st *ledger.Settlement) (*ledger.Settlement, bool, error) {
	existing, claimed, err := s.Store.Claim(ctx, st)
	if err == nil && s.take(&s.lostClaims) {
		return nil, false, errConnReset
	}
	return existing, claimed, err
}

func (s *flakyStore) Update(ctx context.Context, key x402.SettlementKey, u ledger.Update) error {
	if u.Status.Final() && s.take(&s.failedUpdates) {
		return errConnReset
	}
	return s.Store.Update(ctx, key, u)
}

func (s *flakyStore) Release(ctx context.Context, key x402.SettlementKey, tx, claimID string) error {
	if s.take(&s.failedReleases) {
		return errConnReset
	}
	return s.Store.Release(ctx, key, tx, claimID)
}

func TestLedgerFaultsDuringSettlement(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		var flaky *flakyStore
		fac, store := e.facilitatorWith(t, 3, nil, func(c *facilitator.Config) {
			flaky = &flakyStore{Store: c.Store}
			c.Store = flaky
		})
		keys := []common.Address{e.net.Accounts()[3].Address}

		t.Run("claim written but its answer lost", func(t *testing.T) {
			flaky.set(1, 0, 0)
			req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
			nonces := e.nonces(t, keys)
			s, err := fac.Settle(ctx, req)
			if err != nil || !s.Success {
				t.Fatalf("settle: %+v %v", s, err)
			}
			if n := e.sentSince(t, keys, nonces); n != 1 {
				t.Errorf("%d transactions sent, want 1", n)
			}
			key, _, _ := evmIdentify(t, e, req)
			if rec, err := store.Get(ctx, key); err != nil || rec.Status != ledger.StatusSettled || rec.TxHash != s.Transaction {
				t.Errorf("ledger: %+v %v", rec, err)
			}
		})
		t.Run("every claim answer lost", func(t *testing.T) {
			flaky.set(100, 0, 0)
			req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
			nonces := e.nonces(t, keys)
			if s, err := fac.Settle(ctx, req); err == nil || !errors.Is(err, errConnReset) {
				t.Fatalf("settle: %+v %v; want the ledger error", s, err)
			}
			flaky.set(0, 0, 0)
			if n := e.sentSince(t, keys, nonces); n != 0 {
				t.Errorf("%d transactions sent without a claim", n)
			}
			// The claim that was written is deleted: the payment settles
			// at once on a retry.
			key, _, _ := evmIdentify(t, e, req)
			if _, err := store.Get(ctx, key); !errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("claim left behind: %v", err)
			}
			if s, err := fac.Settle(ctx, req); err != nil || !s.Success {
				t.Errorf("retry: %+v %v", s, err)
			}
		})
		t.Run("outcome write fails", func(t *testing.T) {
			flaky.set(0, 2, 0)
			req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
			s, err := fac.Settle(ctx, req)
			if err != nil || !s.Success {
				t.Fatalf("settle: %+v %v", s, err)
			}
			key, _, _ := evmIdentify(t, e, req)
			if rec, err := store.Get(ctx, key); err != nil || rec.Status != ledger.StatusSettled || rec.TxHash != s.Transaction {
				t.Errorf("ledger after retried writes: %+v %v", rec, err)
			}
		})
		t.Run("release after a rejection fails", func(t *testing.T) {
			flaky.set(0, 0, 2)
			poor, err := devnet.DevAccount(901)
			if err != nil {
				t.Fatal(err)
			}
			req := e.sign(t, poor.PrivateKey, e.req)
			s, err := fac.Settle(ctx, req)
			if err != nil || s.ErrorReason != x402.ReasonExactEVMInsufficientBalance {
				t.Fatalf("unfunded: %+v %v", s, err)
			}
			key, _, _ := evmIdentify(t, e, req)
			if _, err := store.Get(ctx, key); !errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("claim of a rejected settlement left: %v", err)
			}
		})
	})
}

func TestHTTPErrorClasses(t *testing.T) {
	// 504 when the caller's deadline passes first, 503 while shutting down,
	// 500 when the ledger fails; never a detail in the body.
	e := sqliteEnv(t, devnet.Config{Accounts: 5})
	ctx := t.Context()
	fac, store := e.facilitator(t, 3)
	var logs syncBuffer
	h, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(ctx context.Context, path string, body []byte) (int, map[string]any) {
		t.Helper()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: status %d, body not JSON: %q", path, w.Code, w.Body.String())
		}
		return w.Code, m
	}

	// Another instance is settling this payment: the caller's deadline
	// passes first.
	busy := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
	crashedClaim(t, store, e, busy, "", "another-instance")
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	status, m := serve(dctx, "/settle", mustJSON(t, busy))
	cancel()
	if status != http.StatusGatewayTimeout || !strings.Contains(m["error"].(string), "ref ") {
		t.Errorf("settle past the caller's deadline: %d %v", status, m)
	}

	// An oversized body is 413 even when MaxBodyBytes is set above what
	// the decoder accepts.
	big, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{MaxBodyBytes: 4 * x402.MaxJSONSize})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	oversized := httptest.NewRequestWithContext(ctx, http.MethodPost, "/verify", bytes.NewReader(bytes.Repeat([]byte(" "), x402.MaxJSONSize+1)))
	oversized.Header.Set("Content-Type", "application/json")
	big.ServeHTTP(w, oversized)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body with MaxBodyBytes above x402.MaxJSONSize: %d %s", w.Code, w.Body.String())
	}

	// Shutting down: settles are refused with 503, verifies still answered.
	if err := fac.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	req := e.sign(t, e.net.Accounts()[2].PrivateKey, e.req)
	if status, m := serve(ctx, "/settle", mustJSON(t, req)); status != http.StatusServiceUnavailable || m["error"] != "facilitator is shutting down" {
		t.Errorf("settle while shutting down: %d %v", status, m)
	}
	if status, m := serve(ctx, "/verify", mustJSON(t, req)); status != http.StatusOK || m["isValid"] != true {
		t.Errorf("verify while shutting down: %d %v", status, m)
	}

	// The ledger is gone: 500, and the detail only in the log.
	fac2, store2 := e.facilitator(t, 4)
	h2, err := facilitator.NewHandler(fac2, facilitator.HandlerConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h = h2
	if err := store2.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/verify", "/settle"} {
		status, m := serve(ctx, path, mustJSON(t, req))
		msg, _ := m["error"].(string)
		if status != http.StatusInternalServerError || !strings.Contains(msg, "ref ") || strings.Contains(msg, "sql") || strings.Contains(msg, "closed") {
			t.Errorf("%s with the ledger closed: %d %v", path, status, m)
		}
	}
	if !strings.Contains(logs.String(), "no verdict") {
		t.Errorf("the failures were not logged:\n%s", logs.String())
	}
}

func TestNoRPCURLInLedgerOrLogs(t *testing.T) {
	// A provider's API key in the RPC URL never reaches the ledger's events
	// or the logs, whatever the chain backend's errors quote.
	e := sqliteEnv(t, devnet.Config{Accounts: 5, RPCAddr: "127.0.0.1:0"})
	net := e.net
	rpcURL := net.RPCURL() + "/?apikey=SECRETKEY"
	client, err := ethclient.DialContext(t.Context(), rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	fac, store := e.facilitatorWith(t, 3, client, func(c *facilitator.Config) { c.Logger = log })
	h, err := facilitator.NewHandler(fac, facilitator.HandlerConfig{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	req := e.sign(t, net.Accounts()[0].PrivateKey, e.req)
	if err := net.Close(); err != nil { // the endpoint goes away
		t.Fatal(err)
	}
	for _, path := range []string{"/verify", "/settle"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(mustJSON(t, req)))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		if w.Code < 500 {
			t.Errorf("%s with the RPC endpoint down: %d %s", path, w.Code, w.Body.String())
		}
	}
	events, err := store.Events(t.Context(), ledger.EventFilter{})
	if err != nil || len(events) != 2 {
		t.Fatalf("events: %d %v", len(events), err)
	}
	for _, ev := range events {
		if ev.Status != "error" || strings.Contains(ev.Message, "SECRETKEY") || !strings.Contains(ev.Message, "127.0.0.1") {
			t.Errorf("%s event message: %q", ev.Kind, ev.Message)
		}
	}
	if strings.Contains(logs.String(), "SECRETKEY") {
		t.Errorf("the RPC URL was logged in full:\n%s", logs.String())
	}
}

func TestRepairUnderConcurrency(t *testing.T) {
	// Many retries, on two instances, of a payment whose pending
	// transaction was dropped and of one whose claim was abandoned, while
	// both instances' reconcilers run: each payment is settled by exactly
	// one new transaction, and every retry gets its answer.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		_, store := e.facilitator(t, 3)
		// Real clocks: the two rows are made old in the database, so that
		// the claims the retries make are fresh, as they would be.
		dropped := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		e.backdate(t, pendingRow(t, store, e, dropped, common.HexToHash("0xd0d0").Hex(), "gone"), facilitator.DefaultSettleTimeout+time.Second)
		abandoned := e.sign(t, e.net.Accounts()[2].PrivateKey, e.req)
		e.backdate(t, crashedClaim(t, store, e, abandoned, common.HexToHash("0xdead").Hex(), "gone"), facilitator.DefaultSettleTimeout+facilitator.StaleMargin+time.Second)

		facA, _ := e.facilitatorWith(t, 3, nil, named("a", nil))
		facB, _ := e.facilitatorWith(t, 4, nil, named("b", nil))
		keys := []common.Address{e.net.Accounts()[3].Address, e.net.Accounts()[4].Address}
		nonces := e.nonces(t, keys)
		before := e.balance(t, e.payee)
		rctx, stop := context.WithCancel(ctx)
		var loops sync.WaitGroup
		for _, fac := range []*facilitator.Facilitator{facA, facB} {
			loops.Go(func() { fac.RunReconciler(rctx, 10*time.Millisecond) })
		}

		const n = 20
		reqs := []*x402.FacilitatorRequest{dropped, abandoned}
		results := make([][]*x402.SettleResponse, len(reqs))
		var wg sync.WaitGroup
		for r, req := range reqs {
			results[r] = make([]*x402.SettleResponse, n)
			for i := range n {
				fac := facA
				if i%2 == 1 {
					fac = facB
				}
				wg.Go(func() {
					s, err := fac.Settle(ctx, req)
					if err != nil {
						t.Errorf("payment %d, request %d: %v", r, i, err)
					}
					results[r][i] = s
				})
			}
		}
		wg.Wait()
		stop()
		loops.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for r := range reqs {
			for i, s := range results[r] {
				if !s.Success || !reflect.DeepEqual(s, results[r][0]) {
					t.Errorf("payment %d, request %d: %+v; request 0: %+v", r, i, s, results[r][0])
				}
			}
		}
		if got, want := new(big.Int).Sub(e.balance(t, e.payee), before), new(big.Int).Mul(e.req.Amount.Big(), big.NewInt(2)); got.Cmp(want) != 0 {
			t.Errorf("payee received %s, want %s", got, want)
		}
		if sent := e.sentSince(t, keys, nonces); sent != 2 {
			t.Errorf("%d transactions sent for two payments, want 2", sent)
		}
	})
}

// hookStore is a real store that runs a hook before the first Update
// recording a transaction hash: there the test acts as another instance
// would at that very moment.
type hookStore struct {
	ledger.Store
	once sync.Once
	hook func(key x402.SettlementKey)
}

func (s *hookStore) Update(ctx context.Context, key x402.SettlementKey, u ledger.Update) error {
	if u.TxHash != "" && u.From == ledger.StatusSettling && u.Status == ledger.StatusSettling {
		s.once.Do(func() { s.hook(key) })
	}
	return s.Store.Update(ctx, key, u)
}

func TestClaimLostBeforeBroadcast(t *testing.T) {
	// Another instance (with a clock far ahead, say) judged a live claim
	// abandoned, released it, and claimed the key itself, just before the
	// owner recorded its transaction. The owner sends nothing under the
	// other claim and does not overwrite it: it waits for that claim's
	// outcome and settles once it is given back. One transaction in all.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		var hooked *hookStore
		var store ledger.Store
		foreign := make(chan x402.SettlementKey, 1)
		adjust, reads := watchReads(func(c *facilitator.Config) {
			store = c.Store
			hooked = &hookStore{Store: c.Store, hook: func(key x402.SettlementKey) {
				rec, err := store.Get(context.Background(), key)
				if err != nil {
					t.Errorf("hook: %v", err)
					return
				}
				if err := store.Release(context.Background(), key, "", ""); err != nil {
					t.Errorf("hook: release: %v", err)
				}
				other := *rec
				other.ClaimID, other.Owner = "foreign-claim", "skewed-instance"
				if _, claimed, err := store.Claim(context.Background(), &other); err != nil || !claimed {
					t.Errorf("hook: claim: %v %v", claimed, err)
				}
				foreign <- key
			}}
			c.Store = hooked
		})
		fac, _ := e.facilitatorWith(t, 3, nil, adjust)
		keys := []common.Address{e.net.Accounts()[3].Address}
		nonces := e.nonces(t, keys)
		before := e.balance(t, e.payee)
		req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
		type result struct {
			s   *x402.SettleResponse
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := fac.Settle(ctx, req)
			done <- result{s, err}
		}()
		var key x402.SettlementKey
		select {
		case key = <-foreign:
		case r := <-done:
			t.Fatalf("settled without reaching the broadcast: %+v %v", r.s, r.err)
		}
		// The owner now waits for the foreign claim, which it left as it was.
		stillWaiting(t, reads, key, 3, done)
		rec, err := store.Get(ctx, key)
		if err != nil || rec.ClaimID != "foreign-claim" || rec.TxHash != "" || rec.Status != ledger.StatusSettling {
			t.Fatalf("the foreign claim was touched: %v", describe(rec, err))
		}
		if n := e.sentSince(t, keys, nonces); n != 0 {
			t.Fatalf("%d transactions sent under a lost claim", n)
		}
		// The other instance gives it back: the payment settles.
		if err := store.Release(ctx, key, "", "foreign-claim"); err != nil {
			t.Fatal(err)
		}
		var r result
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("no answer")
		}
		if r.err != nil || !r.s.Success {
			t.Fatalf("settle: %+v %v", r.s, r.err)
		}
		if n := e.sentSince(t, keys, nonces); n != 1 {
			t.Errorf("%d transactions sent, want 1", n)
		}
		if got := new(big.Int).Sub(e.balance(t, e.payee), before); got.Cmp(e.req.Amount.Big()) != 0 {
			t.Errorf("payee received %s, want %s", got, e.req.Amount)
		}
		if rec, err := store.Get(ctx, key); err != nil || rec.Status != ledger.StatusSettled || rec.TxHash != r.s.Transaction || rec.ClaimID == "foreign-claim" {
			t.Errorf("ledger: %+v %v", rec, err)
		}
	})
}

// describe is the part of a settlement worth showing in a failure.
func describe(rec *ledger.Settlement, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("status %s, tx %q, claim %q, owner %q, updated %v", rec.Status, rec.TxHash, rec.ClaimID, rec.Owner, rec.UpdatedAt)
}

// receiptCounter counts the chain lookups of a settlement's transaction.
type receiptCounter struct {
	evm.ChainBackend
	receipts atomic.Int64
}

func (b *receiptCounter) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	b.receipts.Add(1)
	return b.ChainBackend.TransactionReceipt(ctx, h)
}

// TestVerifyOfFreshPendingSettlementReadsNoChain: a verify of an
// authorization whose settlement is pending answers duplicate_settlement
// from the ledger. Until the transaction could count as dropped, asking the
// chain could not change that answer, so replayed verifies cost no RPC.
func TestVerifyOfFreshPendingSettlementReadsNoChain(t *testing.T) {
	e := sqliteEnv(t, devnet.Config{Accounts: 5})
	_, store := e.facilitator(t, 3)
	req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
	pendingRow(t, store, e, req, common.HexToHash("0xd0d0").Hex(), "a")
	chain := &receiptCounter{ChainBackend: e.net.Client()}
	fac, _ := e.facilitatorWith(t, 3, chain, named("a", nil))
	for range 10 {
		v, err := fac.Verify(t.Context(), req)
		if err != nil || v.IsValid || v.InvalidReason != x402.ReasonDuplicateSettlement {
			t.Fatalf("verify: %+v %v", v, err)
		}
	}
	if n := chain.receipts.Load(); n != 0 {
		t.Errorf("10 verifies of a fresh pending settlement made %d receipt lookups, want 0", n)
	}
}

// reclaimingStore lets another instance release a stale claim and a fresh
// request claim the key again, just before this instance's own release of
// the stale claim it read.
type reclaimingStore struct {
	ledger.Store
	once  sync.Once
	fault error
}

func (s *reclaimingStore) Release(ctx context.Context, key x402.SettlementKey, tx, claimID string) error {
	s.once.Do(func() {
		rec, err := s.Store.Get(ctx, key)
		if err == nil {
			err = s.Store.Release(ctx, key, tx, rec.ClaimID)
		}
		if err == nil {
			fresh := *rec
			fresh.ClaimID, fresh.Owner = "fresh", "c"
			var ok bool
			if _, ok, err = s.Store.Claim(ctx, &fresh); err == nil && !ok {
				err = errors.New("fresh claim refused")
			}
		}
		s.fault = err
	})
	return s.Store.Release(ctx, key, tx, claimID)
}

// TestRepairNeverTouchesANewerClaim: a repair works from the claim it read;
// a newer claim of the same key (taken in the meantime) is left alone.
func TestRepairNeverTouchesANewerClaim(t *testing.T) {
	e := sqliteEnv(t, devnet.Config{Accounts: 5})
	_, store := e.facilitator(t, 3)
	req := e.sign(t, e.net.Accounts()[0].PrivateKey, e.req)
	key, fp, err := evmIdentify(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	stale := &ledger.Settlement{Key: key, Fingerprint: fp, Request: mustJSON(t, req), Scheme: "exact", Version: 2, Owner: "gone", ClaimID: "old"}
	if _, ok, err := store.Claim(t.Context(), stale); err != nil || !ok {
		t.Fatal(ok, err)
	}
	rs := &reclaimingStore{}
	fac, _ := e.facilitatorWith(t, 3, nil, func(c *facilitator.Config) {
		c.Instance, c.Now = "a", staleLater
		rs.Store = c.Store
		c.Store = rs
	})
	if _, err := fac.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rs.fault != nil {
		t.Fatal(rs.fault)
	}
	rec, err := store.Get(t.Context(), key)
	if err != nil || rec.ClaimID != "fresh" {
		t.Fatalf("the newer claim after the stale repair: %+v %v; want it kept", rec, err)
	}
}
