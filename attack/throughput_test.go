package attack_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/x402http"
)

// TestQueueKeepsUpWithSlowBlocks: on a chain that mines a block every 2 s
// (nothing is mined on arrival), a serve-then-settle route with the
// shortest allowed validity (61 s) serves 36 paid requests at once. The
// queue's worker (RunSettlements) must settle all of them before they
// expire: settled one after another, one block each, the last ones would
// expire unpaid after being served. The test waits for the outcomes (a
// generous deadline), it does not time them. It is the suite's only slow
// test, and slow only while settlements are sequential.
func TestQueueKeepsUpWithSlowBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for blocks mined every 2 s")
	}
	t.Parallel() // it mostly waits for blocks: overlap it with the other tests
	const requests = 36
	c := newChain(t, devnet.Config{Accounts: 3, BlockTime: 2 * time.Second, NoAutoMine: true})
	svc := c.facilitator(t, facOptions{})
	route := c.route("GET /paid", x402http.ServeThenSettle)
	route.MaxTimeoutSeconds = 61
	h := &counted{}
	s := c.paidServer(t, svc.Facilitator(), "", h, route)
	p := payerFromKey(t, c.accts[0].PrivateKey)
	pr := offer(t, s.url+"/paid")
	attempts := make([]attempt, requests)
	for i := range attempts {
		attempts[i] = attempt{s.url + "/paid", p.sign(t, pr)}
	}
	got := burst(t, attempts)
	for i, a := range got {
		if a.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	done, failed := s.drain(t, 3*time.Minute)
	if done != requests || failed != 0 {
		t.Errorf("%d responses served; %d settled, %d expired or failed unpaid", requests, done, failed)
	}
}
