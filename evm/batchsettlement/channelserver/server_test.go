package channelserver_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// Vouchers for charged + price are served one after another, verified
// locally (no facilitator call), and each PAYMENT-RESPONSE says what was
// charged and the new cumulative total.
func TestVoucherSequence(t *testing.T) {
	fac := &noFacilitator{}
	w := newWorld(t, worldOptions{fac: fac})
	p := w.openChannel(1_000_000)
	for k := uint64(1); k <= 5; k++ {
		r, err := w.pay(http.DefaultClient, w.header(p, p.key, times(k)))
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusOK || r.body != "paid content" || r.settle == nil {
			t.Fatalf("voucher %d: %d %q, PAYMENT-RESPONSE %v", k, r.status, r.body, r.settle)
		}
		if !r.settle.Success || r.settle.Transaction != "" || r.settle.Network != network {
			t.Fatalf("voucher %d: PAYMENT-RESPONSE %+v", k, r.settle)
		}
		e := responseExtra(t, r.settle)
		if e.ChargedAmount == nil || *e.ChargedAmount != price || e.ChannelState == nil || e.ChannelState.ChargedCumulativeAmount != times(k) {
			t.Fatalf("voucher %d: extra %+v", k, e)
		}
	}
	if got := w.charged(p); got != times(5) {
		t.Fatalf("charged %s, want %s", got, times(5))
	}
	if n := fac.calls.Load(); n != 0 {
		t.Fatalf("the facilitator was called %d times on the voucher path", n)
	}
}

// correctiveOf checks that r is a corrective 402 for the channel at
// charged and returns its state.
func correctiveOf(t *testing.T, r reply, reason x402.Reason, charged x402.Amount) *batchsettlement.RequirementsExtra {
	t.Helper()
	if r.status != http.StatusPaymentRequired || r.required == nil {
		t.Fatalf("got %d %q; want a 402 with PAYMENT-REQUIRED", r.status, r.body)
	}
	if r.required.Error != string(reason) {
		t.Fatalf("402 error %q, want %q", r.required.Error, reason)
	}
	e, err := batchsettlement.ParseRequirementsExtra(r.required.Accepts[0].Extra)
	if err != nil {
		t.Fatal(err)
	}
	if e.ChannelState == nil || e.ChannelState.ChargedCumulativeAmount != charged {
		t.Fatalf("corrective channelState %+v, want chargedCumulativeAmount %s", e.ChannelState, charged)
	}
	if e.VoucherState == nil || e.VoucherState.SignedMaxClaimable != charged {
		t.Fatalf("corrective voucherState %+v, want signedMaxClaimable %s", e.VoucherState, charged)
	}
	return e
}

// A voucher sent again (a replay) is not charged twice: the channel has
// moved on, and the answer is a corrective 402 with the server's state.
func TestVoucherReplayed(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := w.openChannel(1_000_000)
	h := w.header(p, p.key, times(1))
	if r, err := w.pay(http.DefaultClient, h); err != nil || r.status != http.StatusOK {
		t.Fatalf("first use: %+v %v", r, err)
	}
	r, err := w.pay(http.DefaultClient, h)
	if err != nil {
		t.Fatal(err)
	}
	correctiveOf(t, r, x402.ReasonBatchCumulativeAmountMismatch, times(1))
	if w.served.Load() != 1 || w.charged(p) != times(1) {
		t.Fatalf("served %d, charged %s after a replay; want 1, %s", w.served.Load(), w.charged(p), times(1))
	}
}

// A voucher for anything but charged + price (less, or more) is refused
// with a corrective 402 whose voucherState carries the server's last
// voucher, signed by the payer.
func TestVoucherWrongCumulative(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := w.openChannel(1_000_000)
	for k := uint64(1); k <= 2; k++ {
		if r, err := w.pay(http.DefaultClient, w.header(p, p.key, times(k))); err != nil || r.status != http.StatusOK {
			t.Fatalf("voucher %d: %+v %v", k, r, err)
		}
	}
	for _, cum := range []x402.Amount{times(2), x402.NewAmount(2500), times(1), x402.NewAmount(0), times(4)} {
		t.Run(cum.String(), func(t *testing.T) {
			r, err := w.pay(http.DefaultClient, w.header(p, p.key, cum))
			if err != nil {
				t.Fatal(err)
			}
			e := correctiveOf(t, r, x402.ReasonBatchCumulativeAmountMismatch, times(2))
			// The payer can check the server's voucher is its own.
			vo := batchsettlement.Voucher{ChannelID: p.id, MaxClaimableAmount: e.VoucherState.SignedMaxClaimable, Signature: e.VoucherState.Signature}
			if err := batchsettlement.NewChannelVerifier(p.config, 84532).VerifySignature(&vo); err != nil {
				t.Fatalf("voucherState signature: %v", err)
			}
		})
	}
	if w.served.Load() != 2 || w.charged(p) != times(2) {
		t.Fatalf("served %d, charged %s; want 2, %s", w.served.Load(), w.charged(p), times(2))
	}
}

// A voucher signed by a key other than the channel's payer authorizer is
// refused and charges nothing.
func TestVoucherWrongKey(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := w.openChannel(1_000_000)
	r, err := w.pay(http.DefaultClient, w.header(p, newKey(t), times(1)))
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusPaymentRequired || r.required == nil || r.required.Error != string(x402.ReasonBatchVoucherSignature) {
		t.Fatalf("got %d %+v; want 402 %s", r.status, r.required, x402.ReasonBatchVoucherSignature)
	}
	if w.served.Load() != 0 || !w.charged(p).IsZero() {
		t.Fatalf("served %d, charged %s; want nothing", w.served.Load(), w.charged(p))
	}
}

// A voucher beyond the channel's balance is refused.
func TestVoucherExceedsBalance(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := w.openChannel(1500)
	if r, err := w.pay(http.DefaultClient, w.header(p, p.key, times(1))); err != nil || r.status != http.StatusOK {
		t.Fatalf("first voucher: %+v %v", r, err)
	}
	r, err := w.pay(http.DefaultClient, w.header(p, p.key, times(2)))
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusPaymentRequired || r.required.Error != string(x402.ReasonBatchCumulativeExceedsBalance) {
		t.Fatalf("got %d %+v; want 402 %s", r.status, r.required, x402.ReasonBatchCumulativeExceedsBalance)
	}
}

// A handler failure charges nothing; the same voucher pays the next
// request.
func TestHandlerFailureNotCharged(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := w.openChannel(1_000_000)
	h := w.header(p, p.key, times(1))
	w.fail.Store(true)
	r, err := w.pay(http.DefaultClient, h)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusInternalServerError || r.settle != nil {
		t.Fatalf("failing handler: %d, PAYMENT-RESPONSE %v; want 500 without", r.status, r.settle)
	}
	if !w.charged(p).IsZero() {
		t.Fatalf("charged %s after a handler failure", w.charged(p))
	}
	w.fail.Store(false)
	if r, err := w.pay(http.DefaultClient, h); err != nil || r.status != http.StatusOK {
		t.Fatalf("the same voucher after the failure: %+v %v", r, err)
	}
	if w.charged(p) != times(1) {
		t.Fatalf("charged %s, want %s", w.charged(p), times(1))
	}
}

// payUntilServed pays one request, following corrective 402s (as a
// client whose view of the channel is stale does) until it is served;
// it returns the chargedCumulativeAmount of the answer.
func payUntilServed(w *world, client *http.Client, p *payer, cum x402.Amount) (x402.Amount, error) {
	for attempt := 0; attempt < 2000; attempt++ {
		r, err := w.pay(client, w.header(p, p.key, cum))
		if err != nil {
			return x402.Amount{}, err
		}
		switch {
		case r.status == http.StatusOK:
			e, err := batchsettlement.ParseResponseExtra(r.settle.Extra)
			if err != nil || e.ChannelState == nil {
				return x402.Amount{}, fmt.Errorf("PAYMENT-RESPONSE extra %v: %v", r.settle.Extra, err)
			}
			if e.ChannelState.ChargedCumulativeAmount != cum {
				return x402.Amount{}, fmt.Errorf("served at %s with a voucher for %s", e.ChannelState.ChargedCumulativeAmount, cum)
			}
			return cum, nil
		case r.status == http.StatusPaymentRequired && r.required != nil:
			e, err := batchsettlement.ParseRequirementsExtra(r.required.Accepts[0].Extra)
			if err == nil && e.ChannelState != nil {
				cum, _ = e.ChannelState.ChargedCumulativeAmount.Add(price)
			}
			// channel busy: try again with the same voucher
		default:
			return x402.Amount{}, fmt.Errorf("unexpected answer %d %q", r.status, r.body)
		}
	}
	return x402.Amount{}, fmt.Errorf("not served after 2000 attempts")
}

// runConcurrent has n clients pay one request each on one channel at
// once, spread over the worlds, and checks that the accounting is exact:
// n answers served, each at a distinct cumulative total, the channel
// charged n × price.
func runConcurrent(t *testing.T, worlds []*world, p *payer, n int) {
	t.Helper()
	seen := make(map[x402.Amount]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		w := worlds[i%len(worlds)]
		wg.Go(func() {
			cum, err := payUntilServed(w, w.http.Client(), p, price)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || seen[cum] {
				failed.Add(1)
				t.Errorf("client %d: %v (cumulative %s, seen before %v)", i, err, cum, seen[cum])
			}
			seen[cum] = true
		})
	}
	wg.Wait()
	var served int64
	for _, w := range worlds {
		served += w.served.Load()
	}
	if served != int64(n) || failed.Load() != 0 {
		t.Fatalf("handlers served %d answers for %d paying clients", served, n)
	}
	ch, err := worlds[0].store.Get(context.Background(), hexutil.Encode(p.id[:]))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Charged != times(uint64(n)) || ch.SignedMax != ch.Charged {
		t.Fatalf("charged %s, signed %s; want both %s", ch.Charged, ch.SignedMax, times(uint64(n)))
	}
}

// 64 concurrent requests on one channel: each served exactly once at its
// own cumulative total, none served unpaid.
func TestConcurrent64(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := w.openChannel(1_000_000)
	runConcurrent(t, []*world{w}, p, 64)
}

// 64 copies of one voucher at once: exactly one is served.
func TestConcurrentSameVoucher(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := w.openChannel(1_000_000)
	h := w.header(p, p.key, times(1))
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			r, err := w.pay(w.http.Client(), h)
			if err != nil {
				t.Error(err)
				return
			}
			if r.status == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || w.served.Load() != 1 || w.charged(p) != times(1) {
		t.Fatalf("%d answers 200, %d served, charged %s; want 1, 1, %s", ok.Load(), w.served.Load(), w.charged(p), times(1))
	}
}

// A restarted server finds the unclaimed vouchers where it left them, and
// the channel goes on from its charged total.
func TestRestartKeepsVouchers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "channels.db")
	auth := newKey(t)
	store := openSQLite(t, path)
	w := newWorld(t, worldOptions{store: store, auth: auth})
	p := w.openChannel(1_000_000)
	for k := uint64(1); k <= 3; k++ {
		if r, err := w.pay(http.DefaultClient, w.header(p, p.key, times(k))); err != nil || r.status != http.StatusOK {
			t.Fatalf("voucher %d: %+v %v", k, r, err)
		}
	}
	w.http.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store = openSQLite(t, path)
	list, err := store.Unclaimed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Charged != times(3) || list[0].SignedMax != times(3) {
		t.Fatalf("after the restart: unclaimed %+v; want the channel at %s", list, times(3))
	}
	vo := batchsettlement.Voucher{ChannelID: p.id, MaxClaimableAmount: list[0].SignedMax, Signature: hexutil.MustDecode(list[0].Signature)}
	if err := batchsettlement.NewChannelVerifier(p.config, 84532).VerifySignature(&vo); err != nil {
		t.Fatalf("the stored voucher: %v", err)
	}
	w2 := newWorld(t, worldOptions{store: store, auth: auth, receiver: w.receiver})
	if r, err := w2.pay(http.DefaultClient, w2.header(p, p.key, times(3))); err != nil || r.status != http.StatusPaymentRequired {
		t.Fatalf("replaying the last voucher after the restart: %+v %v", r, err)
	}
	if r, err := w2.pay(http.DefaultClient, w2.header(p, p.key, times(4))); err != nil || r.status != http.StatusOK {
		t.Fatalf("the next voucher after the restart: %+v %v", r, err)
	}
}
