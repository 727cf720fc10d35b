package attack_test

import (
	"context"
	"math/big"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// TestOneAuthorizationManyDoors: one authorization, copied onto parallel
// requests to every door that accepts it, buys exactly one response: two
// routes of one server with equal terms; two replicas of a server sharing
// one sqlitequeue file; two servers each with its own facilitator instance
// on one PostgreSQL ledger.
func TestOneAuthorizationManyDoors(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 5})
	payer := c.newPayer(t, 10*priceAtomic)
	for _, policy := range []x402http.Policy{x402http.ServeThenSettle, x402http.SettleBeforeServe} {
		t.Run("two-routes/"+policyName(policy), func(t *testing.T) {
			svc := c.facilitator(t, facOptions{})
			h := &counted{}
			s := c.paidServer(t, svc.Facilitator(), "", h, c.route("GET /a", policy), c.route("GET /b", policy))
			pay := payer.sign(t, offer(t, s.url+"/a"))
			got := burst(t, []attempt{{s.url + "/a", pay}, {s.url + "/b", pay}, {s.url + "/a", pay}, {s.url + "/b", pay}})
			s.drain(t, drainTimeout)
			oneResponse(t, got, h)
		})
		t.Run("two-replicas-one-queue/"+policyName(policy), func(t *testing.T) {
			svc := c.facilitator(t, facOptions{})
			h := &counted{}
			path := filepath.Join(t.TempDir(), "queue.db")
			r1 := c.paidServer(t, svc.Facilitator(), path, h, c.route("GET /paid", policy))
			r2 := c.paidServer(t, svc.Facilitator(), path, h, c.route("GET /paid", policy))
			pay := payer.sign(t, offer(t, r1.url+"/paid"))
			got := burst(t, []attempt{{r1.url + "/paid", pay}, {r2.url + "/paid", pay}, {r1.url + "/paid", pay}, {r2.url + "/paid", pay}})
			r1.drain(t, drainTimeout)
			oneResponse(t, got, h)
		})
	}
	// The default middleware (no Queue): each server has its own
	// facilitator instance, both on one PostgreSQL ledger.
	t.Run("two-facilitators-one-postgres", func(t *testing.T) {
		schema := newSchema(t)
		a := c.facilitator(t, facOptions{ledger: onPostgres, schema: schema, signer: 4, instance: "a"})
		b := c.facilitator(t, facOptions{ledger: onPostgres, schema: schema, signer: 3, instance: "b"})
		h := &counted{}
		_, u1 := c.server(t, a.Facilitator(), nil, h, c.route("GET /paid", x402http.SettleBeforeServe))
		_, u2 := c.server(t, b.Facilitator(), nil, h, c.route("GET /paid", x402http.SettleBeforeServe))
		pay := payer.sign(t, offer(t, u1+"/paid"))
		got := burst(t, []attempt{{u1 + "/paid", pay}, {u2 + "/paid", pay}, {u1 + "/paid", pay}, {u2 + "/paid", pay}})
		if n := served(got); n != 1 {
			t.Errorf("%d responses served for one authorization (statuses %v)", n, statuses(got))
		}
		// And after the settlement, on either server.
		for _, u := range []string{u1, u2} {
			if a := get(t.Context(), u+"/paid", pay); a.status == http.StatusOK {
				t.Errorf("%s: the settled authorization bought another response", u)
			}
		}
	})
	// Serve-then-settle servers that share nothing but the facilitators'
	// ledger (each its own queue, its own facilitator instance): only the
	// ledger's reservation of the verified authorization stands between
	// the payer and two responses.
	t.Run("two-facilitators-one-postgres/serve-then-settle", func(t *testing.T) {
		schema := newSchema(t)
		a := c.facilitator(t, facOptions{ledger: onPostgres, schema: schema, signer: 4, instance: "a"})
		b := c.facilitator(t, facOptions{ledger: onPostgres, schema: schema, signer: 3, instance: "b"})
		h := &counted{}
		s1 := c.paidServer(t, a.Facilitator(), "", h, c.route("GET /paid", x402http.ServeThenSettle))
		s2 := c.paidServer(t, b.Facilitator(), "", h, c.route("GET /paid", x402http.ServeThenSettle))
		pay := payer.sign(t, offer(t, s1.url+"/paid"))
		got := burst(t, []attempt{{s1.url + "/paid", pay}, {s2.url + "/paid", pay}, {s1.url + "/paid", pay}, {s2.url + "/paid", pay}})
		s1.drain(t, drainTimeout)
		s2.drain(t, drainTimeout)
		oneResponse(t, got, h)
	})
}

// oneResponse checks that exactly one answer was a 200 and the handler ran
// once.
func oneResponse(t *testing.T, got []answer, h *counted) {
	t.Helper()
	if n := served(got); n != 1 {
		t.Errorf("%d responses served for one authorization (statuses %v)", n, statuses(got))
	}
	if h.total() != 1 {
		t.Errorf("the handler ran %d times for one authorization", h.total())
	}
}

// laggingBackend is a chain backend whose reads (eth_call) answer at the
// block before the latest, as a load-balanced RPC provider whose nodes
// lag does. It hides the JSON-RPC client, so that the facilitator's batched
// reads go through it too.
type laggingBackend struct {
	evm.ChainBackend
	eth *ethclient.Client
}

func (b laggingBackend) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	if block == nil {
		n, err := b.eth.BlockNumber(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			block = new(big.Int).SetUint64(n - 1)
		}
	}
	return b.eth.CallContract(ctx, msg, block)
}

// TestReplayAfterSettlementOnALaggingRPC: the facilitator's chain reads lag
// one block, so right after a settlement its authorizationState still says
// unused. The settled header, presented again to the default middleware
// (no Queue), to the same server or to a restarted one, must not buy a
// second response. On both ledgers.
func TestReplayAfterSettlementOnALaggingRPC(t *testing.T) {
	for _, l := range ledgers {
		t.Run(string(l), func(t *testing.T) {
			c := newChain(t, devnet.Config{Accounts: 4})
			svc := c.facilitator(t, facOptions{ledger: l, backend: laggingBackend{ChainBackend: c.dev.Client(), eth: c.dev.Client()}})
			h := &counted{}
			route := c.route("GET /paid", x402http.SettleBeforeServe)
			_, url := c.server(t, svc.Facilitator(), nil, h, route)
			p := c.newPayer(t, 10*priceAtomic)
			c.newPayer(t, 1) // one more block, so the lagging reads see the mint
			pay := p.sign(t, offer(t, url+"/paid"))
			if a := get(t.Context(), url+"/paid", pay); a.status != http.StatusOK {
				t.Fatalf("first payment: %d %s", a.status, a.body)
			}
			if a := get(t.Context(), url+"/paid", pay); a.status == http.StatusOK {
				t.Errorf("the same server served the settled header again")
			}
			// A restart: a new middleware, the same facilitator.
			_, again := c.server(t, svc.Facilitator(), nil, h, route)
			if a := get(t.Context(), again+"/paid", pay); a.status == http.StatusOK {
				t.Errorf("a restarted server served the settled header again")
			}
			if got := c.balance(t, p.addr); got.Cmp(big.NewInt(9*priceAtomic)) != 0 {
				t.Errorf("payer balance %s, want %d: the payment settled more than once", got, 9*priceAtomic)
			}
		})
	}
}

// TestUnchargedAnswerIsNotReusable: a paid request answered 302 is
// charged (the default: 2xx and 3xx), one answered 500 is not. Presented
// again, neither header buys another answer: else an authorization that
// never settles keeps buying uncharged answers (a redirect to the
// content, an error page with data), as many as asked.
func TestUnchargedAnswerIsNotReusable(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 4})
	svc := c.facilitator(t, facOptions{})
	h := &counted{fn: func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/download/secret-token", http.StatusFound)
			return
		}
		http.Error(w, "stack trace with data", http.StatusInternalServerError)
	}}
	_, url := c.server(t, svc.Facilitator(), nil, h,
		c.route("GET /moved", x402http.SettleBeforeServe), c.route("GET /fail", x402http.SettleBeforeServe))
	p := c.newPayer(t, 10*priceAtomic)
	for path, status := range map[string]int{"/moved": http.StatusFound, "/fail": http.StatusInternalServerError} {
		pay := p.sign(t, offer(t, url+path))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+path, nil)
		req.Header.Set(x402.HeaderPaymentSignature, pay)
		first := doNoRedirect(req)
		if first.err != nil || first.status != status {
			t.Fatalf("%s first: %d %v", path, first.status, first.err)
		}
		req2, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+path, nil)
		req2.Header.Set(x402.HeaderPaymentSignature, pay)
		if again := doNoRedirect(req2); again.status != http.StatusPaymentRequired {
			t.Errorf("%s: the header of an uncharged %d answer was accepted again: %d", path, status, again.status)
		}
	}
	if n := h.total(); n != 2 {
		t.Errorf("the handlers ran %d times for two authorizations", n)
	}
	if got := c.balance(t, p.addr); got.Cmp(big.NewInt(9*priceAtomic)) != 0 {
		t.Errorf("payer balance %s, want %d: the redirect charged once, the error not at all", got, 9*priceAtomic)
	}
}

// doNoRedirect sends req without following redirects.
func doNoRedirect(req *http.Request) answer {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	return answer{status: resp.StatusCode, header: resp.Header}
}
