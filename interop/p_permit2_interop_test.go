package interop

import (
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// Exact over Permit2, across implementations: the devnet's Permit2 test
// token (EIP-2612, no EIP-3009) paid through the exact Permit2 proxy, by
// payers that never approved Permit2, so that every payment carries an
// EIP-2612 permit in the eip2612GasSponsoring extension.

// permit2Env is the environment naming the Permit2 test token as the asset.
func (w *world) permit2Env(env map[string]string) map[string]string {
	tok := w.dev.PermitToken()
	out := map[string]string{"ASSET": tok.Address.Hex(), "TOKEN_NAME": tok.Name, "TOKEN_VERSION": tok.Version, "ASSET_TRANSFER_METHOD": evm.TransferPermit2}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// permit2Nets is the devnet's registry with the Permit2 test token.
func (w *world) permit2Nets() *evm.Networks {
	nc := w.dev.NetworkConfig()
	nc.Assets = append(nc.Assets, w.dev.PermitTokenAsset())
	nets := &evm.Networks{}
	if err := nets.Add(nc); err != nil {
		w.t.Fatal(err)
	}
	return nets
}

// permit2Word reads a one-word view of the Permit2 test token.
func (w *world) permit2Word(sig string, args ...common.Address) *big.Int {
	w.t.Helper()
	tok := w.dev.PermitToken().Address
	data := crypto.Keccak256([]byte(sig))[:4]
	for _, a := range args {
		data = append(data, common.LeftPadBytes(a[:], 32)...)
	}
	out, err := w.dev.Client().CallContract(w.ctx, ethereum.CallMsg{To: &tok, Data: data}, nil)
	if err != nil || len(out) != 32 {
		w.t.Fatalf("%s: %x %v", sig, out, err)
	}
	return new(big.Int).SetBytes(out)
}

// permit2Paid checks that payer paid amount to the payee in the Permit2
// token since before, with one EIP-2612 permit used in all (nonce 1).
func (w *world) permit2Paid(payer common.Address, beforePayer, beforePayee *big.Int, amount int64) {
	w.t.Helper()
	down := new(big.Int).Sub(beforePayer, w.permit2Word("balanceOf(address)", payer))
	up := new(big.Int).Sub(w.permit2Word("balanceOf(address)", w.addr(acctPayee)), beforePayee)
	if down.Int64() != amount || up.Int64() != amount {
		w.t.Fatalf("payer down %s, payee up %s; want %d each", down, up, amount)
	}
	if n := w.permit2Word("nonces(address)", payer); n.Int64() != 1 {
		w.t.Errorf("EIP-2612 nonce of the payer is %s, want 1: the permit was not submitted", n)
	}
}

// TestOfficialClientPaysGoPermit2Route: @x402/fetch with the official exact
// client (@x402/evm 2.27) pays a go402 x402http route priced in the
// Permit2 token, whose 402 declares eip2612GasSponsoring; go402's
// facilitator settles it with settleWithPermit.
func TestOfficialClientPaysGoPermit2Route(t *testing.T) {
	w := newWorld(t, 0)
	srv := w.goPermit2Server()
	payer := w.addr(acctNodePayer)
	beforePayer, beforePayee := w.permit2Word("balanceOf(address)", payer), w.permit2Word("balanceOf(address)", w.addr(acctPayee))
	r := w.runClient("client-v2.mjs", w.permit2Env(map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + "/forecast"}))
	if r.Status != 200 || r.Body != `{"forecast":"cloudy"}` {
		t.Fatalf("paid: %d %q", r.Status, r.Body)
	}
	w.checkSettled(r.PaymentResponse, w.dev.Network())
	w.permit2Paid(payer, beforePayer, beforePayee, 1000)
}

// goPermit2Server serves GET /forecast, priced 0.001 TPD and declaring
// eip2612GasSponsoring, behind x402http with go402's facilitator.
func (w *world) goPermit2Server() *httptest.Server {
	w.t.Helper()
	fac, _ := w.goFacilitator()
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(w.permit2Nets()),
		Routes: []x402http.Route{{
			Pattern:    "GET /forecast",
			Accepts:    []x402http.PaymentOption{{Network: w.network(), Price: "0.001 " + w.dev.PermitToken().Symbol, PayTo: w.addr(acctPayee).Hex()}},
			Extensions: permit2.DeclareGasSponsoring(),
		}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprint(rw, `{"forecast":"cloudy"}`)
	})))
	w.t.Cleanup(srv.Close)
	return srv
}

// goPermit2Pay pays url with the go402 client (reading the devnet's
// chain) as account i and returns the status and the settlement.
func (w *world) goPermit2Pay(i int, url string) (int, *x402.SettleResponse) {
	t := w.t
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(w.accts[i].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(w.permit2Nets())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(signer, client.Config{Assets: assets, Policy: client.Policy{MaxPerRequest: "0.01 " + w.dev.PermitToken().Symbol},
		RPCURLs: map[x402.Network]string{w.network(): w.dev.RPCURL()}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(w.ctx, http.MethodGet, url, nil)
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rcpt, ok := client.ReceiptFromResponse(resp)
	if !ok {
		t.Fatalf("no receipt: %d", resp.StatusCode)
	}
	return resp.StatusCode, rcpt.Settlement
}

// TestGoClientPaysGoPermit2Route: the go402 client pays a go402 x402http
// route (over HTTP) settled by go402's facilitator, in the Permit2 token: first
// without a Permit2 allowance (EIP-2612 permit, settleWithPermit), then,
// once the payer approved Permit2, without the extension (settle).
func TestGoClientPaysGoPermit2Route(t *testing.T) {
	w := newWorld(t, 0)
	srv := w.goPermit2Server()
	payer := w.addr(acctGoPayer)
	beforePayer, beforePayee := w.permit2Word("balanceOf(address)", payer), w.permit2Word("balanceOf(address)", w.addr(acctPayee))
	status, s := w.goPermit2Pay(acctGoPayer, srv.URL+"/forecast")
	if status != 200 {
		t.Fatalf("sponsored payment: %d %+v", status, s)
	}
	w.checkSettled(s, w.dev.Network())
	w.permit2Paid(payer, beforePayer, beforePayee, 1000)

	// Approve Permit2, then pay again: no permit (the EIP-2612 nonce
	// stays 1), the funds move.
	sender, err := evm.NewSender(w.ctx, evm.SenderConfig{Backend: w.dev.Client(), Key: w.accts[acctGoPayer].PrivateKey, ChainID: w.dev.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	approve := append(crypto.Keccak256([]byte("approve(address,uint256)"))[:4], common.LeftPadBytes(permit2.Address().Bytes(), 32)...)
	approve = append(approve, common.LeftPadBytes(big.NewInt(1_000_000).Bytes(), 32)...)
	tx, err := sender.Send(w.ctx, w.dev.PermitToken().Address, approve)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sender.WaitReceipt(w.ctx, tx.Hash()); err != nil {
		t.Fatal(err)
	}
	status, s = w.goPermit2Pay(acctGoPayer, srv.URL+"/forecast")
	if status != 200 {
		t.Fatalf("approved payment: %d %+v", status, s)
	}
	w.checkSettled(s, w.dev.Network())
	w.permit2Paid(payer, beforePayer, beforePayee, 2000)
}

// TestGoClientPaysOfficialPermit2Server: the go402 client pays an
// @x402/express server whose route is priced in the Permit2 token and
// declares eip2612GasSponsoring (with @x402/extensions), verified and
// settled by the official facilitator (@x402/evm 2.27).
func TestGoClientPaysOfficialPermit2Server(t *testing.T) {
	w := newWorld(t, 0)
	facURL := w.officialFacilitator()
	srv := w.start("server-v2.mjs", "Server", w.permit2Env(map[string]string{
		"FACILITATOR_URL": facURL, "PAY_TO": w.addr(acctPayee).Hex(), "PRICE_AMOUNT": "1000", "DECLARE_EIP2612": "1",
	}))
	payer := w.addr(acctGoPayer)
	beforePayer, beforePayee := w.permit2Word("balanceOf(address)", payer), w.permit2Word("balanceOf(address)", w.addr(acctPayee))
	status, s := w.goPermit2Pay(acctGoPayer, srv.url("/paid"))
	if status != 200 {
		t.Fatalf("paid: %d %+v", status, s)
	}
	w.checkSettled(s, w.dev.Network())
	w.permit2Paid(payer, beforePayer, beforePayee, 1000)
}

// TestOfficialPermit2ServerWithGoFacilitator: @x402/fetch pays an
// @x402/express route priced in the Permit2 token (declaring
// eip2612GasSponsoring) whose facilitator is go402's, over HTTP.
func TestOfficialPermit2ServerWithGoFacilitator(t *testing.T) {
	w := newWorld(t, 0)
	_, facURL := w.goFacilitator()
	srv := w.start("server-v2.mjs", "Server", w.permit2Env(map[string]string{
		"FACILITATOR_URL": facURL, "PAY_TO": w.addr(acctPayee).Hex(), "PRICE_AMOUNT": "1000", "DECLARE_EIP2612": "1",
	}))
	payer := w.addr(acctNodePayer)
	beforePayer, beforePayee := w.permit2Word("balanceOf(address)", payer), w.permit2Word("balanceOf(address)", w.addr(acctPayee))
	r := w.runClient("client-v2.mjs", w.permit2Env(map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.url("/paid")}))
	if r.Status != 200 || r.Body != `{"paid":true,"served":1}` {
		t.Fatalf("paid: %d %q", r.Status, r.Body)
	}
	w.checkSettled(r.PaymentResponse, w.dev.Network())
	w.permit2Paid(payer, beforePayer, beforePayee, 1000)
}
