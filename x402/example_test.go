package x402_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/go402/go402/x402"
)

func ExampleParsePrice() {
	p, err := x402.ParsePrice("$0.001")
	if err != nil {
		panic(err)
	}
	amount, err := p.Atomic(6) // USDC has 6 decimals
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Unit, amount)

	tooPrecise, _ := x402.ParsePrice("$0.0000001")
	_, err = tooPrecise.Atomic(6)
	fmt.Println(errors.Is(err, x402.ErrInvalidPrice))
	// Output:
	// USD 1000
	// true
}

func ExampleEncodePaymentRequired() {
	pr := &x402.PaymentRequired{
		X402Version: x402.V2,
		Error:       "Payment required",
		Resource:    x402.ResourceInfo{URL: "https://api.example.com/weather"},
		Accepts: []x402.PaymentRequirements{{
			Scheme:            "exact",
			Network:           "eip155:84532",
			Amount:            x402.NewAmount(1000),
			Asset:             "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
			PayTo:             "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
			MaxTimeoutSeconds: 60,
			Extra:             x402.Object(`{"name":"USDC","version":"2"}`),
		}},
	}
	header, err := x402.EncodePaymentRequired(pr)
	if err != nil {
		panic(err)
	}
	back, err := x402.DecodePaymentRequired(header)
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Accepts[0].Amount.Format(6), "USDC on", back.Accepts[0].Network)
	// Output: 0.001 USDC on eip155:84532
}

func ExampleDecodePaymentSignature() {
	_, err := x402.DecodePaymentSignature("bm90IGpzb24=") // base64 of "not json"
	var xe *x402.Error
	if errors.As(err, &xe) {
		fmt.Println(xe.Reason, errors.Is(err, x402.ErrMalformedJSON))
	}
	// Output: invalid_payload true
}

func ExampleNetworkFromV1() {
	n, _ := x402.NetworkFromV1("base-sepolia")
	id, _ := n.ChainID()
	fmt.Println(n, id, n.Matches("eip155:*"))
	// Output: eip155:84532 84532 true
}

// exactClient is a stand-in SchemeClient for the example.
type exactClient struct{}

func (exactClient) Scheme() string { return "exact" }
func (exactClient) CreatePayload(context.Context, int, x402.PaymentRequirements) (x402.Object, error) {
	return x402.Object(`{"signature":"0x..."}`), nil
}

func ExampleRegistry() {
	var clients x402.Registry[x402.SchemeClient]
	if err := clients.Register(x402.V2, "exact", "eip155:*", exactClient{}); err != nil {
		panic(err)
	}
	c, kind, err := clients.Lookup(x402.V2, "exact", "eip155:8453")
	fmt.Println(c.Scheme(), kind, err)
	_, _, err = clients.Lookup(x402.V2, "exact", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp")
	fmt.Println(errors.Is(err, x402.ErrNotRegistered))
	// Output:
	// exact v2/exact/eip155:* <nil>
	// true
}
