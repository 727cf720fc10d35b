package evm_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/contracts"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// authorizationOf reads the authorization and signature back from a payment.
func authorizationOf(t *testing.T, p *x402.Payment) (*evm.Authorization, evm.Signature) {
	t.Helper()
	var e evm.ExactPayload
	if err := p.Payload.Decode(&e); err != nil {
		t.Fatal(err)
	}
	a := &evm.Authorization{From: common.HexToAddress(e.Authorization.From), To: common.HexToAddress(e.Authorization.To)}
	a.Value, _ = new(big.Int).SetString(e.Authorization.Value, 10)
	a.ValidAfter, _ = new(big.Int).SetString(e.Authorization.ValidAfter, 10)
	a.ValidBefore, _ = new(big.Int).SetString(e.Authorization.ValidBefore, 10)
	copy(a.Nonce[:], hexutil.MustDecode(e.Authorization.Nonce))
	sig, err := evm.ParseSignature(e.Signature)
	if err != nil {
		t.Fatal(err)
	}
	return a, sig
}

// TestReconcileNeedsTheTransferOfThisPayment: the payer signs A and B to the
// merchant, then front-runs the facilitator with one transaction that
// settles A and spends B's nonce on a transfer to themselves. B's nonce is
// used, next to A's matching Transfer, but B was never paid.
func TestReconcileNeedsTheTransferOfThisPayment(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	pA, pB := pay(t, w.client, req), pay(t, w.client, req)
	authA, sigA := authorizationOf(t, pA)
	authB, _ := authorizationOf(t, pB)

	// C: B's nonce, paying the payer back.
	authC := *authB
	authC.To = w.payer.Address
	signer, err := evm.NewPrivateKeySignerFromECDSA(w.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	domain := evm.Domain{Name: w.asset.Name, Version: w.asset.Version, ChainID: w.net.ChainID().Uint64(), VerifyingContract: w.asset.Address}
	sigC, err := evm.SignAuthorization(ctx, signer, domain, &authC)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := abi.JSON(strings.NewReader(contracts.Multicall3ABI()))
	if err != nil {
		t.Fatal(err)
	}
	type call3 struct {
		Target       common.Address
		AllowFailure bool
		CallData     []byte
	}
	data, err := mc.Pack("aggregate3", []call3{
		{w.asset.Address, false, evm.TransferWithAuthorizationCalldata(authA, sigA)},
		{w.asset.Address, false, evm.TransferWithAuthorizationCalldata(&authC, sigC)},
	})
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := evm.NewSender(ctx, evm.SenderConfig{Backend: w.net.Client(), Key: w.net.Accounts()[3].PrivateKey, ChainID: w.net.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	payeeBefore := w.balance(t, w.payee)
	tx, err := attacker.Send(ctx, evm.Multicall3Address(), data)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := attacker.WaitReceipt(ctx, tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("front-running transaction: %+v %v", r, err)
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(req.Amount.Big()) != 0 {
		t.Fatalf("payee received %s, want one price", got)
	}
	keyA, _, _ := w.fac.Identify(pA)
	keyB, _, _ := w.fac.Identify(pB)
	if r, err := w.fac.Reconcile(ctx, pA, keyA, ""); err != nil || !r.Success || r.Transaction != tx.Hash().Hex() {
		t.Errorf("A was paid by the front-running transaction: %+v %v", r, err)
	}
	r, err := w.fac.Reconcile(ctx, pB, keyB, "")
	if err != nil || r.Success || r.ErrorReason != x402.ReasonExactEVMNonceAlreadyUsed {
		t.Errorf("B was never paid, reconcile says %+v %v", r, err)
	}
}

// TestBatchHookFailureIsolated: when one payment cannot record the batch's
// transaction (its ledger write fails), it alone is not sent; the others go
// out in a transaction whose hash they record.
func TestBatchHookFailureIsolated(t *testing.T) {
	w := batchWorld(t, 300*time.Millisecond)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	const n, failing = 4, 1
	payments := make([]*x402.Payment, n)
	ctxs := make([]context.Context, n)
	hooks := make([]x402.SettleHooks, n)
	recorded := make([][]string, n)
	var mu sync.Mutex
	ledgerDown := errors.New("ledger unavailable")
	for i := range payments {
		payments[i] = pay(t, w.client, req)
		ctxs[i] = ctx
		hooks[i] = x402.SettleHooks{BeforeBroadcast: func(_ context.Context, tx string) error {
			if i == failing {
				return ledgerDown
			}
			mu.Lock()
			recorded[i] = append(recorded[i], tx)
			mu.Unlock()
			return nil
		}}
	}
	payeeBefore := w.balance(t, w.payee)
	results, errs := settleAll(w, ctxs, hooks, payments)
	for i := range payments {
		if i == failing {
			if !errors.Is(errs[i], ledgerDown) {
				t.Errorf("the failing payment got %+v %v, want its own error", results[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || !results[i].Success {
			t.Fatalf("payment %d: %+v %v", i, results[i], errs[i])
		}
		if last := recorded[i][len(recorded[i])-1]; last != results[i].Transaction {
			t.Errorf("payment %d recorded %v, settled in %s", i, recorded[i], results[i].Transaction)
		}
	}
	want := new(big.Int).Mul(req.Amount.Big(), big.NewInt(n-1))
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(want) != 0 {
		t.Errorf("payee received %s, want %s", got, want)
	}
}
