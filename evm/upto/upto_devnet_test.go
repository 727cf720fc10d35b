package upto_test

import (
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// TestSettleUsedAmount: the payer authorizes $0.05, the server settles
// what was used; the payer loses exactly that and the payee gains it.
func TestSettleUsedAmount(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.05 TPD")
	if req.Amount != x402.NewAmount(50_000) {
		t.Fatalf("amount %s, want 50000", req.Amount)
	}
	p := e.pay(t, e.client, req)
	if v := e.verify(t, p, req); !v.IsValid {
		t.Fatalf("verify: %s: %s", v.InvalidReason, v.InvalidMessage)
	}
	payer0, payee0 := e.balance(t, e.payer.Address), e.balance(t, e.payee)
	s := e.settle(t, p, 12_345)
	if !s.Success || s.Transaction == "" || s.Amount == nil || *s.Amount != x402.NewAmount(12_345) {
		t.Fatalf("settle: %+v", s)
	}
	if err := s.ValidateFor(upto.Scheme); err != nil {
		t.Error(err)
	}
	if d := new(big.Int).Sub(payer0, e.balance(t, e.payer.Address)); d.Int64() != 12_345 {
		t.Errorf("payer paid %s, want 12345", d)
	}
	if d := new(big.Int).Sub(e.balance(t, e.payee), payee0); d.Int64() != 12_345 {
		t.Errorf("payee got %s, want 12345", d)
	}
	// The same settle again answers the first result and moves nothing.
	again := e.settle(t, p, 12_345)
	if !again.Success || again.Transaction != s.Transaction {
		t.Errorf("repeat settle: %+v, want the first result %s", again, s.Transaction)
	}
	if d := new(big.Int).Sub(payer0, e.balance(t, e.payer.Address)); d.Int64() != 12_345 {
		t.Errorf("after the repeat the payer paid %s, want 12345", d)
	}
	// A settled authorization verifies no more.
	if v := e.verify(t, p, req); v.IsValid {
		t.Error("a settled authorization verified again")
	}
}

// TestSettleZero: nothing used, nothing sent, nothing moved.
func TestSettleZero(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.05 TPD")
	p := e.pay(t, e.client, req)
	if v := e.verify(t, p, req); !v.IsValid {
		t.Fatalf("verify: %s: %s", v.InvalidReason, v.InvalidMessage)
	}
	payer0, payee0 := e.balance(t, e.payer.Address), e.balance(t, e.payee)
	nonce0, err := e.net.Client().NonceAt(t.Context(), e.sender.Address(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := e.settle(t, p, 0)
	if !s.Success || s.Transaction != "" || s.Amount == nil || !s.Amount.IsZero() {
		t.Fatalf("settle 0: %+v", s)
	}
	if err := s.ValidateFor(upto.Scheme); err != nil {
		t.Error(err)
	}
	if e.balance(t, e.payer.Address).Cmp(payer0) != 0 || e.balance(t, e.payee).Cmp(payee0) != 0 {
		t.Error("a settlement of 0 moved funds")
	}
	if n, _ := e.net.Client().NonceAt(t.Context(), e.sender.Address(), nil); n != nonce0 {
		t.Errorf("a settlement of 0 sent %d transactions", n-nonce0)
	}
}

// TestSettleAboveMaximum: the facilitator refuses to settle more than the
// payer authorized, and the server never asks it to.
func TestSettleAboveMaximum(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.05 TPD")
	p := e.pay(t, e.client, req)
	if _, err := e.server.UsageRequirements(req, x402.NewAmount(50_001)); !isReason(err, x402.ReasonUptoSettlementExceedsAmount) {
		t.Errorf("UsageRequirements above the maximum: %v", err)
	}
	payer0 := e.balance(t, e.payer.Address)
	s := e.settle(t, p, 50_001)
	if s.Success || s.ErrorReason != x402.ReasonUptoSettlementExceedsAmount {
		t.Fatalf("settle above the maximum: %+v", s)
	}
	if e.balance(t, e.payer.Address).Cmp(payer0) != 0 {
		t.Error("funds moved")
	}
	// The refusal moved nothing, so the whole maximum can still be settled.
	if s := e.settle(t, p, 50_000); !s.Success {
		t.Errorf("settle of the maximum after a refusal: %+v", s)
	}
}

// signed returns a payload of e.payer for req whose permit mutate changed.
func (e *env) signed(t *testing.T, key devnet.Account, req x402.PaymentRequirements, mutate func(*upto.Permit)) *x402.PaymentPayload {
	t.Helper()
	now := time.Now().Unix()
	pm := &upto.Permit{
		From: key.Address, Token: common.HexToAddress(req.Asset), Amount: req.Amount.Big(), Spender: upto.ProxyAddress(),
		Nonce: big.NewInt(now), Deadline: big.NewInt(now + 60), To: common.HexToAddress(req.PayTo),
		Facilitator: e.sender.Address(), ValidAfter: new(big.Int),
	}
	if mutate != nil {
		mutate(pm)
	}
	s, err := evm.NewPrivateKeySignerFromECDSA(key.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := pm.Digest(e.net.ChainID().Uint64())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := evm.SignDigest(t.Context(), s, digest)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := upto.Encode(pm, sig[:])
	if err != nil {
		t.Fatal(err)
	}
	obj, err := x402.NewObject(wire)
	if err != nil {
		t.Fatal(err)
	}
	return &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}
}

// TestBadPayments: one case per reason code, each verified and settled.
func TestBadPayments(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.05 TPD")
	now := time.Now().Unix()
	cases := []struct {
		name   string
		key    devnet.Account
		mutate func(*upto.Permit)
		want   x402.Reason
	}{
		{"expired deadline", e.payer, func(p *upto.Permit) { p.Deadline = big.NewInt(now + 2) }, x402.ReasonPermit2DeadlineExpired},
		{"deadline past maxTimeoutSeconds", e.payer, func(p *upto.Permit) { p.Deadline = big.NewInt(now + 3600) }, x402.ReasonPermit2DeadlineExpired},
		{"not yet valid", e.payer, func(p *upto.Permit) { p.ValidAfter = big.NewInt(now + 600) }, x402.ReasonPermit2NotYetValid},
		{"wrong spender", e.payer, func(p *upto.Permit) { p.Spender = evmExactProxy }, x402.ReasonPermit2Spender},
		{"wrong witness facilitator", e.payer, func(p *upto.Permit) { p.Facilitator = e.payee }, x402.ReasonUptoFacilitatorMismatch},
		{"wrong recipient", e.payer, func(p *upto.Permit) { p.To = e.other.Address }, x402.ReasonPermit2RecipientMismatch},
		{"wrong token", e.payer, func(p *upto.Permit) { p.Token = e.net.Token().Address }, x402.ReasonPermit2TokenMismatch},
		{"missing allowance", e.other, nil, x402.ReasonPermit2AllowanceRequired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := e.signed(t, c.key, req, c.mutate)
			if v := e.verify(t, p, req); v.IsValid || v.InvalidReason != c.want {
				t.Errorf("verify: %s (%s), want %s", v.InvalidReason, v.InvalidMessage, c.want)
			}
			if s := e.settle(t, p, 1000); s.Success || s.ErrorReason != c.want {
				t.Errorf("settle: %s (%s), want %s", s.ErrorReason, s.ErrorMessage, c.want)
			}
		})
	}
	t.Run("amount differs from the maximum at verify", func(t *testing.T) {
		p := e.signed(t, e.payer, req, func(p *upto.Permit) { p.Amount = big.NewInt(40_000) })
		if v := e.verify(t, p, req); v.IsValid || v.InvalidReason != x402.ReasonPermit2AmountMismatch {
			t.Errorf("verify: %s, want %s", v.InvalidReason, x402.ReasonPermit2AmountMismatch)
		}
	})
	t.Run("signed by someone else", func(t *testing.T) {
		p := e.signed(t, e.other, req, func(p *upto.Permit) { p.From = e.payer.Address })
		if v := e.verify(t, p, req); v.IsValid || v.InvalidReason != x402.ReasonPermit2Signature {
			t.Errorf("verify: %s, want %s", v.InvalidReason, x402.ReasonPermit2Signature)
		}
	})
}

var evmExactProxy = common.HexToAddress("0x402085c248EeA27D92E8b30b2C58ed07f9E20001")

// TestProxyRequiresWitnessFacilitator: another sender than
// witness.facilitator cannot settle a permit, even with a valid signature.
func TestProxyRequiresWitnessFacilitator(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.05 TPD")
	p := e.pay(t, e.client, req)
	d, err := upto.Decode(p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	to := upto.ProxyAddress()
	data, err := upto.SettleCalldata(&d.Permit, big.NewInt(10), d.Signature)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.net.Client().CallContract(t.Context(), ethereum.CallMsg{From: e.payee, To: &to, Data: data}, nil)
	rev := evm.AsRevert(err)
	sel, ok := [4]byte{}, false
	if rev != nil {
		sel, ok = rev.Selector()
	}
	if !ok || sel != [4]byte(crypto.Keccak256([]byte("UnauthorizedFacilitator()"))[:4]) {
		t.Fatalf("settle from another sender: %v, want UnauthorizedFacilitator", err)
	}
	if _, err := e.net.Client().CallContract(t.Context(), ethereum.CallMsg{From: e.sender.Address(), To: &to, Data: data}, nil); err != nil {
		t.Fatalf("settle from the witness facilitator: %v", err)
	}
}

// TestNonceReplay: a Permit2 nonce settles once. A second facilitator with
// its own ledger sees it used on chain.
func TestNonceReplay(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.05 TPD")
	p := e.pay(t, e.client, req)
	if s := e.settle(t, p, 777); !s.Success {
		t.Fatalf("settle: %+v", s)
	}
	v, err := e.scheme.Verify(t.Context(), mustPayment(t, p, req))
	if err != nil {
		t.Fatal(err)
	}
	if v.IsValid || v.InvalidReason != x402.ReasonPermit2InvalidNonce {
		t.Errorf("verify of a used nonce: %s, want %s", v.InvalidReason, x402.ReasonPermit2InvalidNonce)
	}
	sreq := req
	sreq.Amount = x402.NewAmount(100)
	s, err := e.scheme.Settle(t.Context(), mustPayment(t, p, sreq), x402.SettleHooks{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Success || s.ErrorReason != x402.ReasonPermit2InvalidNonce {
		t.Errorf("settle of a used nonce: %+v", s)
	}
	// Through the ledger: another amount for the same authorization is a
	// different payment under the same key.
	if s := e.settle(t, p, 100); s.Success || s.ErrorReason != x402.ReasonDuplicateSettlement {
		t.Errorf("settle for another amount: %+v", s)
	}
}

// TestConcurrentSettle: settles of one authorization racing, for the same
// amount and for different ones, move funds once.
func TestConcurrentSettle(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.05 TPD")
	p := e.pay(t, e.client, req)
	payer0 := e.balance(t, e.payer.Address)
	amounts := []uint64{1000, 1000, 2000, 3000, 1000, 2000}
	out := make([]*x402.SettleResponse, len(amounts))
	var wg sync.WaitGroup
	for i, a := range amounts {
		wg.Go(func() { out[i] = e.settle(t, p, a) })
	}
	wg.Wait()
	var paid uint64
	var tx string
	for i, s := range out {
		if !s.Success {
			continue
		}
		if tx != "" && s.Transaction != tx {
			t.Errorf("two transactions: %s and %s", tx, s.Transaction)
		}
		tx, paid = s.Transaction, amounts[i]
	}
	if tx == "" {
		t.Fatalf("no settle succeeded: %+v", out)
	}
	for i, s := range out {
		if amounts[i] != paid && s.Success {
			t.Errorf("settle of %d succeeded as well as one of %d", amounts[i], paid)
		}
	}
	if d := new(big.Int).Sub(payer0, e.balance(t, e.payer.Address)); d.Uint64() != paid {
		t.Errorf("payer paid %s, want %d once", d, paid)
	}
}

// TestSettleSpecShape: the settle request of the spec's example, whose
// requirements carry only scheme, network, asset, payTo and the amount
// used (no maxTimeoutSeconds, no extra), settles.
func TestSettleSpecShape(t *testing.T) {
	e := newEnv(t)
	req := e.requirements(t, "0.02 TPD")
	p := e.pay(t, e.client, req)
	bare := x402.PaymentRequirements{Scheme: req.Scheme, Network: req.Network, Asset: req.Asset, PayTo: req.PayTo, Amount: x402.NewAmount(1858)}
	body, err := json.Marshal(x402.NewFacilitatorRequest(p, &bare))
	if err != nil {
		t.Fatal(err)
	}
	freq, err := x402.DecodeFacilitatorRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	payer0 := e.balance(t, e.payer.Address)
	s, err := e.fac.Settle(t.Context(), freq)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Success || s.Amount == nil || *s.Amount != x402.NewAmount(1858) {
		t.Fatalf("settle: %+v", s)
	}
	if d := new(big.Int).Sub(payer0, e.balance(t, e.payer.Address)); d.Int64() != 1858 {
		t.Errorf("payer paid %s, want 1858", d)
	}
}
