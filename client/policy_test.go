package client_test

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

func TestPolicyRefusesBeforeSigning(t *testing.T) {
	s := newShop(t)
	token := s.net.Token().Address.Hex()
	other := s.net.Accounts()[4].Address.Hex()
	errNo := errors.New("the user said no")
	cases := []struct {
		rule   string
		policy client.Policy
		msg    string
	}{
		{client.RuleMaxPerRequest, client.Policy{MaxPerRequest: "0.0005"}, "client: payment refused by policy max-per-request: price 0.001 USDC exceeds 0.0005"},
		{client.RuleMaxPerRequest, client.Policy{MaxPerRequest: "1 EURC"}, "the limit is in EURC, the price in USDC"},
		{client.RuleBudget, client.Policy{Budget: "$0.0009"}, "price 0.001 USDC exceeds what is left of the budget $0.0009 (0 spent)"},
		{client.RuleBudgetPerHost, client.Policy{BudgetPerHost: "0.0001"}, "budget for this host 0.0001"},
		{client.RuleNetwork, client.Policy{AllowNetworks: []x402.Network{"eip155:8453", "solana:*"}}, "network eip155:84532 is not allowed"},
		{client.RuleAsset, client.Policy{AllowAssets: []string{other}}, "asset " + token + " is not allowed"},
		{client.RulePayTo, client.Policy{AllowPayTo: []string{other}}, "recipient " + s.payees[0].Hex() + " is not allowed"},
		{client.RuleApproval, client.Policy{Approve: func(_ context.Context, q client.Quote) error {
			if q.Option == nil || q.Option.Price != "0.001 USDC" {
				t.Errorf("Approve got %+v", q)
			}
			return errNo
		}}, "approval: price 0.001 USDC: the user said no"},
	}
	before := s.balance(t, s.payees[0])
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			tc.policy.BudgetFile = filepath.Join(t.TempDir(), "budget.json")
			c, sig := s.client(t, tc.policy)
			_, err := s.get(t, c, s.srv.URL+"/weather")
			var pe *client.PolicyError
			if !errors.As(err, &pe) || pe.Rule != tc.rule {
				t.Fatalf("err = %v, want a %s refusal", err, tc.rule)
			}
			if !strings.Contains(err.Error(), tc.msg) || pe.Price != "0.001 USDC" || pe.Option == nil {
				t.Errorf("error %q, want it to contain %q", err, tc.msg)
			}
			if tc.rule == client.RuleApproval && !errors.Is(err, errNo) {
				t.Error("approval error not wrapped")
			}
			if n := sig.n.Load(); n != 0 {
				t.Errorf("%d signatures for a refused payment", n)
			}
			if sp, _ := c.Spending(t.Context()); sp.Spent != "0" || sp.Reserved != "0" {
				t.Errorf("refusal left spending %+v", sp)
			}
		})
	}
	if s.calls.Load() != 0 || s.balance(t, s.payees[0]).Cmp(before) != 0 {
		t.Error("a refused payment was served or paid")
	}
	// The rules allow what they name.
	c, sig := s.client(t, client.Policy{
		MaxPerRequest: "0.001", Budget: "$0.001", BudgetPerHost: "0.001 usdc",
		AllowNetworks: []x402.Network{"eip155:*"}, AllowAssets: []string{strings.ToLower(token)}, AllowPayTo: []string{s.payees[0].Hex()},
		Approve: func(context.Context, client.Quote) error { return nil },
	})
	if resp, err := s.get(t, c, s.srv.URL+"/weather"); err != nil || resp.StatusCode != 200 || sig.n.Load() != 1 {
		t.Fatalf("allowed payment: %v", err)
	}
}

func TestMostRelevantRefusal(t *testing.T) {
	s := newShop(t)
	// /two offers $0.002 to payee 0 and $0.001 to payee 1; only payee 0
	// is allowed, and its price exceeds the limit.
	c, sig := s.client(t, client.Policy{MaxPerRequest: "0.0015", AllowPayTo: []string{s.payees[0].Hex()}})
	_, err := s.get(t, c, s.srv.URL+"/two")
	var pe *client.PolicyError
	if !errors.As(err, &pe) || pe.Rule != client.RuleMaxPerRequest || pe.Price != "0.002 USDC" || sig.n.Load() != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestBudgetFileSharedAcrossClients(t *testing.T) {
	s := newShop(t)
	file := filepath.Join(t.TempDir(), "state", "budget.json")
	p := client.Policy{Budget: "$0.001", BudgetFile: file}
	first, _ := s.client(t, p)
	if resp, err := s.get(t, first, s.srv.URL+"/weather"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first payment: %v", err)
	}
	// A new Client, as in a later run of the program.
	second, sig := s.client(t, p)
	sp, err := second.Spending(t.Context())
	if err != nil || sp.Spent != "0.001" || sp.Payments != 1 {
		t.Fatalf("spending read back %+v %v", sp, err)
	}
	_, err = s.get(t, second, s.srv.URL+"/weather")
	var pe *client.PolicyError
	if !errors.As(err, &pe) || pe.Rule != client.RuleBudget || pe.Spent != "0.001" || sig.n.Load() != 0 {
		t.Fatalf("second client: err = %v, %d signatures", err, sig.n.Load())
	}
	// A Quote says so too.
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/weather", nil)
	if q, err := second.Quote(t.Context(), req); err != nil || !errors.As(q.Refusal, &pe) || pe.Rule != client.RuleBudget {
		t.Errorf("quote %+v %v", q, err)
	}
}

func TestConcurrentPaymentsStayWithinBudget(t *testing.T) {
	s := newShop(t)
	file := filepath.Join(t.TempDir(), "budget.json")
	p := client.Policy{Budget: "0.003", BudgetFile: file}
	// Two Clients (as two processes would) share the file.
	c1, sig1 := s.client(t, p)
	c2, sig2 := s.client(t, p)
	before := s.balance(t, s.payees[0])
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		paid, refused int
		unexpected    []error
	)
	for i := range 10 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.URL+"/weather", nil)
			resp, err := c.HTTPClient().Do(req)
			mu.Lock()
			defer mu.Unlock()
			var pe *client.PolicyError
			switch {
			case err == nil && resp.StatusCode == 200:
				paid++
			case errors.As(err, &pe) && pe.Rule == client.RuleBudget:
				refused++
			default:
				unexpected = append(unexpected, err)
			}
			if resp != nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if paid != 3 || refused != 7 || len(unexpected) > 0 {
		t.Fatalf("paid %d, refused %d, unexpected %v", paid, refused, unexpected)
	}
	if n := sig1.n.Load() + sig2.n.Load(); n != 3 {
		t.Errorf("%d signatures, want 3", n)
	}
	if got := new(big.Int).Sub(s.balance(t, s.payees[0]), before); got.Cmp(big.NewInt(3000)) != 0 {
		t.Errorf("payee received %s, want 3000", got)
	}
	if sp, _ := c1.Spending(t.Context()); sp.Spent != "0.003" || sp.Reserved != "0" || sp.Payments != 3 {
		t.Errorf("spending %+v", sp)
	}
}

// staticOffer serves a fixed v2 402 for every request.
func staticOffer(t *testing.T, accepts ...x402.PaymentRequirements) *httptest.Server {
	t.Helper()
	pr := &x402.PaymentRequired{X402Version: 2, Resource: x402.ResourceInfo{URL: "https://api.example/data", Description: "data"}, Accepts: accepts}
	h, err := x402.EncodePaymentRequired(pr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(x402.HeaderPaymentRequired, h)
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUnknownAsset(t *testing.T) {
	mk := func(extra string) x402.PaymentRequirements {
		return x402.PaymentRequirements{
			Scheme: "exact", Network: "eip155:8453", Amount: x402.NewAmount(500_000),
			Asset: "0x1111111111111111111111111111111111111111", PayTo: "0x2222222222222222222222222222222222222222",
			MaxTimeoutSeconds: 60, Extra: x402.Object(extra),
		}
	}
	key, _ := evm.NewPrivateKeySigner(strings.Repeat("11", 32))
	quote := func(p client.Policy, req x402.PaymentRequirements) *client.Quote {
		t.Helper()
		srv := staticOffer(t, req)
		c, err := client.NewEVM(key, client.Config{Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		q, err := c.Quote(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	// With a money limit, an asset of unknown decimals is refused.
	q := quote(client.Policy{Budget: "100"}, mk(`{"name":"Mystery","version":"1","decimals":6}`))
	var pe *client.PolicyError
	if !errors.As(q.Refusal, &pe) || pe.Rule != client.RuleUnknownAsset {
		t.Errorf("refusal %v", q.Refusal)
	}
	// Without one it is allowed, priced with extra.decimals if present.
	q = quote(client.Policy{}, mk(`{"name":"Mystery","version":"1","decimals":6}`))
	if q.Refusal != nil || q.Option.Price != "0.5 of token 0x1111111111111111111111111111111111111111" || q.Option.Asset != (client.Asset{}) {
		t.Errorf("quote %+v", q.Option)
	}
	q = quote(client.Policy{}, mk(`{"name":"Mystery","version":"1"}`))
	if q.Refusal != nil || q.Option.Price != "500000 atomic units of token 0x1111111111111111111111111111111111111111" {
		t.Errorf("quote %+v", q.Option)
	}
	// AllowAssets still applies.
	q = quote(client.Policy{AllowAssets: []string{"0x3333333333333333333333333333333333333333"}}, mk(`{"name":"Mystery","version":"1"}`))
	if !errors.As(q.Refusal, &pe) || pe.Rule != client.RuleAsset {
		t.Errorf("refusal %v", q.Refusal)
	}
}

func TestNoPayableOption(t *testing.T) {
	base := x402.PaymentRequirements{
		Scheme: "exact", Network: "eip155:8453", Amount: x402.NewAmount(1000),
		Asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", PayTo: "0x2222222222222222222222222222222222222222",
		MaxTimeoutSeconds: 60, Extra: x402.Object(`{"name":"USD Coin","version":"2"}`),
	}
	unknownScheme, upto, svm, noDomain, unknownMethod := base, base, base, base, base
	unknownScheme.Scheme = "deferred"
	upto.Scheme = "upto" // without extra.facilitatorAddress an upto offer cannot be signed
	svm.Network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
	noDomain.Extra = nil
	unknownMethod.Extra = x402.Object(`{"name":"USD Coin","version":"2","assetTransferMethod":"erc7710"}`) // a method go402 does not pay
	srv := staticOffer(t, unknownScheme, upto, svm, noDomain, unknownMethod)
	sig := &countingSigner{Signer: mustKey(t)}
	c, err := client.NewEVM(sig, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err = c.HTTPClient().Do(r)
	if !errors.Is(err, client.ErrNoPayableOption) || sig.n.Load() != 0 {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`scheme "deferred"`, "facilitatorAddress", `network "solana:`, "EIP-712 name and version", `"erc7710"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// With the default networks, Base USDC is known: its price is shown.
	srv = staticOffer(t, base)
	r, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
	q, err := c.Quote(t.Context(), r)
	if err != nil || q.Option.Price != "0.001 USDC" || q.Option.Asset.Name != "USD Coin" {
		t.Errorf("quote %+v %v", q, err)
	}
}

func mustKey(t *testing.T) evm.Signer {
	t.Helper()
	k, err := evm.NewPrivateKeySigner(strings.Repeat("22", 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewValidatesPolicy(t *testing.T) {
	k := mustKey(t)
	for name, p := range map[string]client.Policy{
		"price":   {MaxPerRequest: "ten dollars"},
		"budget":  {Budget: "-1"},
		"host":    {BudgetPerHost: "1e3"},
		"network": {AllowNetworks: []x402.Network{"ethereum mainnet"}},
		"asset":   {AllowAssets: []string{"USDC"}},
		"payTo":   {AllowPayTo: []string{"0x123"}},
	} {
		if _, err := client.NewEVM(k, client.Config{Policy: p}); err == nil {
			t.Errorf("%s: invalid policy accepted", name)
		}
	}
	if _, err := client.New(client.Config{}); err == nil {
		t.Error("no signer accepted")
	}
	// A corrupt budget file is reported, not reset.
	file := filepath.Join(t.TempDir(), "budget.json")
	if err := writeFile(file, "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NewEVM(k, client.Config{Policy: client.Policy{BudgetFile: file}}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt budget file: %v", err)
	}
	// v1 network names are accepted in AllowNetworks.
	if _, err := client.NewEVM(k, client.Config{Policy: client.Policy{AllowNetworks: []x402.Network{"base-sepolia"}}}); err != nil {
		t.Error(err)
	}
}

// TestBudgetFileKeepsOneUnit: a budget file that counted atomic units of a
// token whose decimals the client did not know refuses to count whole
// units later (and the other way round), so that 1,000 atomic units are
// never read back as 1,000 dollars' or tokens' worth, nor 0.001 as 0.001
// atomic units: a change of configuration cannot reset what was spent.
func TestBudgetFileKeepsOneUnit(t *testing.T) {
	s := newShop(t)
	file := filepath.Join(t.TempDir(), "budget.json")
	usdc := s.net.Token().Address.Hex()
	atomicPolicy := client.Policy{Budget: client.AtomicLimit(x402.NewAmount(100_000), "eip155:84532", usdc), BudgetFile: file}
	unknown, err := client.NewEVM(signer(t, s.payer), client.Config{Assets: &client.Assets{}, Policy: atomicPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := s.get(t, unknown, s.srv.URL+"/weather"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("paying in atomic units: %v", err)
	}
	before := s.balance(t, s.payees[0])
	dollars, sig := s.client(t, client.Policy{Budget: "$1", BudgetFile: file})
	if _, err := s.get(t, dollars, s.srv.URL+"/weather"); err == nil || !strings.Contains(err.Error(), "budget file counts another unit") || sig.n.Load() != 0 {
		t.Fatalf("whole units on an atomic budget file: err %v, %d signatures", err, sig.n.Load())
	}
	if s.balance(t, s.payees[0]).Cmp(before) != 0 {
		t.Fatal("paid although the budget file counts another unit")
	}
	// The same atomic policy goes on counting.
	again, err := client.NewEVM(signer(t, s.payer), client.Config{Assets: &client.Assets{}, Policy: atomicPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := s.get(t, again, s.srv.URL+"/weather"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second atomic payment: %v", err)
	}
	if sp, err := again.Spending(t.Context()); err != nil || sp.Payments != 2 || sp.Spent != "2000" {
		t.Errorf("spending %+v %v, want 2 payments of 1000 atomic units", sp, err)
	}
}
