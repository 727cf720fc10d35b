package batchsettlement_test

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/go402/go402/evm"
	bs "github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

const initiateWithdrawABI = `[{"type":"function","name":"initiateWithdraw","stateMutability":"nonpayable","outputs":[],"inputs":[
{"name":"config","type":"tuple","components":[{"name":"payer","type":"address"},{"name":"payerAuthorizer","type":"address"},{"name":"receiver","type":"address"},{"name":"receiverAuthorizer","type":"address"},{"name":"token","type":"address"},{"name":"withdrawDelay","type":"uint40"},{"name":"salt","type":"bytes32"}]},
{"name":"amount","type":"uint128"}]}]`

// TestFacilitatorWithdrawRequested: once the payer requests a withdrawal,
// a voucher's verify reports when (extra.withdrawRequestedAt), and a
// cooperative refund (after claiming the last voucher) returns the
// unclaimed balance; the request stays for what the refund did not cover,
// and the refund's answer says so.
func TestFacilitatorWithdrawRequested(t *testing.T) {
	f := newFixture(t, true)
	ra := f.facRA.Address()
	req := f.requirements(ra, 10)
	cfg := f.fund(ra, 500)

	a, err := abi.JSON(strings.NewReader(initiateWithdrawABI))
	if err != nil {
		t.Fatal(err)
	}
	type config struct {
		Payer, PayerAuthorizer, Receiver, ReceiverAuthorizer, Token [20]byte
		WithdrawDelay                                               *big.Int
		Salt                                                        [32]byte
	}
	data, err := a.Pack("initiateWithdraw", config{cfg.Payer, cfg.PayerAuthorizer, cfg.Receiver, cfg.ReceiverAuthorizer, cfg.Token,
		new(big.Int).SetUint64(cfg.WithdrawDelay), cfg.Salt}, big.NewInt(500))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := evm.NewSender(f.ctx, evm.SenderConfig{Backend: f.client, Key: f.st.Accounts[0].PrivateKey, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sender.Send(f.ctx, bs.SettlementContract(), data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sender.WaitReceipt(f.ctx, tx.Hash()); err != nil {
		t.Fatal(err)
	}

	v := f.verify(f.request(&bs.VoucherPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, 20)}, req))
	requested := verifyState(t, v.Extra).WithdrawRequestedAt
	if !v.IsValid || requested == 0 {
		t.Fatalf("verify after the withdrawal request: %+v %s", v, v.Extra)
	}
	r := f.settle(f.request(f.refund(cfg, 20, 500, 0, []bs.VoucherClaim{f.claim(cfg, 20, 20)}), req))
	if !r.Success || !amountIs(r.Amount, 480) {
		t.Fatalf("refund: %+v", r)
	}
	st := channelState(t, r.Extra)
	if st.WithdrawRequestedAt != requested || st.Balance != x402.NewAmount(20) || st.TotalClaimed != x402.NewAmount(20) || st.RefundNonce != x402.NewAmount(1) {
		t.Fatalf("state after the refund: %s", r.Extra)
	}
}
