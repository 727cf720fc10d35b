package client_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// channelPeer is a batch-settlement resource server on loopback, written
// for these tests from the scheme's rules: it answers 402 with the
// requirements batchsettlement.Server builds, verifies vouchers with
// batchsettlement.ChannelVerifier and deposit authorizations offline, keeps
// each channel's charged total in memory and answers a voucher for the wrong
// cumulative with a corrective 402 carrying channelState and voucherState,
// as @x402/evm's server does. The chain is not involved: a deposit counts
// when its authorization verifies. Its hooks make it hostile.
type channelPeer struct {
	t    *testing.T
	srv  *httptest.Server
	req  x402.PaymentRequirements
	mu   sync.Mutex
	chs  map[common.Hash]*peerChannel
	paid int

	// tamper, if set, edits the PAYMENT-RESPONSE extra of a paid call.
	tamper func(ex *batchsettlement.ResponseExtra)
	// forge, if set, edits the voucherState of a corrective 402.
	forge func(vs *batchsettlement.VoucherState)
	// amount, if set, is the PAYMENT-RESPONSE "amount" of a paid call.
	amount string
}

type peerChannel struct {
	charged, balance, signed x402.Amount
	sig                      []byte
	refunded                 bool
}

var (
	peerPayTo      = common.HexToAddress("0x00000000000000000000000000000000000Beef1")
	peerAuthorizer = common.HexToAddress("0x00000000000000000000000000000000000A0710")
)

func newChannelPeer(t *testing.T, price string) *channelPeer {
	t.Helper()
	s := &batchsettlement.Server{ReceiverAuthorizer: peerAuthorizer}
	p, err := x402.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	req, err := s.Requirements("eip155:84532", p, peerPayTo.Hex(), 60)
	if err != nil {
		t.Fatal(err)
	}
	cp := &channelPeer{t: t, req: req, chs: map[common.Hash]*peerChannel{}}
	cp.srv = httptest.NewServer(http.HandlerFunc(cp.serve))
	t.Cleanup(cp.srv.Close)
	return cp
}

func (cp *channelPeer) url() string { return cp.srv.URL + "/data" }

// channel returns a copy of the peer's state of a channel.
func (cp *channelPeer) channel(id common.Hash) peerChannel {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if c := cp.chs[id]; c != nil {
		return *c
	}
	return peerChannel{}
}

func (cp *channelPeer) required(w http.ResponseWriter, reason string, req x402.PaymentRequirements) {
	pr := &x402.PaymentRequired{X402Version: x402.V2, Error: reason, Resource: x402.ResourceInfo{URL: cp.url()}, Accepts: []x402.PaymentRequirements{req}}
	h, err := x402.EncodePaymentRequired(pr)
	if err != nil {
		cp.t.Error(err)
	}
	w.Header().Set(x402.HeaderPaymentRequired, h)
	w.WriteHeader(http.StatusPaymentRequired)
}

func (cp *channelPeer) serve(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get(x402.HeaderPaymentSignature)
	if h == "" {
		cp.required(w, "payment required", cp.req)
		return
	}
	pp, err := x402.DecodePaymentSignature(h)
	if err != nil {
		cp.required(w, string(x402.ReasonInvalidPayload), cp.req)
		return
	}
	pl, err := batchsettlement.ParseChannelPayload(pp.Payload)
	if err != nil {
		cp.required(w, string(x402.ReasonInvalidPayload), cp.req)
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	v := batchsettlement.NewChannelVerifier(*pl.Channel(), 84532)
	if err := v.CheckRequirements(&cp.req, mustExtra(cp.t, cp.req)); err != nil {
		cp.required(w, string(x402.ReasonInvalidPayload), cp.req)
		return
	}
	id := v.ChannelID()
	c := cp.chs[id]
	if c == nil {
		c = &peerChannel{}
		cp.chs[id] = c
	}
	balance := c.balance
	if dp, ok := pl.(*batchsettlement.DepositPayload); ok {
		tok := evm.Domain{Name: "USDC", Version: "2", ChainID: 84532, VerifyingContract: common.HexToAddress(cp.req.Asset)}
		if err := batchsettlement.VerifyERC3009Deposit(tok, dp, id); err != nil {
			cp.required(w, string(x402.ReasonBatchReceiveAuthSignature), cp.req)
			return
		}
		balance, _ = balance.Add(dp.Deposit.Amount)
	}
	_, refund := pl.(*batchsettlement.RefundPayload)
	price := cp.req.Amount
	if refund {
		price = x402.Amount{}
	}
	vo := pl.SignedVoucher()
	err = v.Verify(vo, &batchsettlement.Expectation{Charged: c.charged, Price: price, Balance: balance, Refund: refund})
	var xe *x402.Error
	if errors.As(err, &xe) && xe.Reason == x402.ReasonBatchCumulativeAmountMismatch {
		cp.corrective(w, id, c)
		return
	}
	if err != nil {
		cp.required(w, string(x402.ReasonInvalidPayload), cp.req)
		return
	}
	c.balance, c.signed, c.sig = balance, vo.MaxClaimableAmount, vo.Signature
	ex := batchsettlement.ResponseExtra{}
	if refund {
		c.refunded, c.balance = true, c.charged
	} else {
		c.charged = vo.MaxClaimableAmount
		cp.paid++
		ex.ChargedAmount = &price
	}
	st := batchsettlement.NewChannelState(id, c.balance, x402.Amount{}, 0, x402.Amount{}, c.charged)
	ex.ChannelState = &st
	if cp.tamper != nil && !refund {
		cp.tamper(&ex)
	}
	// As @x402/evm's server answers a deposit: "amount" is the deposit.
	amount := ""
	if dp, ok := pl.(*batchsettlement.DepositPayload); ok {
		amount = dp.Deposit.Amount.String()
	}
	if cp.amount != "" && !refund {
		amount = cp.amount
	}
	cp.settled(w, ex, amount)
}

func (cp *channelPeer) settled(w http.ResponseWriter, ex batchsettlement.ResponseExtra, amount string) {
	obj, err := x402.NewObject(ex)
	if err != nil {
		cp.t.Error(err)
	}
	// As @x402/evm's server answers a voucher: no transaction, "amount":"".
	data, err := json.Marshal(map[string]any{"success": true, "payer": "", "transaction": "", "network": cp.req.Network, "amount": amount, "extra": obj})
	if err != nil {
		cp.t.Error(err)
	}
	w.Header().Set(x402.HeaderPaymentResponse, base64.StdEncoding.EncodeToString(data))
	_, _ = w.Write([]byte("paid content"))
}

// corrective answers a voucher for the wrong cumulative amount.
func (cp *channelPeer) corrective(w http.ResponseWriter, id common.Hash, c *peerChannel) {
	ex := mustExtra(cp.t, cp.req)
	st := batchsettlement.NewChannelState(id, c.balance, x402.Amount{}, 0, x402.Amount{}, c.charged)
	vs := batchsettlement.VoucherState{SignedMaxClaimable: c.signed, Signature: c.sig}
	if cp.forge != nil {
		cp.forge(&vs)
	}
	ex.ChannelState, ex.VoucherState = &st, &vs
	req := cp.req
	obj, err := ex.Object()
	if err != nil {
		cp.t.Error(err)
	}
	req.Extra = obj
	cp.required(w, string(x402.ReasonBatchCumulativeAmountMismatch), req)
}

func mustExtra(t *testing.T, req x402.PaymentRequirements) *batchsettlement.RequirementsExtra {
	ex, err := batchsettlement.ParseRequirementsExtra(req.Extra)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}
