package x402http_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// A handler sold at $0.001 a request: the unpaid request gets 402 with the
// price, the paid one the weather and the settlement. The payment settles
// on an embedded devnet through go402's facilitator, in process.
func Example() {
	ctx := context.Background()
	chain, err := devnet.Start(ctx, devnet.Config{Accounts: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer chain.Close()
	payer, payee := chain.Accounts()[0], chain.Accounts()[1]
	fac, cleanup := exampleFacilitator(ctx, chain)
	defer cleanup()

	nets := &evm.Networks{}
	if err := chain.Register(nets); err != nil {
		log.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(nets),
		Routes: []x402http.Route{{
			Pattern:     "GET /weather",
			Accepts:     []x402http.PaymentOption{{Network: x402.Network(chain.Network()), Price: "$0.001", PayTo: payee.Address.Hex()}},
			Description: "Current weather",
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /weather", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"sky":"clear"}`)
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()

	// Unpaid: 402, with the price in the PAYMENT-REQUIRED header.
	resp, err := http.Get(srv.URL + "/weather")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		log.Fatal(err)
	}
	req := pr.Accepts[0]
	fmt.Println(resp.StatusCode, req.Scheme, req.Network, req.Amount)

	// Paid: the payer signs the first option and sends the request again
	// (the client package does this by itself).
	signer, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		log.Fatal(err)
	}
	exact, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		log.Fatal(err)
	}
	payload, err := exact.CreatePayload(ctx, x402.V2, req)
	if err != nil {
		log.Fatal(err)
	}
	header, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: req, Payload: payload})
	if err != nil {
		log.Fatal(err)
	}
	paid, _ := http.NewRequest(http.MethodGet, srv.URL+"/weather", nil)
	paid.Header.Set(x402.HeaderPaymentSignature, header)
	resp, err = http.DefaultClient.Do(paid)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	settled, err := x402.DecodePaymentResponse(resp.Header.Get(x402.HeaderPaymentResponse))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, string(body), "settled:", settled.Success)
	// Output:
	// 402 exact eip155:31337 1000
	// 200 {"sky":"clear"} settled: true
}

// exampleFacilitator is go402's facilitator settling "exact" payments on
// chain from its last account, with its ledger in a temporary SQLite file
// (closed and removed by cleanup).
func exampleFacilitator(ctx context.Context, chain *devnet.Devnet) (fac x402.Facilitator, cleanup func()) {
	dir, err := os.MkdirTemp("", "go402-example-")
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "ledger.db")})
	if err != nil {
		log.Fatal(err)
	}
	cleanup = func() {
		store.Close()
		os.RemoveAll(dir)
	}
	accts := chain.Accounts()
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: chain.Client(), Key: accts[len(accts)-1].PrivateKey, ChainID: chain.ChainID()})
	if err != nil {
		log.Fatal(err)
	}
	scheme, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: x402.Network(chain.Network()), Backend: chain.Client(), Sender: sender})
	if err != nil {
		log.Fatal(err)
	}
	f, err := facilitator.New(facilitator.Config{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	if err := f.Register(x402.V2, x402.Network(chain.Network()), scheme); err != nil {
		log.Fatal(err)
	}
	return f, cleanup
}

// A route declaring the payment-identifier extension: a client's resend of
// a paid request whose answer was lost gets the first response back, paid
// once.
func ExampleRoute_paymentIdentifier() {
	route := x402http.Route{
		Pattern:           "POST /orders",
		Accepts:           []x402http.PaymentOption{{Network: "eip155:8453", Price: "$0.10", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}},
		PaymentIdentifier: x402http.PaymentIDRequired,
	}
	// Responses shared by every server of the deployment: a
	// sqlitequeue.Queue, or any x402http.ResponseStore.
	cfg := x402http.Config{Routes: []x402http.Route{route}, Responses: &x402http.MemoryResponses{}}
	fmt.Println(cfg.Routes[0].PaymentIdentifier == x402http.PaymentIDRequired)
	// Output: true
}
