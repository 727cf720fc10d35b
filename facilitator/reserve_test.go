package facilitator_test

import (
	"context"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/x402"
)

// fundedPayer returns a payer the devnet never funded, minted exactly
// amount of the test asset.
func (e *env) fundedPayer(t *testing.T, index int, amount *big.Int) *devnet.Account {
	t.Helper()
	payer, err := devnet.DevAccount(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.net.Mint(t.Context(), payer.Address, amount); err != nil {
		t.Fatal(err)
	}
	return &payer
}

func TestConcurrentVerifiesReserveFunds(t *testing.T) {
	// A payer holding exactly one price signs several authorizations and
	// presents them at once, to two facilitator instances sharing one
	// ledger: exactly one is valid, the others are refused because the
	// funds are reserved; the valid one settles, through either instance.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a, _ := e.facilitator(t, 3)
		b, _ := e.facilitator(t, 4)
		facs := []*facilitator.Facilitator{a, b}
		payer := e.fundedPayer(t, 810, e.req.Amount.Big())
		const n = 6
		reqs := make([]*x402.FacilitatorRequest, n)
		for i := range reqs {
			reqs[i] = e.sign(t, payer.PrivateKey, e.req)
		}
		resps := make([]*x402.VerifyResponse, n)
		errs := make([]error, n)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range reqs {
			wg.Go(func() {
				start.Wait()
				resps[i], errs[i] = facs[i%2].Verify(ctx, reqs[i])
			})
		}
		start.Done()
		wg.Wait()
		valid := -1
		for i, r := range resps {
			switch {
			case errs[i] != nil:
				t.Fatalf("verify %d: %v", i, errs[i])
			case r.IsValid:
				if valid >= 0 {
					t.Errorf("verifies %d and %d are both valid for a payer who can pay once", valid, i)
				}
				valid = i
			case r.InvalidReason != x402.ReasonExactEVMInsufficientBalance || !strings.Contains(r.InvalidMessage, "reserved by other payments"):
				t.Errorf("verify %d: %s: %s; want %s (funds reserved by other payments)", i, r.InvalidReason, r.InvalidMessage, x402.ReasonExactEVMInsufficientBalance)
			}
		}
		if valid < 0 {
			t.Fatal("no verify was valid")
		}

		// The same authorization verified again (a replica of the server,
		// another route, a replay) is refused: it is reserved for the
		// response it was verified for. The others are still refused.
		again, err := facs[1-valid%2].Verify(ctx, reqs[valid])
		if err != nil || again.IsValid || again.InvalidReason != x402.ReasonDuplicateSettlement {
			t.Errorf("verify of the reserved authorization again: %+v, %v; want invalid, %s", again, err, x402.ReasonDuplicateSettlement)
		}
		if r, err := facs[1-valid%2].Verify(ctx, reqs[(valid+1)%n]); err != nil || r.IsValid {
			t.Errorf("verify of another authorization after the retry: %+v, %v; want invalid", r, err)
		}

		// The reserved payment settles, through the other instance.
		sr, err := facs[1-valid%2].Settle(ctx, reqs[valid])
		if err != nil || !sr.Success {
			t.Fatalf("settle of the verified payment: %+v, %v", sr, err)
		}
		// Settled: its reservation is gone, and the chain decides the
		// others (the balance is spent).
		other := (valid + 1) % n
		r, err := facs[valid%2].Verify(ctx, reqs[other])
		if err != nil || r.IsValid || r.InvalidReason != x402.ReasonExactEVMInsufficientBalance || strings.Contains(r.InvalidMessage, "reserved") {
			t.Errorf("verify after the settlement: %+v, %v; want the chain's %s", r, err, x402.ReasonExactEVMInsufficientBalance)
		}
		// Topped up: the next authorization verifies.
		if err := e.net.Mint(ctx, payer.Address, e.req.Amount.Big()); err != nil {
			t.Fatal(err)
		}
		if r, err := facs[valid%2].Verify(ctx, reqs[other]); err != nil || !r.IsValid {
			t.Errorf("verify after a top-up: %+v, %v; want valid", r, err)
		}
	})
}

func TestSettleReleasesReservation(t *testing.T) {
	// A verified payment whose settlement is rejected before anything is
	// broadcast gives its funds back, so a new authorization verifies.
	e := sqliteEnv(t, devnet.Config{Accounts: 5})
	ctx := t.Context()
	fac, _ := e.facilitator(t, 3)
	payer := e.fundedPayer(t, 820, e.req.Amount.Big())
	first := e.sign(t, payer.PrivateKey, e.req)
	if r, err := fac.Verify(ctx, first); err != nil || !r.IsValid {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	second := e.sign(t, payer.PrivateKey, e.req)
	if r, err := fac.Verify(ctx, second); err != nil || r.IsValid {
		t.Fatalf("second verify while the first holds the funds: %+v, %v; want invalid", r, err)
	}
	// The settlement of the first is rejected: the payment's amount is
	// changed, so its signature no longer matches.
	one, err := x402.AmountFromBig(big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	altered := e.req
	altered.Amount = one
	payload := *first.Payload
	payload.Accepted = altered
	bad := x402.NewFacilitatorRequest(&payload, &altered)
	if sr, err := fac.Settle(ctx, bad); err != nil || sr.Success {
		t.Fatalf("settle of the altered payment: %+v, %v; want a rejection", sr, err)
	}
	if r, err := fac.Verify(ctx, second); err != nil || !r.IsValid {
		t.Errorf("verify after the first's settlement was rejected: %+v, %v; want valid", r, err)
	}
}

// laggingChain is the devnet's backend with one fault the devnet cannot
// produce: its eth_calls read the state one block behind the head, as a
// load-balanced RPC provider's lagging node does. It counts them.
type laggingChain struct {
	evm.ChainBackend
	calls atomic.Int64
}

func (b *laggingChain) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	b.calls.Add(1)
	if block == nil {
		h, err := b.ChainBackend.HeaderByNumber(ctx, nil)
		if err != nil {
			return nil, err
		}
		if h.Number.Sign() > 0 {
			block = new(big.Int).Sub(h.Number, big.NewInt(1))
		}
	}
	return b.ChainBackend.CallContract(ctx, msg, block)
}

func TestVerifyRefusesSettledDespiteLaggingChain(t *testing.T) {
	// After a payment settled, a chain read one block behind still shows
	// its authorization unused and the payer's balance unspent. Verify
	// answers from the ledger: nonce already used. The ledger is read in
	// the reservation's transaction, after the chain reads (a valid
	// payment costs no separate ledger read), so the lagging chain is
	// read and its answer overruled.
	stores(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		chain := &laggingChain{ChainBackend: e.net.Client()}
		fac, _ := e.facilitatorWith(t, 3, chain, nil)
		payer := e.fundedPayer(t, 830, new(big.Int).Mul(e.req.Amount.Big(), big.NewInt(2)))
		// One more block, so that the lagging reads see the funds.
		if err := e.net.Mint(ctx, e.payee, big.NewInt(1)); err != nil {
			t.Fatal(err)
		}
		req := e.sign(t, payer.PrivateKey, e.req)
		sr, err := fac.Settle(ctx, req)
		if err != nil || !sr.Success {
			t.Fatalf("settle: %+v, %v", sr, err)
		}
		before := chain.calls.Load()
		r, err := fac.Verify(ctx, req)
		if err != nil || r.IsValid || r.InvalidReason != x402.ReasonExactEVMNonceAlreadyUsed {
			t.Errorf("verify of the settled payment on a lagging chain: %+v, %v; want invalid %s", r, err, x402.ReasonExactEVMNonceAlreadyUsed)
		}
		if n := chain.calls.Load() - before; n == 0 {
			t.Errorf("verify of a settled payment read the chain %d times; want the lagging reads overruled by the ledger", n)
		}
	})
}
