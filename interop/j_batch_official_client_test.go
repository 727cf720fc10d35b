package interop

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// goBatchFacilitator is goFacilitator holding a receiver-authorizer key
// (acctGoFac's), so servers can delegate claims and refunds to it.
func (w *world) goBatchFacilitator() (*facilitator.Facilitator, string) {
	t := w.t
	t.Helper()
	svc := stacktest.FacilitatorOn(t, w.dev, w.accts[acctGoFac], stacktest.Options{ReceiverAuthorizer: w.accts[acctGoFac].PrivateKey})
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return svc.Facilitator(), srv.URL
}

// goBatchServer serves GET /weather, paid by batch-settlement vouchers,
// behind go402's x402http middleware with a channelserver (SQLite channel
// store) using fac; the receiver authorizer is delegated to the
// facilitator, whose key is account authorizer's.
func (w *world) goBatchServer(fac x402.Facilitator, authorizer int) (*httptest.Server, *channelserver.Server) {
	t := w.t
	t.Helper()
	store, err := sqlite.Open(w.ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "channels.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	scheme := &batchsettlement.Server{Networks: w.nets, ReceiverAuthorizer: w.addr(authorizer)}
	cs, err := channelserver.New(channelserver.Config{Scheme: scheme, Store: store, Facilitator: fac})
	if err != nil {
		t.Fatal(err)
	}
	reg := evm.ServerSchemes(w.nets)
	if err := reg.Register(x402.V2, batchsettlement.Scheme, w.network(), cs); err != nil {
		t.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     reg,
		Routes: []x402http.Route{{
			Pattern:     "GET /weather",
			Accepts:     []x402http.PaymentOption{{Scheme: batchsettlement.Scheme, Network: w.network(), Price: price, PayTo: w.addr(acctPayee).Hex()}},
			Description: "Weather",
			MimeType:    "application/json",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"forecast":"sunny"}`)
	})))
	t.Cleanup(srv.Close)
	return srv, cs
}

// claimAll has a go402 channel server claim every voucher and settle.
func (w *world) claimAll(cs *channelserver.Server) channelserver.ClaimResult {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30e9)
	defer cancel()
	r, err := cs.Claim(ctx, channelserver.ClaimConfig{}, true)
	if err != nil {
		w.t.Fatalf("claim: %v", err)
	}
	return r
}

// officialClientBatchFlow is the official batch-settlement client against a
// go402 route at url: 100 paid calls on one deposit, the server's claim and
// settlement (the payee gains exactly 100 × price), three more calls, a
// corrective 402 round trip after the client loses its channel files, and
// a cooperative refund of the rest.
func (w *world) officialClientBatchFlow(url string, claim func()) {
	t := w.t
	t.Helper()
	const deposit = 2 * batchDeposit
	dir := t.TempDir()
	payer := w.addr(acctNodePayer)
	payeeBefore, escrowBefore, payerBefore := w.balance(w.addr(acctPayee)), w.escrowBalance(), w.balance(payer)
	env := map[string]string{"DEPOSIT": fmt.Sprint(deposit)}

	r := w.batchClient(acctNodePayer, url, dir, 100, env)
	r.checkAllPaid(t, 100, 0)
	if r.Deposits != 1 || r.Vouchers != 99 {
		t.Fatalf("client sent %d deposits and %d vouchers, want 1 and 99", r.Deposits, r.Vouchers)
	}
	if d := new(big.Int).Sub(w.escrowBalance(), escrowBefore); d.Int64() != deposit {
		t.Fatalf("escrow rose by %s, want one deposit of %d", d, deposit)
	}
	id := r.channelID(t)
	claim()
	if g := w.payeeGain(payeeBefore); g.Int64() != 100*priceAtoms {
		t.Fatalf("payee gained %s after the claim, want exactly %d", g, 100*priceAtoms)
	}
	if bal, claimed := w.channelOnChain(id); bal.Int64() != deposit || claimed.Int64() != 100*priceAtoms {
		t.Fatalf("channel on chain: balance %s, totalClaimed %s", bal, claimed)
	}

	t.Log("three more calls, then the client loses its state: corrective 402")
	w.batchClient(acctNodePayer, url, dir, 3, env).checkAllPaid(t, 3, 100*priceAtoms)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	r = w.batchClient(acctNodePayer, url, dir, 2, env)
	r.checkAllPaid(t, 2, 103*priceAtoms)
	if r.Deposits != 0 {
		t.Fatalf("the recovering client deposited %d times", r.Deposits)
	}

	t.Log("cooperative refund")
	rf := w.batchClient(acctNodePayer, url, dir, 0, map[string]string{"ACTION": "refund"})
	if !rf.OK || rf.Refund == nil || !rf.Refund.Success {
		t.Fatalf("refund: %+v", rf)
	}
	const charged = 105 * priceAtoms
	if d := new(big.Int).Sub(payerBefore, w.balance(payer)); d.Int64() != charged {
		t.Fatalf("payer is down %s after the refund, want exactly the %d charged", d, charged)
	}
	if bal, _ := w.channelOnChain(id); bal.Int64() != charged {
		t.Fatalf("channel balance %s after the refund, want %d (all charged, claimed or not)", bal, charged)
	}
}

// TestOfficialBatchClientPaysGoServer: the official batch-settlement client
// (@x402/fetch + @x402/evm) pays a go402 x402http route served by
// channelserver, with go402's facilitator holding the receiver-authorizer
// key.
func TestOfficialBatchClientPaysGoServer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	fac, _ := w.goBatchFacilitator()
	srv, cs := w.goBatchServer(fac, acctGoFac)
	w.officialClientBatchFlow(srv.URL+"/weather", func() {
		r := w.claimAll(cs)
		t.Logf("claimed %d vouchers: %v", r.Vouchers, r.Transactions)
	})
}

// TestOfficialBatchClientPaysGoGateway: the official batch-settlement
// client pays a go402 gateway route configured with scheme:
// batch-settlement, the gateway signing claims and refunds with its own
// receiver-authorizer key (channels.receiverAuthorizerKeyEnv).
func TestOfficialBatchClientPaysGoGateway(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	fac, _ := w.goBatchFacilitator()
	upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"path":%q}`, r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	text := fmt.Sprintf(`facilitator: {embedded: {devnet: true}}
network: %s
payTo: %s
channels:
  sqlite: %s
  receiverAuthorizerKeyEnv: GW_AUTHORIZER_KEY
  claimIntervalSeconds: 3600
routes:
  - path: /api/*
    upstream: %s
    price: %s
    scheme: batch-settlement
`, w.network(), w.addr(acctPayee).Hex(), filepath.Join(t.TempDir(), "channels.db"), upstream.URL, price)
	env := map[string]string{"GW_AUTHORIZER_KEY": w.key(acctPayee)}
	gw := func(text string) (*gateway.Gateway, string) {
		cfg, err := gateway.Parse("gw.yaml", []byte(text), func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("gateway config: %v\n%s", err, text)
		}
		g, err := gateway.New(w.ctx, cfg, gateway.Deps{Facilitator: fac, Networks: []evm.NetworkConfig{w.dev.NetworkConfig()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close() })
		srv := httptest.NewServer(g)
		t.Cleanup(srv.Close)
		return g, srv.URL
	}
	// Without a key the role is delegated to the facilitator's advertised
	// receiverAuthorizer.
	_, delegated := gw(strings.Replace(text, "  receiverAuthorizerKeyEnv: GW_AUTHORIZER_KEY\n", "", 1))
	ex, err := batchsettlement.ParseRequirementsExtra(w.batchRequirements(delegated + "/api/weather").Extra)
	if err != nil || ex.ReceiverAuthorizer != w.addr(acctGoFac) {
		t.Fatalf("delegated receiverAuthorizer: %+v %v, want %s", ex, err, w.addr(acctGoFac))
	}
	g, url := gw(strings.Replace(text, "channels.db", "channels2.db", 1))
	w.officialClientBatchFlow(url+"/api/weather", func() {
		r, err := g.ClaimChannels(w.ctx)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		t.Logf("claimed %d vouchers: %v", r.Vouchers, r.Transactions)
	})
}

// TestGoBatchServerWithOfficialFacilitator: a go402 x402http
// batch-settlement route whose deposits, claims and refunds go to the
// official facilitator (facilitator/remote), which holds the receiver
// authorizer; paid by the official client.
func TestGoBatchServerWithOfficialFacilitator(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	fac, err := remote.New(remote.Config{URL: w.officialBatchFacilitator()})
	if err != nil {
		t.Fatal(err)
	}
	srv, cs := w.goBatchServer(fac, acctNodeFac)
	w.officialClientBatchFlow(srv.URL+"/weather", func() {
		r := w.claimAll(cs)
		t.Logf("claimed %d vouchers: %v", r.Vouchers, r.Transactions)
	})
}
