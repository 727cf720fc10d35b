package interop

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// goMeteredServer is a go402 x402http route GET /llm offering upto at a
// maximum of uptoMaxAtoms of the Permit2 token, whose handler charges used
// atoms with x402http.Charge; fac settles it.
func (w *world) goMeteredServer(fac x402.Facilitator, used uint64) *httptest.Server {
	t := w.t
	t.Helper()
	nc := w.dev.NetworkConfig()
	nc.Assets = append(nc.Assets, w.dev.PermitTokenAsset())
	nets := &evm.Networks{}
	if err := nets.Add(nc); err != nil {
		t.Fatal(err)
	}
	fa, err := upto.FacilitatorAddress(w.ctx, fac, w.network())
	if err != nil {
		t.Fatal(err)
	}
	schemes := evm.ServerSchemes(nets)
	if err := upto.RegisterServer(schemes, &upto.Server{Networks: nets, Facilitators: map[x402.Network]common.Address{w.network(): fa}}); err != nil {
		t.Fatal(err)
	}
	maxPrice := fmt.Sprintf("0.%06d %s", uptoMaxAtoms, w.dev.PermitToken().Symbol)
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     schemes,
		Routes: []x402http.Route{{
			Pattern:     "GET /llm",
			Accepts:     []x402http.PaymentOption{{Scheme: upto.Scheme, Network: w.network(), Price: maxPrice, PayTo: w.addr(acctPayee).Hex()}},
			Description: "metered completion",
			MimeType:    "application/json",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if err := x402http.Charge(r, x402.NewAmount(used)); err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"used":%d}`, used)
	})))
	t.Cleanup(srv.Close)
	return srv
}

// TestOfficialUptoClientPaysGoMeteredRoute: the official upto client
// (@x402/evm 2.27) pays a go402 x402http route priced at a maximum, whose
// handler reports what it used; the server settles exactly that (nothing
// for 0), through go402's facilitator and through the official one.
func TestOfficialUptoClientPaysGoMeteredRoute(t *testing.T) {
	w := newWorld(t, 0)
	w.approvePermit2(acctNodePayer)
	goFac, _ := w.goFacilitator()
	nodeFac, err := remote.New(remote.Config{URL: w.start("facilitator-v2.mjs", "Facilitator", map[string]string{"PRIVATE_KEY": w.key(acctNodeFac), "UPTO": "1"}).url("")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		fac  x402.Facilitator
	}{{"go402 facilitator", goFac}, {"official facilitator", nodeFac}} {
		for _, used := range []uint64{uptoUsedAtoms, 0} {
			t.Run(fmt.Sprintf("%s, used %d", f.name, used), func(t *testing.T) {
				w := w.sub(t)
				srv := w.goMeteredServer(f.fac, used)
				b := w.tokenSnapshot(w.addr(acctNodePayer), w.addr(acctPayee))
				r := w.runClient("client-upto.mjs", w.uptoEnv(map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + "/llm"}))
				if r.Status != 200 || r.Body != fmt.Sprintf(`{"used":%d}`, used) {
					t.Fatalf("paid: %d %q", r.Status, r.Body)
				}
				w.checkUptoSettled(r.PaymentResponse, int64(used))
				b.moved(int64(used))
			})
		}
	}
}
