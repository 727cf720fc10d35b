package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

func newSigner(t *testing.T) *evm.PrivateKeySigner {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := evm.NewPrivateKeySignerFromECDSA(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// channelClient is a client.Client paying batch-settlement with payer.
func channelClient(t *testing.T, payer *batchsettlement.Payer, pol client.Policy) *client.Client {
	t.Helper()
	reg := new(x402.Registry[x402.SchemeClient])
	if err := reg.Register(x402.V2, batchsettlement.Scheme, "eip155:*", payer); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Schemes: reg, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPayer(t *testing.T, s evm.Signer, store *batchsettlement.ChannelStore) *batchsettlement.Payer {
	t.Helper()
	p, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: s, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// get pays for url once and returns the error, the body read and closed.
func get(t *testing.T, c *client.Client, u string) error {
	t.Helper()
	resp, err := c.HTTPClient().Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != "paid content" {
		t.Fatalf("status %d body %q", resp.StatusCode, b)
	}
	return nil
}

func amt(t *testing.T, s string) x402.Amount {
	t.Helper()
	a, err := x402.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func record(t *testing.T, p *batchsettlement.Payer, peer *channelPeer) batchsettlement.ChannelRecord {
	t.Helper()
	id, err := p.Channel(peer.req)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := p.Store().Get(context.Background(), peer.req.Network, id)
	if err != nil || !ok {
		t.Fatalf("no record: %v", err)
	}
	return rec
}

// One deposit of the announced minDeposit (10 × price), vouchers against
// it, a top-up when the balance cannot cover the next voucher; the budget
// counts the deposits, not the prices.
func TestChannelDepositVouchersTopUp(t *testing.T) {
	peer := newChannelPeer(t, "$0.001") // 1000 atomic; minDeposit 10000
	payer := newPayer(t, newSigner(t), nil)
	c := channelClient(t, payer, client.Policy{MaxPerRequest: "$0.01", Budget: "$1"})
	for range 12 {
		if err := get(t, c, peer.url()); err != nil {
			t.Fatal(err)
		}
	}
	rec := record(t, payer, peer)
	if rec.Charged != amt(t, "12000") || rec.Balance != amt(t, "20000") || rec.Deposited != amt(t, "20000") {
		t.Fatalf("record charged %s balance %s deposited %s", rec.Charged, rec.Balance, rec.Deposited)
	}
	if got := peer.channel(rec.ChannelID); got.charged != amt(t, "12000") || got.balance != amt(t, "20000") || peer.paid != 12 {
		t.Fatalf("peer charged %s balance %s paid %d", got.charged, got.balance, peer.paid)
	}
	sp, err := c.Spending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sp.Spent != "0.02" || sp.Payments != 12 {
		t.Fatalf("spending %+v", sp)
	}
}

// A budget too small for the announced deposit deposits only what the call
// needs; once the budget is used up the payment is refused before signing.
func TestChannelDepositCappedByBudget(t *testing.T) {
	peer := newChannelPeer(t, "$0.001")
	payer := newPayer(t, newSigner(t), nil)
	c := channelClient(t, payer, client.Policy{Budget: "$0.003"})
	for range 3 {
		if err := get(t, c, peer.url()); err != nil {
			t.Fatal(err)
		}
	}
	err := get(t, c, peer.url())
	var pe *client.PolicyError
	if !errors.As(err, &pe) || pe.Rule != client.RuleBudget {
		t.Fatalf("4th call: %v, want a budget refusal", err)
	}
	rec := record(t, payer, peer)
	if rec.SignedMaxClaimable != amt(t, "3000") || rec.Deposited != amt(t, "3000") || peer.paid != 3 {
		t.Fatalf("signed %s deposited %s paid %d", rec.SignedMaxClaimable, rec.Deposited, peer.paid)
	}
}

// A deposit above PayerConfig.MaxDeposit is refused with a typed error and
// nothing signed.
func TestChannelMaxDeposit(t *testing.T) {
	peer := newChannelPeer(t, "$0.001")
	payer, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: newSigner(t), MaxDeposit: amt(t, "999")})
	if err != nil {
		t.Fatal(err)
	}
	c := channelClient(t, payer, client.Policy{})
	if err := get(t, c, peer.url()); !errors.Is(err, batchsettlement.ErrDepositCap) {
		t.Fatalf("got %v, want ErrDepositCap", err)
	}
	if peer.paid != 0 {
		t.Fatal("paid")
	}
}

// A server that breaks the client verification rules in its
// PAYMENT-RESPONSE is caught: a typed error, and nothing more is signed on
// the channel.
func TestChannelHostileResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(ex *batchsettlement.ResponseExtra)
	}{
		{"charged above price", func(ex *batchsettlement.ResponseExtra) {
			a := x402.NewAmount(1001)
			ex.ChargedAmount = &a
		}},
		{"cumulative jump", func(ex *batchsettlement.ResponseExtra) {
			v, _ := ex.ChannelState.ChargedCumulativeAmount.Add(x402.NewAmount(1000))
			ex.ChannelState.ChargedCumulativeAmount = v
		}},
		{"wrong channel id", func(ex *batchsettlement.ResponseExtra) {
			ex.ChannelState.ChannelID = common.HexToHash("0x01")
		}},
		{"balance below charged", func(ex *batchsettlement.ResponseExtra) {
			ex.ChannelState.Balance = x402.NewAmount(1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := newChannelPeer(t, "$0.001")
			payer := newPayer(t, newSigner(t), nil)
			c := channelClient(t, payer, client.Policy{})
			if err := get(t, c, peer.url()); err != nil {
				t.Fatal(err)
			}
			peer.tamper = tc.tamper
			err := get(t, c, peer.url())
			var ve *batchsettlement.ViolationError
			if !errors.As(err, &ve) || !errors.Is(err, batchsettlement.ErrServerViolation) {
				t.Fatalf("got %v, want a ViolationError", err)
			}
			before := record(t, payer, peer).SignedMaxClaimable
			peer.tamper = nil
			if err := get(t, c, peer.url()); !errors.Is(err, batchsettlement.ErrChannelBroken) {
				t.Fatalf("next call: %v, want ErrChannelBroken", err)
			}
			if rec := record(t, payer, peer); rec.SignedMaxClaimable != before || rec.Broken == "" || peer.paid != 2 {
				t.Fatalf("signed %s (was %s), broken %q, paid %d", rec.SignedMaxClaimable, before, rec.Broken, peer.paid)
			}
		})
	}
}

// PAYMENT-RESPONSE "amount" is the deposit in @x402/evm's answer to a
// deposit (every test's first call pays one and the peer answers so), but a
// voucher's answer reporting more than the price breaks the rules.
func TestChannelResponseAmount(t *testing.T) {
	peer := newChannelPeer(t, "$0.001")
	payer := newPayer(t, newSigner(t), nil)
	c := channelClient(t, payer, client.Policy{})
	if err := get(t, c, peer.url()); err != nil {
		t.Fatalf("deposit answered with amount = deposit: %v", err)
	}
	peer.amount = "1001"
	var ve *batchsettlement.ViolationError
	if err := get(t, c, peer.url()); !errors.As(err, &ve) {
		t.Fatalf("voucher answered with amount above the price: %v, want a ViolationError", err)
	}
}

// A payer that lost its state is answered with a corrective 402; it checks
// the server's voucherState against its own signature, adopts the charged
// total and pays again.
func TestChannelCorrectiveRecovery(t *testing.T) {
	peer := newChannelPeer(t, "$0.001")
	key := newSigner(t)
	first := newPayer(t, key, nil)
	c := channelClient(t, first, client.Policy{})
	for range 3 {
		if err := get(t, c, peer.url()); err != nil {
			t.Fatal(err)
		}
	}
	fresh := newPayer(t, key, nil) // same key, no state
	c2 := channelClient(t, fresh, client.Policy{})
	if err := get(t, c2, peer.url()); err != nil {
		t.Fatal(err)
	}
	rec := record(t, fresh, peer)
	if rec.Charged != amt(t, "4000") || peer.channel(rec.ChannelID).charged != amt(t, "4000") {
		t.Fatalf("charged %s, peer %s", rec.Charged, peer.channel(rec.ChannelID).charged)
	}
}

// A corrective 402 whose voucherState is not the payer's signature is
// refused: nothing adopted, the channel stopped.
func TestChannelCorrectiveForged(t *testing.T) {
	peer := newChannelPeer(t, "$0.001")
	key := newSigner(t)
	c := channelClient(t, newPayer(t, key, nil), client.Policy{})
	if err := get(t, c, peer.url()); err != nil {
		t.Fatal(err)
	}
	other := newSigner(t)
	peer.forge = func(vs *batchsettlement.VoucherState) {
		id, _ := newPayer(t, key, nil).Channel(peer.req)
		vs.SignedMaxClaimable = x402.NewAmount(900000)
		vo, err := batchsettlement.SignVoucher(context.Background(), other, 84532, id, vs.SignedMaxClaimable)
		if err != nil {
			t.Error(err)
		}
		vs.Signature = vo.Signature
	}
	fresh := newPayer(t, key, nil)
	c2 := channelClient(t, fresh, client.Policy{})
	if err := get(t, c2, peer.url()); !errors.Is(err, batchsettlement.ErrServerViolation) {
		t.Fatalf("got %v, want ErrServerViolation", err)
	}
	rec := record(t, fresh, peer)
	if rec.Broken == "" || !rec.Charged.IsZero() {
		t.Fatalf("record %+v", rec)
	}
	if err := get(t, c2, peer.url()); !errors.Is(err, batchsettlement.ErrChannelBroken) {
		t.Fatalf("next: %v", err)
	}
}

// Channel state survives a restart through the channel file: the next run
// pays with a voucher, no new deposit.
func TestChannelPersistsAcrossRestart(t *testing.T) {
	peer := newChannelPeer(t, "$0.001")
	key := newSigner(t)
	path := filepath.Join(t.TempDir(), "channels.json")
	budget := filepath.Join(t.TempDir(), "budget.json")
	for run := range 3 {
		store, err := batchsettlement.OpenChannelStore(path)
		if err != nil {
			t.Fatal(err)
		}
		c := channelClient(t, newPayer(t, key, store), client.Policy{Budget: "$1", BudgetFile: budget})
		if err := get(t, c, peer.url()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	store, _ := batchsettlement.OpenChannelStore(path)
	p := newPayer(t, key, store)
	rec := record(t, p, peer)
	if rec.Charged != amt(t, "3000") || rec.Deposited != amt(t, "10000") || rec.URL == "" {
		t.Fatalf("record %+v", rec)
	}
	// Refund what is left; the budget gets it back.
	c := channelClient(t, p, client.Policy{Budget: "$1", BudgetFile: budget})
	res, err := p.Refund(context.Background(), nil, rec.URL, rec.ChannelID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Refunded != amt(t, "7000") || !peer.channel(rec.ChannelID).refunded {
		t.Fatalf("refunded %s", res.Refunded)
	}
	u, _ := url.Parse(rec.URL)
	if err := c.Refunded(context.Background(), res.Network, res.Asset, res.Refunded, u); err != nil {
		t.Fatal(err)
	}
	sp, _ := c.Spending(context.Background())
	if sp.Spent != "0.003" {
		t.Fatalf("spent %s after the refund", sp.Spent)
	}
	if _, err := p.Refund(context.Background(), nil, rec.URL, rec.ChannelID, nil); !errors.Is(err, batchsettlement.ErrNothingToRefund) {
		t.Fatalf("second refund: %v", err)
	}
}

// Concurrent calls on one channel are serialised by the payer: every call
// is paid, the cumulative exact.
func TestChannelConcurrentCalls(t *testing.T) {
	peer := newChannelPeer(t, "$0.001")
	payer := newPayer(t, newSigner(t), nil)
	c := channelClient(t, payer, client.Policy{})
	var failed atomic.Int32
	done := make(chan struct{})
	for range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			resp, err := c.HTTPClient().Get(peer.url())
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	for range 16 {
		<-done
	}
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	rec := record(t, payer, peer)
	if rec.Charged != amt(t, "16000") || peer.paid != 16 {
		t.Fatalf("charged %s paid %d", rec.Charged, peer.paid)
	}
}
