package channelserver_test

import (
	"context"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/client"
	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// A payer asks to withdraw its channel while the server is serving calls
// on it, end to end on the devnet: the go402 client deposits and pays
// vouchers to an x402http route served by channelserver (SQLite, the
// server's own receiver-authorizer key), the go402 facilitator over HTTP
// submits every transaction. The payer's initiateWithdraw (for all it has
// not had claimed) is a real transaction; the claimer, reading the chain
// through ChainState, claims and settles the outstanding vouchers long
// before the delay ends (its idle rule alone would not claim for an hour).
// Within WithdrawMargin of the withdrawal's end, a voucher is refused with
// a 402 and nothing is charged. After the delay, finalizeWithdraw returns
// exactly deposit − charged: the payer's loss is the payee's gain.
func TestWithdrawWhileServingOnDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet")
	}
	ctx := t.Context()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 4, RPCAddr: "127.0.0.1:0"}, Signer: 3})
	payerAcct, receiver := st.Accounts[0], st.Accounts[1].Address
	auth, err := evm.NewPrivateKeySignerFromECDSA(st.Accounts[2].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	fac, err := remote.New(remote.Config{URL: st.FacilitatorURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "channels.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	// The server's clock is the wall clock plus what the test advanced the
	// chain by, so that both see the withdrawal's end coming together.
	var shift atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	scheme := &batchsettlement.Server{ReceiverAuthorizer: auth.Address(), Networks: st.Networks}
	cs, err := channelserver.New(channelserver.Config{Scheme: scheme, Store: store, Facilitator: fac, Authorizer: auth, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	reg := &x402.Registry[x402.SchemeServer]{}
	if err := reg.Register(x402.V2, batchsettlement.Scheme, st.Network, cs); err != nil {
		t.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{Facilitator: fac, Schemes: reg, Routes: []x402http.Route{{
		Pattern: "GET /paid",
		Accepts: []x402http.PaymentOption{{Scheme: batchsettlement.Scheme, Network: st.Network, Price: "$0.001", PayTo: receiver.Hex()}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		_, _ = io.WriteString(w, "paid content")
	})))
	t.Cleanup(srv.Close)
	url := srv.URL + "/paid"

	claimCtx, stopClaims := context.WithCancel(ctx)
	claimsDone := make(chan error, 1)
	go func() {
		claimsDone <- cs.RunClaims(claimCtx, channelserver.ClaimConfig{
			Chain:    &channelserver.ChainState{Caller: st.Devnet.Client(), Network: st.Network, Now: now},
			Interval: 200 * time.Millisecond, Idle: time.Hour,
		})
	}()
	t.Cleanup(func() {
		stopClaims()
		if err := <-claimsDone; err != nil {
			t.Errorf("shutdown claim: %v", err)
		}
	})

	payerStart := tokenBalance(t, st.Devnet, payerAcct.Address)
	payeeStart := tokenBalance(t, st.Devnet, receiver)
	payer, c := newChannelClient(t, st, payerAcct)
	const calls = 5
	for i := range calls {
		if code := getStatus(t, c, url); code != http.StatusOK {
			t.Fatalf("call %d: status %d", i, code)
		}
	}
	recs, err := payer.Store().List(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("payer records %v %v", recs, err)
	}
	rec := recs[0]
	deposit, charged := rec.Balance, rec.Charged
	if charged != x402.NewAmount(calls*1000) || deposit.Cmp(charged) <= 0 {
		t.Fatalf("before the withdrawal: deposit %s, charged %s", deposit, charged)
	}
	bal, claimed := readChannel(t, st, rec.ChannelID)
	if bal != deposit || !claimed.IsZero() {
		t.Fatalf("channels() before the withdrawal = (%s, %s), deposit %s", bal, claimed, deposit)
	}

	// The payer asks for everything not claimed yet; calls go on meanwhile.
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: st.Devnet.Client(), Key: payerAcct.PrivateKey, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sendAs(t, sender, "initiateWithdraw", abiConfig(rec.Config), mustSub(t, bal, claimed).Big())
	requestedAt := pendingWithdrawal(t, st, rec.ChannelID)
	if requestedAt == 0 {
		t.Fatal("no pending withdrawal after initiateWithdraw")
	}
	if code := getStatus(t, c, url); code != http.StatusOK {
		t.Fatalf("a call right after the withdrawal request: status %d", code)
	}
	charged = mustAdd(t, charged, x402.NewAmount(1000))

	// The claimer claims and settles before the delay ends (the chain's
	// clock has not moved past requestedAt + 900 s).
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, claimed = readChannel(t, st, rec.ChannelID)
		if claimed == charged && tokenBalance(t, st.Devnet, receiver).Cmp(new(big.Int).Add(payeeStart, charged.Big())) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the claimer did not claim the withdrawing channel: totalClaimed %s, charged %s", claimed, charged)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if head := headTime(t, st); head >= requestedAt+uint64(rec.Config.WithdrawDelay) {
		t.Fatalf("claimed only at %d, after the withdrawal became final at %d", head, requestedAt+rec.Config.WithdrawDelay)
	}

	// 11 minutes later the withdrawal is final in about 4 minutes, within
	// WithdrawMargin: a voucher for charged + price is refused, nothing is
	// charged.
	if err := st.Devnet.AdvanceTime(660 * time.Second); err != nil {
		t.Fatal(err)
	}
	shift.Store(int64(660 * time.Second))
	before := served.Load()
	resp := payRaw(t, st, url, rec, mustAdd(t, charged, x402.NewAmount(1000)))
	if resp.StatusCode != http.StatusPaymentRequired || served.Load() != before {
		t.Fatalf("a voucher near the withdrawal's end: status %d, served %d→%d", resp.StatusCode, before, served.Load())
	}
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil || pr.Error != string(x402.ReasonBatchChannelBusy) {
		t.Fatalf("402 %+v %v", pr, err)
	}
	ch, err := store.Get(ctx, hexutil.Encode(rec.ChannelID[:]))
	if err != nil || ch.Charged != charged {
		t.Fatalf("server charged %s after the refusal (want %s): %v", ch.Charged, charged, err)
	}

	// Past the delay the payer takes back exactly deposit − charged.
	if err := st.Devnet.AdvanceTime(250 * time.Second); err != nil {
		t.Fatal(err)
	}
	shift.Store(int64(910 * time.Second))
	sendAs(t, sender, "finalizeWithdraw", abiConfig(rec.Config))
	payerEnd := tokenBalance(t, st.Devnet, payerAcct.Address)
	payeeGain := new(big.Int).Sub(tokenBalance(t, st.Devnet, receiver), payeeStart)
	payerLoss := new(big.Int).Sub(payerStart, payerEnd)
	if payeeGain.Cmp(charged.Big()) != 0 || payerLoss.Cmp(charged.Big()) != 0 {
		t.Fatalf("payer lost %s, payee gained %s, charged %s", payerLoss, payeeGain, charged)
	}
	bal, claimed = readChannel(t, st, rec.ChannelID)
	if bal != charged || claimed != charged || pendingWithdrawal(t, st, rec.ChannelID) != 0 {
		t.Fatalf("channels() after finalizeWithdraw = (%s, %s), charged %s", bal, claimed, charged)
	}
	t.Logf("deposit %s, charged %s over %d calls, withdrawn %s", deposit, charged, served.Load(), mustSub(t, deposit, charged))
}

// newChannelClient is a go402 client paying batch-settlement from acct.
func newChannelClient(t *testing.T, st *stacktest.Stack, acct devnet.Account) (*batchsettlement.Payer, *client.Client) {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(acct.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	reader := batchsettlement.NewRPCChannelReader(map[x402.Network]string{st.Network: st.Devnet.RPCURL()})
	p, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: signer, Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	sreg := new(x402.Registry[x402.SchemeClient])
	if err := sreg.Register(x402.V2, batchsettlement.Scheme, "eip155:*", p); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(st.Networks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Schemes: sreg, Assets: assets, Policy: client.Policy{Budget: "$1"}})
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func getStatus(t *testing.T, c *client.Client, url string) int {
	t.Helper()
	resp, err := c.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// payRaw sends a voucher for cumulative on rec's channel, signed with the
// core's helpers, outside the client (which would react to a refusal).
func payRaw(t *testing.T, st *stacktest.Stack, url string, rec batchsettlement.ChannelRecord, cumulative x402.Amount) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil || len(pr.Accepts) != 1 {
		t.Fatalf("the route's 402: %+v %v", pr, err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(st.Accounts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	vo, err := batchsettlement.SignVoucher(t.Context(), signer, st.Devnet.ChainID().Uint64(), rec.ChannelID, cumulative)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := batchsettlement.Object(&batchsettlement.VoucherPayload{ChannelConfig: rec.Config, Voucher: vo})
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(x402.HeaderPaymentSignature, h)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// withdrawConfig is a ChannelConfig as the ABI packer wants the tuple.
type withdrawConfig struct {
	Payer, PayerAuthorizer, Receiver, ReceiverAuthorizer, Token common.Address
	WithdrawDelay                                               *big.Int
	Salt                                                        [32]byte
}

func abiConfig(c batchsettlement.ChannelConfig) withdrawConfig {
	return withdrawConfig{c.Payer, c.PayerAuthorizer, c.Receiver, c.ReceiverAuthorizer, c.Token, new(big.Int).SetUint64(c.WithdrawDelay), c.Salt}
}

// sendAs sends a call to x402BatchSettlement from the sender's key and
// waits for its successful receipt.
func sendAs(t *testing.T, s *evm.Sender, method string, args ...any) {
	t.Helper()
	a := contracts.BatchSettlementParsedABI()
	data, err := a.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Send(t.Context(), evm.BatchSettlementAddress(), data)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	r, err := s.WaitReceipt(t.Context(), tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("%s: receipt %+v %v", method, r, err)
	}
}

func readChannel(t *testing.T, st *stacktest.Stack, id common.Hash) (balance, totalClaimed x402.Amount) {
	t.Helper()
	o, err := (&channelserver.ChainState{Caller: st.Devnet.Client(), Network: st.Network}).ChannelState(t.Context(), st.Network, id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Balance, o.TotalClaimed
}

// pendingWithdrawal is the chain time the channel's pending withdrawal was
// requested at, 0 if none.
func pendingWithdrawal(t *testing.T, st *stacktest.Stack, id common.Hash) uint64 {
	t.Helper()
	o, err := (&channelserver.ChainState{Caller: st.Devnet.Client(), Network: st.Network}).ChannelState(t.Context(), st.Network, id)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(o.WithdrawRequestedAt)
}

func headTime(t *testing.T, st *stacktest.Stack) uint64 {
	t.Helper()
	h, err := st.Devnet.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h.Time
}

func tokenBalance(t *testing.T, d *devnet.Devnet, a common.Address) *big.Int {
	t.Helper()
	b, err := d.BalanceOf(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSub(t *testing.T, a, b x402.Amount) x402.Amount {
	t.Helper()
	d, ok := a.Sub(b)
	if !ok {
		t.Fatalf("%s − %s", a, b)
	}
	return d
}

func mustAdd(t *testing.T, a, b x402.Amount) x402.Amount {
	t.Helper()
	s, ok := a.Add(b)
	if !ok {
		t.Fatalf("%s + %s", a, b)
	}
	return s
}
