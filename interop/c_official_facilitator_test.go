package interop

import (
	"testing"

	"github.com/go402/go402/facilitator/remote"
)

// officialFacilitator starts facilitator-v2.mjs (x402Facilitator with the
// @x402/evm exact scheme, settlement key acctNodeFac) and returns its URL.
func (w *world) officialFacilitator() string {
	w.t.Helper()
	p := w.start("facilitator-v2.mjs", "Facilitator", map[string]string{"PRIVATE_KEY": w.key(acctNodeFac)})
	return p.url("")
}

// TestGoServerWithOfficialFacilitator: a go402 x402http server verifies and
// settles through the official v2 facilitator over HTTP
// (facilitator/remote), paid by the go402 client and by @x402/fetch.
func TestGoServerWithOfficialFacilitator(t *testing.T) {
	w := newWorld(t, 0)
	fac, err := remote.New(remote.Config{URL: w.officialFacilitator()})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := fac.Supported(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range sup.Kinds {
		if k.X402Version == 2 && k.Scheme == "exact" && string(k.Network) == w.dev.Network() {
			found = true
		}
	}
	if !found {
		t.Fatalf("official facilitator /supported lacks exact on %s: %+v", w.dev.Network(), sup.Kinds)
	}
	srv := w.goServer(fac)

	t.Run("go402 client", func(t *testing.T) {
		w := w.sub(t)
		b := w.snapshot(w.addr(acctGoPayer), w.addr(acctPayee))
		status, body, rcpt := w.goPay(acctGoPayer, srv.URL+"/weather")
		if status != 200 || body != `{"forecast":"sunny"}` {
			t.Fatalf("paid: %d %q", status, body)
		}
		w.checkSettled(rcpt.Settlement, w.dev.Network())
		b.moved(priceAtoms)
	})
	t.Run("official client", func(t *testing.T) {
		w := w.sub(t)
		b := w.snapshot(w.addr(acctNodePayer), w.addr(acctPayee))
		r := w.runClient("client-v2.mjs", map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + "/weather"})
		if r.Status != 200 || r.Body != `{"forecast":"sunny"}` {
			t.Fatalf("paid: %d %q", r.Status, r.Body)
		}
		w.checkSettled(r.PaymentResponse, w.dev.Network())
		b.moved(priceAtoms)
	})
}
