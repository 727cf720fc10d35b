package channelserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/x402"
)

// claimChecker is the facilitator's side of claims as far as a server can
// be held to it without a chain: it parses each server-authored payload
// as the facilitator does, checks the receiver authorizer's signature of
// the claim batch and the payer's signature of every voucher, and records
// the claimed totals. (Claims on chain are tested with the devnet
// facilitator.)
type claimChecker struct {
	noFacilitator
	chainID    uint64
	authorizer common.Address

	mu      sync.Mutex
	claimed map[common.Hash]x402.Amount
	batches int
	settles int
	txs     int
}

func (c *claimChecker) Settle(_ context.Context, r *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pl, err := batchsettlement.ParsePayload(r.Payload.Payload)
	if err != nil {
		return nil, err
	}
	switch p := pl.(type) {
	case *batchsettlement.ClaimPayload:
		sep := batchsettlement.DomainSeparator(c.chainID)
		sig, err := evm.SignatureFromBytes(p.ClaimAuthorizerSignature)
		if err != nil {
			return nil, err
		}
		got, err := evm.RecoverSigner(batchsettlement.ClaimBatchDigest(sep, batchsettlement.ClaimEntries(sep, p.Claims)), sig)
		if err != nil || got != c.authorizer {
			return &x402.SettleResponse{Network: r.Requirements.Network, ErrorReason: x402.ReasonBatchClaimPayload}, nil
		}
		for _, cl := range p.Claims {
			id := batchsettlement.ChannelID(cl.Channel, c.chainID)
			vo := batchsettlement.Voucher{ChannelID: id, MaxClaimableAmount: cl.MaxClaimableAmount, Signature: cl.Signature}
			if err := batchsettlement.NewChannelVerifier(cl.Channel, c.chainID).VerifySignature(&vo); err != nil {
				return nil, err
			}
			if cl.TotalClaimed.Cmp(cl.MaxClaimableAmount) > 0 {
				return nil, errors.New("claims more than the voucher")
			}
			c.claimed[id] = cl.TotalClaimed
		}
		c.batches++
	case *batchsettlement.SettlePayload:
		c.settles++
	default:
		return nil, fmt.Errorf("unexpected %s payload", pl.Type())
	}
	c.txs++
	return &x402.SettleResponse{Success: true, Network: r.Requirements.Network, Transaction: fmt.Sprintf("0x%064x", c.txs)}, nil
}

func newClaimWorld(t *testing.T) (*world, *claimChecker) {
	auth := newKey(t)
	fac := &claimChecker{chainID: 84532, authorizer: auth.Address(), claimed: map[common.Hash]x402.Amount{}}
	return newWorld(t, worldOptions{auth: auth, fac: fac}), fac
}

func (w *world) payN(p *payer, from, to uint64) {
	w.t.Helper()
	for k := from; k <= to; k++ {
		if r, err := w.pay(http.DefaultClient, w.header(p, p.key, times(k))); err != nil || r.status != http.StatusOK {
			w.t.Fatalf("voucher %d: %+v %v", k, r, err)
		}
	}
}

// The vouchers of several channels go in one claim transaction signed by
// the receiver authorizer, followed by one settle; the claims are
// recorded, and only new charges are claimed next time.
func TestClaimBatches(t *testing.T) {
	w, fac := newClaimWorld(t)
	payers := []*payer{w.openChannel(1_000_000), w.openChannel(1_000_000), w.openChannel(1_000_000)}
	for i, p := range payers {
		w.payN(p, 1, uint64(i+2))
	}
	res, err := w.srv.Claim(t.Context(), channelserver.ClaimConfig{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Vouchers != 3 || len(res.Transactions) != 2 || fac.batches != 1 || fac.settles != 1 {
		t.Fatalf("claim round %+v: %d claim batches, %d settles; want 3 vouchers in 1 batch and 1 settle", res, fac.batches, fac.settles)
	}
	for i, p := range payers {
		if got := fac.claimed[p.id]; got != times(uint64(i+2)) {
			t.Errorf("channel %d claimed %s, want %s", i, got, times(uint64(i+2)))
		}
	}
	if list, err := w.store.Unclaimed(t.Context()); err != nil || len(list) != 0 {
		t.Fatalf("unclaimed after the claim: %v %v", list, err)
	}
	w.payN(payers[0], 3, 3)
	res, err = w.srv.Claim(t.Context(), channelserver.ClaimConfig{MaxPerBatch: 1}, true)
	if err != nil || res.Vouchers != 1 || fac.claimed[payers[0].id] != times(3) {
		t.Fatalf("second round %+v %v; claimed %s", res, err, fac.claimed[payers[0].id])
	}
}

// On the interval, a channel in the middle of a burst is left for later;
// one whose payer asked to withdraw is claimed at once.
func TestClaimIdleAndWithdrawing(t *testing.T) {
	w, fac := newClaimWorld(t)
	busy, leaving := w.openChannel(1_000_000), w.openChannel(1_000_000)
	w.payN(busy, 1, 2)
	w.payN(leaving, 1, 2)
	cc := channelserver.ClaimConfig{Idle: time.Hour}
	if res, err := w.srv.Claim(t.Context(), cc, false); err != nil || res.Vouchers != 0 {
		t.Fatalf("claim of busy channels: %+v %v; want nothing", res, err)
	}
	id := hexutil.Encode(leaving.id[:])
	ch, err := w.store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	o := ch.Onchain
	o.WithdrawRequestedAt = time.Now().Unix()
	if err := w.store.Sync(t.Context(), id, o); err != nil {
		t.Fatal(err)
	}
	res, err := w.srv.Claim(t.Context(), cc, false)
	if err != nil || res.Vouchers != 1 || fac.claimed[leaving.id] != times(2) || !fac.claimed[busy.id].IsZero() {
		t.Fatalf("claim with a withdrawal requested: %+v %v; claimed %v", res, err, fac.claimed)
	}
}

// RunClaims claims every voucher when it is stopped (shutdown), and at
// once when the threshold is reached.
func TestRunClaims(t *testing.T) {
	w, fac := newClaimWorld(t)
	p := w.openChannel(1_000_000)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- w.srv.RunClaims(ctx, channelserver.ClaimConfig{Interval: time.Hour, Threshold: times(3)})
	}()
	w.payN(p, 1, 3) // reaches the threshold
	for deadline := time.Now().Add(30 * time.Second); ; {
		fac.mu.Lock()
		got := fac.claimed[p.id]
		fac.mu.Unlock()
		if got == times(3) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threshold reached, claimed %s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.payN(p, 4, 4) // below the threshold: claimed at shutdown
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fac.claimed[p.id] != times(4) {
		t.Fatalf("after shutdown claimed %s, want %s", fac.claimed[p.id], times(4))
	}
	if list, err := w.store.Unclaimed(t.Context()); err != nil || len(list) != 0 {
		t.Fatalf("unclaimed after shutdown: %v %v", list, err)
	}
}

// A payer asks to withdraw while its calls are served: the server claims
// the channel's vouchers at once (not at the next interval), keeps serving
// while the withdrawal is far off, and refuses vouchers it could no longer
// claim before the withdrawal can be finalised.
func TestWithdrawalWatcher(t *testing.T) {
	w, fac := newClaimWorld(t)
	p := w.openChannel(1_000_000)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.srv.RunClaims(ctx, channelserver.ClaimConfig{Interval: time.Hour, Idle: time.Hour}) }()
	w.payN(p, 1, 2)
	id := hexutil.Encode(p.id[:])
	setWithdraw := func(at time.Time) {
		ch, err := w.store.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		o := ch.Onchain
		o.WithdrawRequestedAt = at.Unix()
		if err := w.store.Sync(t.Context(), id, o); err != nil {
			t.Fatal(err)
		}
	}
	setWithdraw(time.Now()) // finalisable in 15 minutes
	w.payN(p, 3, 3)         // served, and wakes the claimer
	for deadline := time.Now().Add(30 * time.Second); ; {
		fac.mu.Lock()
		got := fac.claimed[p.id]
		fac.mu.Unlock()
		if got == times(3) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("withdrawal requested: claimed %s, want %s", got, times(3))
		}
		time.Sleep(10 * time.Millisecond)
	}
	setWithdraw(time.Now().Add(-14 * time.Minute)) // finalisable in a minute
	r, err := w.pay(http.DefaultClient, w.header(p, p.key, times(4)))
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusPaymentRequired || w.charged(p) != times(3) {
		t.Fatalf("voucher on a channel about to be withdrawn: %d, charged %s", r.status, w.charged(p))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
