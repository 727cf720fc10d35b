package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// A program pays for an API with a key from the environment, at most one
// cent per request and one dollar in total across runs.
func Example() {
	signer, err := client.LoadKeyFromEnv("GO402_KEY")
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.NewEVM(signer, client.Config{
		Policy: client.Policy{
			MaxPerRequest: "$0.01",
			Budget:        "$1",
			BudgetFile:    "go402-spending.json",
			AllowNetworks: []x402.Network{"eip155:8453"}, // Base mainnet only
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.HTTPClient().Get("https://api.example.com/weather")
	if err != nil {
		log.Fatal(err) // a *client.PolicyError, a *client.PaymentError, ...
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if r, ok := client.ReceiptFromResponse(resp); ok && r.Settlement != nil {
		fmt.Printf("paid %s in transaction %s\n", r.Option.Price, r.Settlement.Transaction)
	}
	fmt.Printf("%s\n", body)
}

// Quote tells what a request would cost and whether the policy would pay,
// without signing anything.
func ExampleClient_Quote() {
	// A server asking for 0.25 USDC on Base.
	pr := &x402.PaymentRequired{
		X402Version: 2,
		Resource:    x402.ResourceInfo{URL: "https://api.example.com/report", Description: "Quarterly report"},
		Accepts: []x402.PaymentRequirements{{
			Scheme: "exact", Network: "eip155:8453", Amount: x402.NewAmount(250_000),
			Asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
			MaxTimeoutSeconds: 60, Extra: x402.Object(`{"name":"USD Coin","version":"2"}`),
		}},
	}
	header, _ := x402.EncodePaymentRequired(pr)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(x402.HeaderPaymentRequired, header)
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	defer srv.Close()

	signer, _ := evm.NewPrivateKeySigner(strings.Repeat("ab", 32)) // an example key
	c, err := client.NewEVM(signer, client.Config{Policy: client.Policy{MaxPerRequest: "$0.10"}})
	if err != nil {
		log.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/report", nil)
	q, err := c.Quote(context.Background(), req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(q.Resource.Description, "costs", q.Option.Price)
	fmt.Println(q.Refusal)
	// Output:
	// Quarterly report costs 0.25 USDC
	// client: payment refused by policy max-per-request: price 0.25 USDC exceeds $0.1
}
