package channelserver_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// escrowFacilitator verifies and settles deposits and refunds the way the
// facilitator does as far as signatures go (the deposit authorization, the
// refund and claim-batch signatures of the receiver authorizer), keeping
// the channels' balances in memory in place of the contract. (Deposits
// and refunds on chain are tested with the devnet facilitator.)
type escrowFacilitator struct {
	noFacilitator
	token      evm.Domain
	authorizer common.Address

	mu      sync.Mutex
	balance map[common.Hash]x402.Amount
	settles int
}

func (f *escrowFacilitator) state(id common.Hash) x402.Object {
	st := batchsettlement.NewChannelState(id, f.balance[id], x402.Amount{}, 0, x402.Amount{}, x402.Amount{})
	st.HasCharged = false
	o, _ := x402.NewObject(map[string]any{"channelState": st})
	return o
}

func (f *escrowFacilitator) Verify(_ context.Context, r *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pl, err := batchsettlement.ParsePayload(r.Payload.Payload)
	if err != nil {
		return nil, err
	}
	cp := pl.(batchsettlement.ChannelPayload)
	id := cp.SignedVoucher().ChannelID
	if d, ok := pl.(*batchsettlement.DepositPayload); ok {
		if err := batchsettlement.VerifyERC3009Deposit(f.token, d, id); err != nil {
			return &x402.VerifyResponse{InvalidReason: x402.ReasonBatchReceiveAuthSignature, InvalidMessage: err.Error()}, nil
		}
	}
	return &x402.VerifyResponse{IsValid: true, Payer: cp.Channel().Payer.Hex(), Extra: f.state(id)}, nil
}

func (f *escrowFacilitator) Settle(_ context.Context, r *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settles++
	pl, err := batchsettlement.ParsePayload(r.Payload.Payload)
	if err != nil {
		return nil, err
	}
	ok := &x402.SettleResponse{Success: true, Network: r.Requirements.Network, Transaction: fmt.Sprintf("0x%064x", f.settles)}
	switch p := pl.(type) {
	case *batchsettlement.DepositPayload:
		id := p.Voucher.ChannelID
		f.balance[id], _ = f.balance[id].Add(p.Deposit.Amount)
		ok.Extra = f.state(id)
		return ok, nil
	case *batchsettlement.RefundPayload:
		if !p.Completed() {
			return nil, fmt.Errorf("refund payload not completed by the server")
		}
		id := p.Voucher.ChannelID
		sep := batchsettlement.DomainSeparator(f.token.ChainID)
		for _, check := range []struct {
			digest common.Hash
			sig    []byte
		}{
			{batchsettlement.RefundDigest(sep, id, *p.RefundNonce, *p.Amount), p.RefundAuthorizerSignature},
			{batchsettlement.ClaimBatchDigest(sep, batchsettlement.ClaimEntries(sep, p.Claims)), p.ClaimAuthorizerSignature},
		} {
			sig, err := evm.SignatureFromBytes(check.sig)
			if err != nil {
				return nil, err
			}
			if got, err := evm.RecoverSigner(check.digest, sig); err != nil || got != f.authorizer {
				return &x402.SettleResponse{Network: r.Requirements.Network, ErrorReason: x402.ReasonBatchRefundPayload}, nil
			}
		}
		f.balance[id], _ = f.balance[id].Sub(*p.Amount)
		ok.Extra = f.state(id)
		return ok, nil
	}
	return nil, fmt.Errorf("unexpected %s", pl.Type())
}

func newEscrowWorld(t *testing.T) (*world, *escrowFacilitator) {
	auth := newKey(t)
	fac := &escrowFacilitator{token: evm.Domain{Name: "USDC", Version: "2", ChainID: 84532, VerifyingContract: usdc},
		authorizer: auth.Address(), balance: map[common.Hash]x402.Amount{}}
	return newWorld(t, worldOptions{auth: auth, fac: fac}), fac
}

// newPayer is a payer whose channel is not open yet.
func (w *world) newPayer() *payer {
	p := &payer{key: newKey(w.t)}
	p.config = batchsettlement.ChannelConfig{
		Payer: p.key.Address(), PayerAuthorizer: p.key.Address(), Receiver: w.receiver,
		ReceiverAuthorizer: w.authorizer.Address(), Token: usdc, WithdrawDelay: batchsettlement.DefaultWithdrawDelay,
		Salt: common.HexToHash("0x01"),
	}
	p.id = batchsettlement.ChannelID(p.config, 84532)
	return p
}

// depositHeader pays the first request with a deposit of amount.
func (w *world) depositHeader(p *payer, token evm.Domain, amount x402.Amount) string {
	w.t.Helper()
	ctx := context.Background()
	vo, err := batchsettlement.SignVoucher(ctx, p.key, 84532, p.id, price)
	if err != nil {
		w.t.Fatal(err)
	}
	auth, err := batchsettlement.SignERC3009Deposit(ctx, p.key, token, p.config, batchsettlement.DepositTerms{
		Amount: amount, ValidBefore: uint64(time.Now().Add(time.Hour).Unix()), Salt: common.HexToHash("0x02")})
	if err != nil {
		w.t.Fatal(err)
	}
	obj, err := batchsettlement.Object(&batchsettlement.DepositPayload{ChannelConfig: p.config, Voucher: vo,
		Deposit: batchsettlement.Deposit{Amount: amount, Authorization: batchsettlement.DepositAuthorization{ERC3009Authorization: auth}}})
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: w.req, Payload: obj})
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

// A deposit opens the channel and pays the first request; the answer
// carries the deposit's transaction; vouchers follow, verified locally.
// A cooperative refund returns the unspent balance without running the
// handler.
func TestDepositVouchersRefund(t *testing.T) {
	w, fac := newEscrowWorld(t)
	p := w.newPayer()
	r, err := w.pay(http.DefaultClient, w.depositHeader(p, fac.token, times(10)))
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || r.settle == nil || !r.settle.Success || r.settle.Transaction == "" {
		t.Fatalf("deposit: %d %q %+v", r.status, r.body, r.settle)
	}
	if e := responseExtra(t, r.settle); e.ChargedAmount == nil || *e.ChargedAmount != price || e.ChannelState.ChargedCumulativeAmount != times(1) || e.ChannelState.Balance != times(10) {
		t.Fatalf("deposit response extra %+v", e)
	}
	settles := fac.settles
	w.payN(p, 2, 4)
	if fac.settles != settles {
		t.Fatalf("vouchers reached the facilitator's settle")
	}
	// A refund voucher signs exactly the charged total.
	vo, err := batchsettlement.SignVoucher(context.Background(), p.key, 84532, p.id, times(4))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := batchsettlement.Object(&batchsettlement.RefundPayload{ChannelConfig: p.config, Voucher: vo})
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: w.req, Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	served := w.served.Load()
	r, err = w.pay(http.DefaultClient, h)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || r.settle == nil || !r.settle.Success || w.served.Load() != served {
		t.Fatalf("refund: %d %q %+v (handler ran: %v)", r.status, r.body, r.settle, w.served.Load() != served)
	}
	if e := responseExtra(t, r.settle); e.ChannelState == nil || e.ChannelState.ChargedCumulativeAmount != times(4) {
		t.Fatalf("refund response extra %+v", e)
	}
	if got := fac.balance[p.id]; got != times(4) {
		t.Fatalf("escrow balance after the refund %s, want %s (what was charged)", got, times(4))
	}
	ch, err := w.store.Get(context.Background(), hexutil.Encode(p.id[:]))
	if err != nil || ch.Onchain.Balance != times(4) {
		t.Fatalf("channel after the refund: %+v %v", ch.Onchain, err)
	}
}

// A deposit whose authorization is not the payer's is refused, and opens
// nothing.
func TestDepositBadAuthorization(t *testing.T) {
	w, fac := newEscrowWorld(t)
	p := w.newPayer()
	wrongToken := fac.token
	wrongToken.Name = "Not USDC"
	r, err := w.pay(http.DefaultClient, w.depositHeader(p, wrongToken, times(10)))
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusPaymentRequired || w.served.Load() != 0 {
		t.Fatalf("bad deposit: %d %q", r.status, r.body)
	}
	if _, err := w.store.Get(context.Background(), hexutil.Encode(p.id[:])); err == nil {
		t.Fatal("a refused deposit opened the channel")
	}
}
