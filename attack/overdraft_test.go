package attack_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// overdraftSigners is how many authorizations the attacker signs while
// holding the price of one.
const overdraftSigners = 5

// TestOverdraft: a payer holding exactly one price signs five
// authorizations (distinct nonces) and sends them at once. Each verifies
// alone (the balance covers each), but only one can ever settle: at most
// one response may be served, the handler may run at most once, and the
// facilitator may broadcast at most one settlement. On both ledgers, with
// the facilitator in process and over HTTP (facilitator/remote), on both
// policies.
func TestOverdraft(t *testing.T) {
	for _, l := range ledgers {
		t.Run(string(l), func(t *testing.T) {
			c := newChain(t, devnet.Config{Accounts: 4})
			svc := c.facilitator(t, facOptions{ledger: l})
			signer := c.accts[len(c.accts)-1].Address
			for _, transport := range []string{"in-process", "remote"} {
				fac := x402.Facilitator(svc.Facilitator())
				if transport == "remote" {
					fac = remoteFacilitator(t, svc)
				}
				for _, policy := range []x402http.Policy{x402http.ServeThenSettle, x402http.SettleBeforeServe} {
					t.Run(fmt.Sprintf("%s/%s", transport, policyName(policy)), func(t *testing.T) {
						overdraft(t, c, []x402.Facilitator{fac}, policy, signer)
					})
				}
			}
		})
	}
	// Two servers, each with its own facilitator instance (its own
	// settlement key), on one PostgreSQL ledger; the authorizations are
	// spread over both.
	t.Run("two-facilitators-one-postgres", func(t *testing.T) {
		c := newChain(t, devnet.Config{Accounts: 5})
		schema := newSchema(t)
		a := c.facilitator(t, facOptions{ledger: onPostgres, schema: schema, signer: 4, instance: "a"})
		b := c.facilitator(t, facOptions{ledger: onPostgres, schema: schema, signer: 3, instance: "b"})
		for _, policy := range []x402http.Policy{x402http.ServeThenSettle, x402http.SettleBeforeServe} {
			t.Run(policyName(policy), func(t *testing.T) {
				overdraft(t, c, []x402.Facilitator{a.Facilitator(), b.Facilitator()}, policy, c.accts[4].Address, c.accts[3].Address)
			})
		}
	})
}

func policyName(p x402http.Policy) string {
	if p == x402http.ServeThenSettle {
		return "serve-then-settle"
	}
	return "settle-before-serve"
}

// overdraft runs the attack against one server per facilitator in facs
// (each with its own queue), whose settlement keys are signers.
func overdraft(t *testing.T, c *chain, facs []x402.Facilitator, policy x402http.Policy, signers ...common.Address) {
	p := c.newPayer(t, priceAtomic)
	h := &counted{}
	sent0 := c.sent(t, signers)
	var servers []*paidServer
	for _, fac := range facs {
		servers = append(servers, c.paidServer(t, fac, "", h, c.route("GET /paid", policy)))
	}
	pr := offer(t, servers[0].url+"/paid")
	var attempts []attempt
	for i := range overdraftSigners {
		attempts = append(attempts, attempt{servers[i%len(servers)].url + "/paid", p.sign(t, pr)})
	}
	got := burst(t, attempts)
	// Let every queued settlement reach its outcome before counting the
	// broadcasts.
	for _, s := range servers {
		s.drain(t, drainTimeout)
	}
	sent := c.sent(t, signers) - sent0
	if n := served(got); n > 1 {
		t.Errorf("%d responses served for %d authorizations backed by the price of one (statuses %v)", n, overdraftSigners, statuses(got))
	}
	if h.total() > 1 {
		t.Errorf("the handler ran %d times for a payer who can pay once", h.total())
	}
	if sent > 1 {
		t.Errorf("the facilitators broadcast %d settlements for a payer who can pay once", sent)
	}
	for i, a := range got {
		if a.status != http.StatusOK && a.status != http.StatusPaymentRequired {
			t.Errorf("request %d: status %d, want 200 or 402", i, a.status)
		}
	}
}

// drainTimeout bounds the wait for queued settlements.
const drainTimeout = 90 * time.Second
