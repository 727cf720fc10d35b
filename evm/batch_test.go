package evm_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// batchWorld is a world whose facilitator settles in batches through the
// devnet's Multicall3, with a window long enough for a test's concurrent
// settlements to meet in one batch.
func batchWorld(t *testing.T, window time.Duration) *world {
	t.Helper()
	return newWorld(t, 0, func(c *evm.ExactFacilitatorConfig) {
		c.Batch = evm.BatchConfig{Multicall: evm.Multicall3Address(), Window: window}
	})
}

// settleAll settles payments concurrently, each with its own context.
func settleAll(w *world, ctxs []context.Context, hooks []x402.SettleHooks, payments []*x402.Payment) ([]*x402.SettleResponse, []error) {
	results := make([]*x402.SettleResponse, len(payments))
	errs := make([]error, len(payments))
	var wg sync.WaitGroup
	for i := range payments {
		wg.Go(func() { results[i], errs[i] = w.fac.Settle(ctxs[i], payments[i], hooks[i]) })
	}
	wg.Wait()
	return results, errs
}

func TestBatchSettlement(t *testing.T) {
	w := batchWorld(t, 300*time.Millisecond)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	accts := w.net.Accounts()
	payers := []devnet.Account{accts[0], accts[2], accts[3]}
	const n = 12
	payments := make([]*x402.Payment, n)
	ctxs := make([]context.Context, n)
	hooks := make([]x402.SettleHooks, n)
	recorded := make([]string, n)
	for i := range payments {
		payments[i] = pay(t, newClient(t, payers[i%len(payers)].PrivateKey), req)
		ctxs[i] = ctx
		hooks[i] = x402.SettleHooks{BeforeBroadcast: func(_ context.Context, tx string) error {
			recorded[i] = tx
			return nil
		}}
	}
	payeeBefore := w.balance(t, w.payee)
	results, errs := settleAll(w, ctxs, hooks, payments)

	txs := map[string]int{}
	for i, r := range results {
		if errs[i] != nil || !r.Success || r.Transaction == "" || r.Network != w.network {
			t.Fatalf("settlement %d: %+v %v", i, r, errs[i])
		}
		if recorded[i] != r.Transaction {
			t.Errorf("settlement %d: hook saw %q before broadcast, result is %s", i, recorded[i], r.Transaction)
		}
		txs[r.Transaction]++
	}
	if len(txs) >= n {
		t.Fatalf("%d payments went out in %d transactions: nothing was batched", n, len(txs))
	}
	var gas uint64
	for h := range txs {
		receipt, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(h))
		if err != nil || receipt.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("receipt %s: %+v %v", h, receipt, err)
		}
		gas += receipt.GasUsed
	}
	t.Logf("%d payments in %d transactions, %d gas per payment", n, len(txs), gas/n)
	want := new(big.Int).Mul(req.Amount.Big(), big.NewInt(n))
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(want) != 0 {
		t.Errorf("payee received %s, want %s", got, want)
	}
	// Each payment is found on chain on its own, and is not settled twice.
	for i, p := range payments {
		key, _, err := w.fac.Identify(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := w.fac.Reconcile(ctx, p, key, results[i].Transaction)
		if err != nil || !r.Success || r.Transaction != results[i].Transaction {
			t.Errorf("reconcile %d: %+v %v", i, r, err)
		}
		again, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
		if err != nil || again.Success || again.ErrorReason != x402.ReasonExactEVMNonceAlreadyUsed || again.Transaction != "" {
			t.Errorf("second settle of %d: %+v %v", i, again, err)
		}
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(want) != 0 {
		t.Errorf("after the replays the payee has received %s, want %s", got, want)
	}
}

// TestBatchOneFailureInTheTransaction: an authorization that passes every
// check, then is canceled by its payer after the batch was estimated and
// before it was broadcast, fails alone inside the mined transaction; the
// others are paid.
func TestBatchOneFailureInTheTransaction(t *testing.T) {
	w := batchWorld(t, 300*time.Millisecond)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	accts := w.net.Accounts()
	// The cancellation is sent from another key than the facilitator's,
	// whose send is in progress while the hook runs.
	other, err := evm.NewSender(ctx, evm.SenderConfig{Backend: w.net.Client(), Key: accts[3].PrivateKey, ChainID: w.net.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	payers := []devnet.Account{accts[0], accts[2], accts[0], accts[2]}
	const victim = 1
	payments := make([]*x402.Payment, len(payers))
	ctxs := make([]context.Context, len(payers))
	hooks := make([]x402.SettleHooks, len(payers))
	hookErr := make(chan error, 1)
	for i := range payments {
		payments[i] = pay(t, newClient(t, payers[i].PrivateKey), req)
		ctxs[i] = ctx
	}
	victimKey, _, err := w.fac.Identify(payments[victim])
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	hooks[victim] = x402.SettleHooks{BeforeBroadcast: func(context.Context, string) error {
		once.Do(func() { hookErr <- w.cancelAuthorization(other, payers[victim], common.FromHex(victimKey.Nonce)) })
		return nil
	}}
	payeeBefore := w.balance(t, w.payee)
	results, errs := settleAll(w, ctxs, hooks, payments)
	select {
	case err := <-hookErr:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the victim's hook never ran")
	}

	var batchTx string
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("settlement %d: %v", i, errs[i])
		}
		if i == victim {
			continue
		}
		if !r.Success {
			t.Fatalf("settlement %d: %+v", i, r)
		}
		if batchTx == "" {
			batchTx = r.Transaction
		} else if r.Transaction != batchTx {
			t.Fatalf("settlements went out in several transactions (%s, %s): the test needs one batch", batchTx, r.Transaction)
		}
	}
	v := results[victim]
	if v.Success || v.Transaction != batchTx || v.ErrorReason != x402.ReasonExactEVMNonceAlreadyUsed {
		t.Fatalf("canceled authorization: %+v, want a failure in transaction %s with %s", v, batchTx, x402.ReasonExactEVMNonceAlreadyUsed)
	}
	want := new(big.Int).Mul(req.Amount.Big(), big.NewInt(int64(len(payers)-1)))
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(want) != 0 {
		t.Errorf("payee received %s, want %s", got, want)
	}
	// Reconciling the victim with the batch's hash does not mistake the
	// batch's success for its own.
	r, err := w.fac.Reconcile(ctx, payments[victim], victimKey, batchTx)
	if err != nil || r.Success || r.ErrorReason != x402.ReasonExactEVMNonceAlreadyUsed {
		t.Errorf("reconcile of the canceled authorization: %+v %v", r, err)
	}
}

// TestBatchSameAuthorizationTwice: payments that only fail together (the same
// authorization twice in one batch) fall back to one transaction each, so
// the authorization is paid once and its copy is refused.
func TestBatchSameAuthorizationTwice(t *testing.T) {
	w := batchWorld(t, 300*time.Millisecond)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	p := pay(t, w.client, req)
	payeeBefore := w.balance(t, w.payee)
	results, errs := settleAll(w, []context.Context{ctx, ctx}, make([]x402.SettleHooks, 2), []*x402.Payment{p, p})
	ok := 0
	for i, r := range results {
		switch {
		case errs[i] != nil:
			t.Fatalf("settlement %d: %v", i, errs[i])
		case r.Success:
			ok++
		// Refused at estimation (the first was mined), or sent alone and
		// reverted on chain (it was not yet): never a second transfer.
		case r.ErrorReason == x402.ReasonExactEVMNonceAlreadyUsed && r.Transaction == "":
		case r.ErrorReason == x402.ReasonExactEVMTransactionFailed && r.Transaction != "":
		default:
			t.Errorf("refused copy: %+v", r)
		}
	}
	if ok != 1 {
		t.Fatalf("%d settlements succeeded, want exactly 1: %+v %+v", ok, results[0], results[1])
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(req.Amount.Big()) != 0 {
		t.Errorf("payee received %s, want %s", got, req.Amount)
	}
}

func TestBatchNeedsMulticall(t *testing.T) {
	w := newWorld(t, 0, nil)
	_, err := evm.NewExactFacilitator(t.Context(), evm.ExactFacilitatorConfig{
		Network: w.network, Backend: w.net.Client(), Sender: w.sender,
		Batch: evm.BatchConfig{Multicall: common.HexToAddress("0x000000000000000000000000000000000000dEaD")},
	})
	if err == nil {
		t.Fatal("batching accepted without a Multicall3 at the address")
	}
}
