package batchsettlement_test

import (
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	bs "github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// TestFacilitatorClaimSettleRefund walks a channel through the
// server-authored payloads with the facilitator holding the receiver
// authorizer: claim (the facilitator signs the ClaimBatch), replayed claim
// (same answer, no second transaction), settle (the receiver is paid
// exactly), settle with nothing due, a partial refund and a full refund
// with an outstanding claim (the refund nonce advances each time).
func TestFacilitatorClaimSettleRefund(t *testing.T) {
	f := newFixture(t, true)
	ra := f.facRA.Address()
	req := f.requirements(ra, 10)
	cfg := f.fund(ra, 1000)

	// Claims and settles carry the requirements @x402/evm's channel
	// manager sends: amount 0, maxTimeoutSeconds 0, extra {}.
	mgr := x402.PaymentRequirements{Scheme: bs.Scheme, Network: req.Network, Amount: x402.NewAmount(0), Asset: req.Asset,
		PayTo: req.PayTo, MaxTimeoutSeconds: 0, Extra: x402.Object(`{}`)}
	claim := f.request(&bs.ClaimPayload{Claims: []bs.VoucherClaim{f.claim(cfg, 300, 300)}}, mgr)
	c := f.settle(claim)
	if !c.Success || c.Transaction == "" || c.Amount != nil {
		t.Fatalf("claim: %+v", c)
	}
	if _, claimed := f.channelOnChain(cfg); claimed != x402.NewAmount(300) {
		t.Fatalf("claimed %s, want 300", claimed)
	}
	if again := f.settle(claim); !again.Success || again.Transaction != c.Transaction {
		t.Fatalf("replayed claim: %+v (first %s)", again, c.Transaction)
	}
	// An unsigned claim of a channel that names another receiver
	// authorizer is not signed by the facilitator.
	foreign := f.fund(f.serverRA.Address(), 100)
	if c := f.settle(f.request(&bs.ClaimPayload{Claims: []bs.VoucherClaim{f.claim(foreign, 50, 50)}}, mgr)); c.Success || c.ErrorReason != x402.ReasonBatchAuthorizerAddressMismatch {
		t.Fatalf("claim of a channel with another authorizer: %+v", c)
	}
	if _, claimed := f.channelOnChain(foreign); !claimed.IsZero() {
		t.Fatalf("claimed %s", claimed)
	}

	sweep := f.request(&bs.SettlePayload{Receiver: f.receiver, Token: f.token.Address}, mgr)
	before := f.balanceOf(f.receiver)
	s := f.settle(sweep)
	if !s.Success || !amountIs(s.Amount, 300) {
		t.Fatalf("settle: %+v", s)
	}
	if d := new(big.Int).Sub(f.balanceOf(f.receiver), before); d.Int64() != 300 {
		t.Fatalf("receiver got %s, want 300", d)
	}
	t.Logf("settle gas: %d", f.gasUsed(s.Transaction))
	if s := f.settle(sweep); s.Success || s.ErrorReason != x402.ReasonBatchNothingToSettle || s.Transaction != "" {
		t.Fatalf("second settle: %+v", s)
	}

	// Partial refund: 200 of the 700 unclaimed.
	payerBefore := f.balanceOf(f.payer.Address())
	partial := f.refund(cfg, 300, 200, 0, nil)
	r := f.settle(f.request(partial, req))
	if !r.Success || !amountIs(r.Amount, 200) || r.Payer != f.payer.Address().Hex() {
		t.Fatalf("partial refund: %+v", r)
	}
	if st := channelState(t, r.Extra); st.Balance != x402.NewAmount(800) || st.RefundNonce != x402.NewAmount(1) || st.TotalClaimed != x402.NewAmount(300) {
		t.Fatalf("partial refund state %s", r.Extra)
	}
	if again := f.settle(f.request(partial, req)); again.Transaction != r.Transaction || !again.Success {
		t.Fatalf("replayed refund: %+v", again)
	}

	// Full refund with an outstanding voucher of 400: the claim goes
	// first, 400 goes back to the payer.
	full := f.refund(cfg, 400, 800, 1, []bs.VoucherClaim{f.claim(cfg, 400, 400)})
	r = f.settle(f.request(full, req))
	if !r.Success || !amountIs(r.Amount, 400) {
		t.Fatalf("full refund: %+v", r)
	}
	if st := channelState(t, r.Extra); st.Balance != x402.NewAmount(400) || st.RefundNonce != x402.NewAmount(2) || st.TotalClaimed != x402.NewAmount(400) {
		t.Fatalf("full refund state %s", r.Extra)
	}
	if d := new(big.Int).Sub(f.balanceOf(f.payer.Address()), payerBefore); d.Int64() != 600 {
		t.Fatalf("payer refunded %s, want 600", d)
	}
	// Nothing left to refund.
	if r := f.settle(f.request(f.refund(cfg, 400, 1, 2, nil), req)); r.Success || r.ErrorReason != x402.ReasonBatchRefundNoBalance {
		t.Fatalf("empty refund: %+v", r)
	}
	// A stale refund nonce is refused by the simulation.
	if r := f.settle(f.request(f.refund(cfg, 400, 1, 0, nil), req)); r.Success || r.Transaction != "" {
		t.Fatalf("stale refund nonce: %+v", r)
	}
}

// refund builds a completed refund of amount on cfg at nonce, the payer's
// zero-charge voucher at max, with claims and no signatures (the
// facilitator signs).
func (f *fixture) refund(cfg bs.ChannelConfig, max, amount, nonce uint64, claims []bs.VoucherClaim) *bs.RefundPayload {
	a, n := x402.NewAmount(amount), x402.NewAmount(nonce)
	if claims == nil {
		claims = []bs.VoucherClaim{}
	}
	return &bs.RefundPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, max), Amount: &a, RefundNonce: &n, Claims: claims}
}

// TestFacilitatorClaimServerSigned: without a receiver-authorizer key the
// facilitator relays claim batches the server signed, refuses unsigned
// ones, and a claim above its voucher or signed by the wrong key is
// refused by the simulation with nothing sent. It logs the gas of claim
// batches of 1, 10 and 30 channels (the sender's default gas cap,
// 1,000,000, bounds a batch to about 40).
func TestFacilitatorClaimServerSigned(t *testing.T) {
	f := newFixture(t, false)
	ra := f.serverRA.Address()
	req := f.requirements(ra, 10)
	cfg := f.fund(ra, 1000)

	rows := []bs.VoucherClaim{f.claim(cfg, 100, 100)}
	if c := f.settle(f.request(&bs.ClaimPayload{Claims: rows}, req)); c.Success || c.ErrorReason != x402.ReasonBatchAuthorizerNotConfigured {
		t.Fatalf("unsigned claim: %+v", c)
	}
	signed := func(rows []bs.VoucherClaim) *bs.ClaimPayload {
		sig, err := bs.SignClaimBatch(f.ctx, f.serverRA, f.chainID, rows)
		if err != nil {
			t.Fatal(err)
		}
		return &bs.ClaimPayload{Claims: rows, ClaimAuthorizerSignature: sig[:]}
	}
	over := []bs.VoucherClaim{f.claim(cfg, 100, 101)}
	if c := f.settle(f.request(signed(over), req)); c.Success || c.ErrorReason != x402.ReasonBatchClaimSimulationFailed || c.Transaction != "" {
		t.Fatalf("claim above its voucher: %+v", c)
	}
	wrong, err := bs.SignClaimBatch(f.ctx, f.payer, f.chainID, rows)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.settle(f.request(&bs.ClaimPayload{Claims: rows, ClaimAuthorizerSignature: wrong[:]}, req)); c.Success || c.ErrorReason != x402.ReasonBatchClaimSimulationFailed {
		t.Fatalf("claim signed by the wrong key: %+v", c)
	}
	if _, claimed := f.channelOnChain(cfg); !claimed.IsZero() {
		t.Fatalf("claimed %s after refused claims", claimed)
	}
	if c := f.settle(f.request(signed(rows), req)); !c.Success {
		t.Fatalf("signed claim: %+v", c)
	}
	if _, claimed := f.channelOnChain(cfg); claimed != x402.NewAmount(100) {
		t.Fatalf("claimed %s, want 100", claimed)
	}

	// Gas per claim batch.
	for _, n := range []int{1, 10, 30} {
		rows := make([]bs.VoucherClaim, n)
		for i, ch := range f.fundMany(ra, 100, n) {
			rows[i] = f.claim(ch, 50, 50)
		}
		c := f.settle(f.request(signed(rows), req))
		if !c.Success {
			t.Fatalf("claim of %d: %+v", n, c)
		}
		gas := f.gasUsed(c.Transaction)
		t.Logf("claimWithSignature of %d channels: %d gas, %d per claim", n, gas, gas/uint64(n))
	}
}

// fundMany deposits amount into n new channels at once (concurrent
// settles through the facilitator).
func (f *fixture) fundMany(ra common.Address, amount uint64, n int) []bs.ChannelConfig {
	f.t.Helper()
	cfgs := make([]bs.ChannelConfig, n)
	reqs := make([]*x402.FacilitatorRequest, n)
	for i := range cfgs {
		cfgs[i] = f.channel(ra)
		reqs[i] = f.request(f.deposit(cfgs[i], amount, 1), f.requirements(ra, 1))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			resp, err := f.fac.Settle(f.ctx, reqs[i])
			if err == nil && !resp.Success {
				err = fmt.Errorf("deposit %d: %s %s", i, resp.ErrorReason, resp.ErrorMessage)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.t.Fatal(err)
	}
	return cfgs
}
