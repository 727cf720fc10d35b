package evm_test

import (
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
)

// TestPermit2LedgerRefusesReusedNonce: behind go402's facilitator (its
// durable SQLite ledger), a Permit2 payment is keyed by the owner's Permit2
// nonce. Concurrent submissions of one payment settle it once and all get
// that settlement; a different payment reusing the nonce, submitted
// concurrently or later, is refused with duplicate_settlement before
// anything is broadcast; the payee is paid once.
func TestPermit2LedgerRefusesReusedNonce(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 5, RPCAddr: "127.0.0.1:0"}})
	w := &p2world{world: &world{net: st.Devnet, network: st.Network, payer: st.Accounts[0], payee: st.Accounts[1].Address}, token: st.Devnet.PermitTokenAsset(), rpcURL: st.Devnet.RPCURL()}
	ctx := t.Context()
	w.approve(t, w.payer, big.NewInt(1_000_000))
	req := w.req(t, 900)
	nonce, _ := permit2.NewNonce(nil)
	// Payments differing only in their deadline share the nonce, so the key.
	variant := func(i int) *x402.FacilitatorRequest {
		obj := w.signedPermit(t, w.payer.PrivateKey, req, func(p *permit2.Permit, _ *permit2.ExactWitness) {
			p.Nonce = nonce
			p.Deadline = big.NewInt(time.Now().Unix() + 50 + int64(i))
		})
		return x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}, &req)
	}
	before := w.tokenBalance(t, w.payee)
	same := variant(0)
	const n = 6
	results := make([]*x402.SettleResponse, n)
	errs := make([]error, n)
	sent := make([]*x402.FacilitatorRequest, n)
	var wg sync.WaitGroup
	for i := range n {
		sent[i] = same
		if i%2 == 1 {
			sent[i] = variant(i) // another payment under the same key
		}
		wg.Go(func() { results[i], errs[i] = st.Facilitator.Settle(ctx, sent[i]) })
	}
	wg.Wait()
	var tx string
	var winner *x402.FacilitatorRequest
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("settle %d: %v", i, errs[i])
		}
		switch {
		case r.Success:
			if tx != "" && r.Transaction != tx {
				t.Errorf("two transactions for one nonce: %s and %s", tx, r.Transaction)
			}
			tx, winner = r.Transaction, sent[i]
		case r.ErrorReason == x402.ReasonDuplicateSettlement && r.Transaction == "":
		default:
			t.Errorf("settle %d: %+v", i, r)
		}
	}
	if tx == "" {
		t.Fatalf("no settlement succeeded: %+v", results)
	}
	if got := new(big.Int).Sub(w.tokenBalance(t, w.payee), before); got.Int64() != 900 {
		t.Errorf("payee received %s, want 900 once", got)
	}
	// Later: the paid payment again gets its result; another one with the
	// nonce is refused without a transaction.
	again, err := st.Facilitator.Settle(ctx, winner)
	if err != nil || !again.Success || again.Transaction != tx {
		t.Errorf("repeat: %+v %v, want the settlement %s", again, err, tx)
	}
	other, err := st.Facilitator.Settle(ctx, variant(n))
	if err != nil || other.Success || other.Transaction != "" || (other.ErrorReason != x402.ReasonDuplicateSettlement && other.ErrorReason != x402.ReasonPermit2InvalidNonce) {
		t.Errorf("another payment with the nonce: %+v %v", other, err)
	}
	if v, err := st.Facilitator.Verify(ctx, variant(n+1)); err != nil || v.IsValid {
		t.Errorf("verify of another payment with the used nonce: %+v %v", v, err)
	}
}
