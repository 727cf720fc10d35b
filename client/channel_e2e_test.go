package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// The go402 client pays a go402 batch-settlement route end to end on the
// devnet: the x402http middleware with channelserver (vouchers verified
// locally, charges in SQLite), the go402 facilitator submitting the
// deposit to go402's contracts. One deposit, then vouchers; a payer that
// lost its state recovers through the server's corrective 402; a
// cooperative refund returns the unclaimed balance.
func TestChannelEndToEndGo402Server(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet")
	}
	ctx := context.Background()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 4, RPCAddr: "127.0.0.1:0"}, Signer: 3})
	receiver, authorizer := st.Accounts[1], st.Accounts[2]
	auth, err := evm.NewPrivateKeySignerFromECDSA(authorizer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "channels.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	scheme := &batchsettlement.Server{ReceiverAuthorizer: auth.Address(), Networks: st.Networks}
	cs, err := channelserver.New(channelserver.Config{Scheme: scheme, Store: store, Facilitator: st.Facilitator, Authorizer: auth})
	if err != nil {
		t.Fatal(err)
	}
	reg := &x402.Registry[x402.SchemeServer]{}
	if err := reg.Register(x402.V2, batchsettlement.Scheme, st.Network, cs); err != nil {
		t.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{Facilitator: st.Facilitator, Schemes: reg, Routes: []x402http.Route{{
		Pattern: "GET /paid",
		Accepts: []x402http.PaymentOption{{Scheme: batchsettlement.Scheme, Network: st.Network, Price: "$0.001", PayTo: receiver.Address.Hex()}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "paid content")
	})))
	t.Cleanup(srv.Close)
	url := srv.URL + "/paid"

	signer, err := evm.NewPrivateKeySignerFromECDSA(st.Accounts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	reader := batchsettlement.NewRPCChannelReader(map[x402.Network]string{st.Network: st.Devnet.RPCURL()})
	mk := func(s *batchsettlement.ChannelStore) (*batchsettlement.Payer, *client.Client) {
		p, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: signer, Reader: reader, Store: s})
		if err != nil {
			t.Fatal(err)
		}
		sreg := new(x402.Registry[x402.SchemeClient])
		if err := sreg.Register(x402.V2, batchsettlement.Scheme, "eip155:*", p); err != nil {
			t.Fatal(err)
		}
		c, err := client.New(client.Config{Schemes: sreg, Assets: assetsOf(t, st.Networks), Policy: client.Policy{Budget: "$1"}})
		if err != nil {
			t.Fatal(err)
		}
		return p, c
	}
	p1, c1 := mk(nil)
	for i := range 5 {
		if err := get(t, c1, url); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	probe, err := p1.Store().List(ctx)
	if err != nil || len(probe) != 1 {
		t.Fatalf("records %v %v", probe, err)
	}
	rec := probe[0]
	bal, _, err := reader.ReadChannel(ctx, st.Network, rec.ChannelID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Charged != x402.NewAmount(5000) || bal != x402.NewAmount(10_000) || rec.Balance != bal {
		t.Fatalf("charged %s, balance %s (chain %s)", rec.Charged, rec.Balance, bal)
	}
	sp, _ := c1.Spending(ctx)
	if sp.Spent != "0.01" || sp.Payments != 5 {
		t.Fatalf("spending %+v", sp)
	}

	// Lost state: cold start from the chain, corrective 402, recovery.
	p2, c2 := mk(nil)
	if err := get(t, c2, url); err != nil {
		t.Fatal(err)
	}
	rec2, _, _ := p2.Store().Get(ctx, st.Network, rec.ChannelID)
	if rec2.Charged != x402.NewAmount(6000) {
		t.Fatalf("after recovery charged %s", rec2.Charged)
	}

	// Cooperative refund of what is left.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := p2.Refund(rctx, nil, url, rec.ChannelID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Refunded != x402.NewAmount(4000) {
		t.Fatalf("refunded %s", res.Refunded)
	}
	bal, claimed, err := reader.ReadChannel(ctx, st.Network, rec.ChannelID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the refund: channels() = (%s, %s), tx %s", bal, claimed, res.Settlement.Transaction)
}
