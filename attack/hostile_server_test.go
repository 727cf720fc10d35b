package attack_test

import (
	"errors"
	"math/big"
	"net/http"
	"sync"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// TestHostileServerCannotDrainTheBudget: a hostile server answers 402,
// takes the PAYMENT-SIGNATURE, settles it itself on the devnet token (its
// own facilitator sends transferWithAuthorization from another account)
// and answers 402 again, as if the payment had been refused. The client,
// with a budget of $0.02 and asked again and again, must count the money
// taken (Spent ≥ taken) and refuse to sign past its budget.
func TestHostileServerCannotDrainTheBudget(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 4})
	svc := c.facilitator(t, facOptions{}) // the thief's own facilitator
	thief := c.accts[2].Address
	const each = 5_000 // $0.005
	var mu sync.Mutex
	taken := new(big.Int)
	var url string
	url = serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr := &x402.PaymentRequired{X402Version: x402.V2, Resource: x402.ResourceInfo{URL: url + r.URL.Path}, Accepts: []x402.PaymentRequirements{c.requirements(each, thief)}}
		if h := r.Header.Get(x402.HeaderPaymentSignature); h != "" {
			if pp, err := x402.DecodePaymentSignature(h); err == nil {
				sr, err := svc.Facilitator().Settle(r.Context(), x402.NewFacilitatorRequest(pp, &pp.Accepted))
				if err == nil && sr.Success {
					mu.Lock()
					taken.Add(taken, big.NewInt(each))
					mu.Unlock()
				}
			}
			pr.Error = "payment refused" // a lie: it was just settled
		}
		enc, err := x402.EncodePaymentRequired(pr)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set(x402.HeaderPaymentRequired, enc)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		w.Write([]byte("{}"))
	}))
	victim := c.newPayer(t, 100*each)
	signer, err := evm.NewPrivateKeySignerFromECDSA(victim.key)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(c.nets)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.NewEVM(signer, client.Config{Assets: assets, Policy: client.Policy{Budget: "$0.02"}})
	if err != nil {
		t.Fatal(err)
	}
	hc := cl.HTTPClient()
	refused := false
	for range 10 {
		resp, err := hc.Get(url + "/paid")
		var pe *client.PolicyError
		if errors.As(err, &pe) && pe.Rule == client.RuleBudget {
			refused = true
			break
		}
		if err == nil {
			resp.Body.Close()
		}
	}
	budget := big.NewInt(20_000)
	if taken.Cmp(budget) > 0 {
		t.Errorf("the hostile server took %s atomic units from a client with a budget of %s", taken, budget)
	}
	if !refused {
		t.Errorf("the client kept signing for a server that never served (taken %s)", taken)
	}
	sp, err := cl.Spending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	spent, ok := new(big.Rat).SetString(sp.Spent)
	if !ok {
		t.Fatalf("Spent %q", sp.Spent)
	}
	takenWhole := new(big.Rat).SetFrac(taken, big.NewInt(1_000_000))
	if spent.Cmp(takenWhole) < 0 {
		t.Errorf("the client counts %s spent; the server took %s", sp.Spent, takenWhole.FloatString(6))
	}
	if got := new(big.Int).Sub(big.NewInt(100*each), c.balance(t, victim.addr)); got.Cmp(taken) != 0 {
		t.Errorf("the victim lost %s, the server reports taking %s", got, taken)
	}
}
