package batchsettlement_test

import (
	"math/big"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	bs "github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// TestFacilitatorSupported: /supported lists batch-settlement for x402 v2
// with the facilitator's receiverAuthorizer in extra, as @x402/evm does,
// and nothing in extra when it holds no receiver-authorizer key.
func TestFacilitatorSupported(t *testing.T) {
	for _, delegated := range []bool{true, false} {
		f := newFixture(t, delegated)
		sup, err := f.fac.Supported(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var kind *x402.SupportedKind
		for i := range sup.Kinds {
			if sup.Kinds[i].Scheme == bs.Scheme {
				if kind != nil || sup.Kinds[i].X402Version != x402.V2 {
					t.Fatalf("kinds %+v", sup.Kinds)
				}
				kind = &sup.Kinds[i]
			}
		}
		if kind == nil || kind.Network != x402.Network(f.st.Devnet.Network()) {
			t.Fatalf("no batch-settlement kind in %+v", sup.Kinds)
		}
		if !delegated {
			if !kind.Extra.IsNull() {
				t.Fatalf("extra %s without a receiver-authorizer key", kind.Extra)
			}
			continue
		}
		var extra struct{ ReceiverAuthorizer string }
		if err := kind.Extra.Decode(&extra); err != nil || common.HexToAddress(extra.ReceiverAuthorizer) != f.facRA.Address() {
			t.Fatalf("extra %s: %v", kind.Extra, err)
		}
		if len(sup.Signers["eip155:*"]) != 1 || sup.Signers["eip155:*"][0] != f.st.Signer.Address.Hex() {
			t.Fatalf("signers %v", sup.Signers)
		}
	}
}

// TestFacilitatorDeposit: a deposit verifies against the mined channel
// (balance 0 before it), settles once (balances move, the channel is
// created), and a replay gets the same answer without a second
// transaction; vouchers on the funded channel then verify.
func TestFacilitatorDeposit(t *testing.T) {
	f := newFixture(t, false)
	ra := f.serverRA.Address()
	req := f.requirements(ra, 10)
	cfg := f.channel(ra)
	dep := f.request(f.deposit(cfg, 1000, 10), req)

	v := f.verify(dep)
	if !v.IsValid || v.Payer != f.payer.Address().Hex() {
		t.Fatalf("verify: %+v", v)
	}
	if st := verifyState(t, v.Extra); st.ChannelID != f.id(cfg) || !st.Balance.IsZero() || !st.HasRefundNonce || !st.HasWithdrawRequestedAt || st.HasCharged {
		t.Fatalf("verify extra %s", v.Extra)
	}
	payerBefore, escrowBefore := f.balanceOf(f.payer.Address()), f.balanceOf(bs.SettlementContract())
	s := f.settle(dep)
	if !s.Success || s.Transaction == "" || !amountIs(s.Amount, 1000) || s.Payer != f.payer.Address().Hex() {
		t.Fatalf("settle: %+v", s)
	}
	if st := channelState(t, s.Extra); st.Balance != x402.NewAmount(1000) || !st.TotalClaimed.IsZero() || st.ChannelID != f.id(cfg) {
		t.Fatalf("settle extra %s", s.Extra)
	}
	t.Logf("deposit gas: %d", f.gasUsed(s.Transaction))
	moved := func() {
		t.Helper()
		if d := new(big.Int).Sub(payerBefore, f.balanceOf(f.payer.Address())); d.Int64() != 1000 {
			t.Fatalf("payer paid %s, want 1000", d)
		}
		if d := new(big.Int).Sub(f.balanceOf(bs.SettlementContract()), escrowBefore); d.Int64() != 1000 {
			t.Fatalf("escrow got %s, want 1000", d)
		}
	}
	moved()

	// Replayed: the same answer, no second transaction.
	again := f.settle(dep)
	if !again.Success || again.Transaction != s.Transaction {
		t.Fatalf("replayed settle: %+v (first %s)", again, s.Transaction)
	}
	moved()
	if v := f.verify(dep); v.IsValid || v.InvalidReason != x402.ReasonDuplicateSettlement {
		t.Fatalf("verify of a settled deposit: %+v", v)
	}

	// Vouchers on the funded channel.
	vo := f.request(&bs.VoucherPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, 20)}, req)
	if v := f.verify(vo); !v.IsValid || verifyState(t, v.Extra).Balance != x402.NewAmount(1000) {
		t.Fatalf("voucher verify: %+v %s", v, v.Extra)
	}
	// A top-up of the same channel with a new authorization.
	top := f.request(f.deposit(cfg, 500, 30), req)
	if s := f.settle(top); !s.Success || channelState(t, s.Extra).Balance != x402.NewAmount(1500) {
		t.Fatalf("top-up: %+v %s", s, s.Extra)
	}
}

// TestFacilitatorHostile: hostile payloads get a typed reason and nothing
// moves.
func TestFacilitatorHostile(t *testing.T) {
	f := newFixture(t, true)
	ra := f.serverRA.Address()
	req := f.requirements(ra, 10)
	funded := f.fund(ra, 1000)
	otherPayer := mustSigner(t, f.st.Accounts[4])

	badSig := f.deposit(f.channel(ra), 1000, 10)
	badSig.Deposit.Authorization.ERC3009Authorization.Signature[5] ^= 0xff
	wrongChannel := f.deposit(f.channel(ra), 1000, 10)
	wrongChannel.Voucher.ChannelID = f.id(funded)
	otherRA := f.deposit(f.channel(f.facRA.Address()), 1000, 10)
	tooRich := f.deposit(f.channel(ra), 1<<60, 10)
	overdraw := f.deposit(f.channel(ra), 100, 101)
	byOther, err := bs.SignVoucher(f.ctx, otherPayer, f.chainID, f.id(funded), x402.NewAmount(20))
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := f.request(&bs.VoucherPayload{ChannelConfig: funded, Voucher: byOther}, req)
	unfunded := f.channel(ra)
	cases := []struct {
		name   string
		req    *x402.FacilitatorRequest
		reason x402.Reason
		settle bool
	}{
		{"deposit with a bad ERC-3009 signature", f.request(badSig, req), x402.ReasonBatchReceiveAuthSignature, true},
		{"wrong channelId", f.request(wrongChannel, req), x402.ReasonBatchChannelIDMismatch, true},
		{"wrong receiverAuthorizer", f.request(otherRA, req), x402.ReasonBatchReceiverAuthorizerMismatch, true},
		{"deposit beyond the payer's balance", f.request(tooRich, req), x402.ReasonBatchInsufficientBalance, true},
		{"voucher above balance + deposit", f.request(overdraw, req), x402.ReasonBatchCumulativeExceedsBalance, true},
		{"voucher by the wrong key", wrongKey, x402.ReasonBatchVoucherSignature, false},
		{"voucher above the channel balance", f.request(&bs.VoucherPayload{ChannelConfig: funded, Voucher: f.voucher(funded, 1001)}, req), x402.ReasonBatchCumulativeExceedsBalance, false},
		{"voucher on an unfunded channel", f.request(&bs.VoucherPayload{ChannelConfig: unfunded, Voucher: f.voucher(unfunded, 1)}, req), x402.ReasonBatchChannelNotFound, false},
		{"requirements for another network", func() *x402.FacilitatorRequest {
			other := req
			other.Network = "eip155:1"
			r := f.request(&bs.VoucherPayload{ChannelConfig: funded, Voucher: f.voucher(funded, 20)}, req)
			r.Requirements = &other
			return r
		}(), x402.ReasonBatchNetworkMismatch, false},
	}
	escrow := f.balanceOf(bs.SettlementContract())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v := f.verify(c.req); v.IsValid || v.InvalidReason != c.reason {
				t.Fatalf("verify: %+v, want %s", v, c.reason)
			}
			if !c.settle {
				return
			}
			if s := f.settle(c.req); s.Success || s.ErrorReason != c.reason || s.Transaction != "" {
				t.Fatalf("settle: %+v, want %s", s, c.reason)
			}
		})
	}
	if got := f.balanceOf(bs.SettlementContract()); got.Cmp(escrow) != 0 {
		t.Fatalf("escrow moved from %s to %s", escrow, got)
	}

	// The same authorization presented again with other content (another
	// voucher) is refused; it deposits nothing more.
	dep := f.deposit(f.channel(ra), 100, 5)
	if s := f.settle(f.request(dep, req)); !s.Success {
		t.Fatalf("deposit: %+v", s)
	}
	escrow = f.balanceOf(bs.SettlementContract())
	reused := *dep
	reused.Voucher = f.voucher(dep.ChannelConfig, 6)
	if s := f.settle(f.request(&reused, req)); s.Success || s.ErrorReason != x402.ReasonDuplicateSettlement {
		t.Fatalf("reused authorization: %+v", s)
	}
	if got := f.balanceOf(bs.SettlementContract()); got.Cmp(escrow) != 0 {
		t.Fatalf("escrow moved from %s to %s", escrow, got)
	}
}

// TestFacilitatorConcurrentDeposit: the same deposit settled by 8
// concurrent requests is sent once; every request gets its transaction.
func TestFacilitatorConcurrentDeposit(t *testing.T) {
	f := newFixture(t, false)
	ra := f.serverRA.Address()
	dep := f.request(f.deposit(f.channel(ra), 250, 10), f.requirements(ra, 10))
	escrow := f.balanceOf(bs.SettlementContract())
	const n = 8
	answers := make([]*x402.SettleResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i], errs[i] = f.fac.Settle(f.ctx, dep) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !answers[i].Success || answers[i].Transaction != answers[0].Transaction {
			t.Fatalf("settle %d: %+v %v (first %+v)", i, answers[i], errs[i], answers[0])
		}
	}
	if d := new(big.Int).Sub(f.balanceOf(bs.SettlementContract()), escrow); d.Int64() != 250 {
		t.Fatalf("escrow got %s, want 250 once", d)
	}
}
