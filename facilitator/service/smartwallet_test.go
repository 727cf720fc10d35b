package service_test

import (
	"fmt"
	"math/big"
	"net/http"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// A smart wallet not deployed yet pays a paid route through the whole
// stack with an ERC-6492 signature: the facilitator deploys the wallet and
// transfers in one transaction, a retried settle returns the first result
// without a second transaction, and the wallet's next payment is a plain
// EIP-1271 one.
func TestServiceSmartWalletPays(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3},
		Facilitator: stacktest.Options{ERC6492Factories: []common.Address{evm.DevnetWalletFactoryAddress()}}})
	ctx := t.Context()
	owner, payee := st.Accounts[0], st.Accounts[1]
	_, srv := st.Serve(t, x402http.Config{Routes: []x402http.Route{
		{Pattern: "GET /data", Accepts: []x402http.PaymentOption{st.Option("$0.01", payee.Address.Hex())}},
	}}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "paid data") }))

	key, err := evm.NewPrivateKeySignerFromECDSA(owner.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	wallet := st.Devnet.SmartWalletSigner(key, big.NewInt(1))
	if err := st.Devnet.Mint(ctx, wallet.Wallet, big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	ec, err := evm.NewExactClient(evm.ExactClientConfig{Signer: wallet})
	if err != nil {
		t.Fatal(err)
	}
	get := func(header string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/data", nil)
		if err != nil {
			t.Fatal(err)
		}
		if header != "" {
			req.Header.Set(x402.HeaderPaymentSignature, header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	payment := func() (string, *x402.PaymentPayload, x402.PaymentRequirements) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/data", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := ec.CreatePayload(ctx, x402.V2, pr.Accepts[0])
		if err != nil {
			t.Fatal(err)
		}
		pp := &x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj}
		h, err := x402.EncodePaymentSignature(pp)
		if err != nil {
			t.Fatal(err)
		}
		return h, pp, pr.Accepts[0]
	}
	balance := func(a common.Address) *big.Int {
		b, err := st.Devnet.BalanceOf(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	payeeBefore := balance(payee.Address)

	h1, pp1, req1 := payment()
	if status := get(h1); status != http.StatusOK {
		t.Fatalf("ERC-6492 payment: status %d", status)
	}
	if code, err := st.Devnet.Client().CodeAt(ctx, wallet.Wallet, nil); err != nil || len(code) == 0 {
		t.Fatalf("the wallet was not deployed at settlement: %d bytes, %v", len(code), err)
	}
	// A retried settle of the same payment: the ledger's first result.
	fr := x402.NewFacilitatorRequest(pp1, &req1)
	s1, err := st.Facilitator.Settle(ctx, fr)
	if err != nil || !s1.Success {
		t.Fatalf("retried settle: %+v %v", s1, err)
	}
	s2, err := st.Facilitator.Settle(ctx, fr)
	if err != nil || !s2.Success || s2.Transaction != s1.Transaction {
		t.Errorf("second retry: %+v %v, want the first result %s", s2, err, s1.Transaction)
	}
	if status := get(h1); status == http.StatusOK {
		t.Error("the same payment was served twice")
	}

	// Deployed now: an EIP-1271 payment.
	h2, _, _ := payment()
	if status := get(h2); status != http.StatusOK {
		t.Fatalf("EIP-1271 payment: status %d", status)
	}
	if got := new(big.Int).Sub(balance(payee.Address), payeeBefore); got.Cmp(big.NewInt(20_000)) != 0 {
		t.Errorf("payee received %s, want 20000 (two payments of $0.01)", got)
	}
}

// go402's own client pays as a smart wallet: evm.SmartWalletSigner is an
// evm.Signer for client.NewEVM. The first payment deploys the wallet, the
// second is an EIP-1271 one.
func TestServiceGo402ClientPaysAsSmartWallet(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3},
		Facilitator: stacktest.Options{ERC6492Factories: []common.Address{evm.DevnetWalletFactoryAddress()}}})
	ctx := t.Context()
	owner, payee := st.Accounts[0], st.Accounts[1]
	_, srv := st.Serve(t, x402http.Config{Routes: []x402http.Route{
		{Pattern: "GET /data", Accepts: []x402http.PaymentOption{st.Option("$0.01", payee.Address.Hex())}},
	}}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "paid data") }))
	key, err := evm.NewPrivateKeySignerFromECDSA(owner.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	wallet := st.Devnet.SmartWalletSigner(key, big.NewInt(7))
	if err := st.Devnet.Mint(ctx, wallet.Wallet, big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(st.Networks)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := client.NewEVM(wallet, client.Config{Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.01"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		resp, err := agent.HTTPClient().Get(srv.URL + "/data")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		rcpt, ok := client.ReceiptFromResponse(resp)
		if resp.StatusCode != http.StatusOK || !ok || rcpt.Settlement == nil || !rcpt.Settlement.Success ||
			rcpt.Settlement.Payer != wallet.Wallet.Hex() {
			t.Fatalf("payment %d: status %d, receipt %+v", i, resp.StatusCode, rcpt)
		}
	}
	if code, err := st.Devnet.Client().CodeAt(ctx, wallet.Wallet, nil); err != nil || len(code) == 0 {
		t.Errorf("the wallet is not deployed: %d bytes, %v", len(code), err)
	}
	if got, err := st.Devnet.BalanceOf(ctx, wallet.Wallet); err != nil || got.Cmp(big.NewInt(1_000_000-20_000)) != 0 {
		t.Errorf("wallet balance %s (%v), want 980000", got, err)
	}
}
