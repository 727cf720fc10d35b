package evm_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// The two sides of the "exact" scheme that need no chain: the server prices
// a route in USDC on Base Sepolia, the payer signs an EIP-3009
// authorization for it, and the server reads back what the payment spends
// and the key its facilitator settles it under at most once.
func Example() {
	server := &evm.ExactServer{Networks: evm.DefaultNetworks()}
	price, err := x402.ParsePrice("$0.001")
	if err != nil {
		log.Fatal(err)
	}
	req, err := server.Requirements("eip155:84532", price, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 300)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(req.Scheme, req.Network, req.Amount, req.Asset, string(req.Extra))

	signer, err := evm.NewPrivateKeySigner(strings.Repeat("ab", 32)) // an example key
	if err != nil {
		log.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	payer, err := evm.NewExactClient(evm.ExactClientConfig{
		Signer: signer,
		Now:    func() time.Time { return now },
		Rand:   bytes.NewReader(make([]byte, 32)), // an example nonce: use crypto/rand (the default)
	})
	if err != nil {
		log.Fatal(err)
	}
	payload, err := payer.CreatePayload(context.Background(), x402.V2, req)
	if err != nil {
		log.Fatal(err)
	}

	id, err := server.Identify(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: payload})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("payer", id.Key.Payer)
	fmt.Println("pays", id.Amount, "to", id.PayTo, "until", id.Expires.UTC().Format(time.RFC3339))
	fmt.Println("settle-once key", id.Key)
	// Output:
	// exact eip155:84532 1000 0x036CbD53842c5426634e7929541eC2318f3dCF7e {"name":"USDC","version":"2"}
	// payer 0xe239cdc5fbe977a8a141b72194d3cf8c41bc5bc6
	// pays 1000 to 0x209693bc6afc0c5328ba36faf03c514ef312287c until 2026-01-01T12:05:00Z
	// settle-once key eip155:84532|0x036cbd53842c5426634e7929541ec2318f3dcf7e|0xe239cdc5fbe977a8a141b72194d3cf8c41bc5bc6|0x0000000000000000000000000000000000000000000000000000000000000000
}

// An "exact" payment in a token without EIP-3009, through Permit2: the
// server prices MegaUSD on MegaETH (extra.assetTransferMethod "permit2"),
// the payer signs a Permit2 transfer to the x402 exact proxy, and the
// server keys it by the owner's Permit2 nonce. With an RPC endpoint
// (ExactClientConfig.RPCURLs) and a 402 declaring eip2612GasSponsoring,
// CreatePayloadExtensions would also sign an EIP-2612 permit for a payer
// that never approved Permit2.
func ExampleExactClient_CreatePayloadExtensions() {
	server := &evm.ExactServer{Networks: evm.DefaultNetworks()}
	price, err := x402.ParsePrice("0.5 MegaUSD")
	if err != nil {
		log.Fatal(err)
	}
	req, err := server.Requirements("eip155:4326", price, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 300)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(req.Amount, string(req.Extra))

	signer, err := evm.NewPrivateKeySigner(strings.Repeat("ab", 32)) // an example key
	if err != nil {
		log.Fatal(err)
	}
	payer, err := evm.NewExactClient(evm.ExactClientConfig{
		Signer: signer,
		Now:    func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) },
		Rand:   bytes.NewReader(append(make([]byte, 31), 42)), // an example nonce: use crypto/rand (the default)
	})
	if err != nil {
		log.Fatal(err)
	}
	payload, extensions, err := payer.CreatePayloadExtensions(context.Background(), x402.V2, req, nil)
	if err != nil {
		log.Fatal(err)
	}
	spender, _ := payload.Field("permit2Authorization")
	fmt.Println(strings.Contains(string(spender), `"spender":"0x402085c248EeA27D92E8b30b2C58ed07f9E20001"`), extensions == nil)

	id, err := server.Identify(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: payload})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("settle-once key", id.Key)
	// Output:
	// 500000000000000000 {"name":"MegaUSD","version":"1","assetTransferMethod":"permit2"}
	// true true
	// settle-once key eip155:4326|0xfafddbb3fc7688494971a79cc65dca3ef82079e7|0xe239cdc5fbe977a8a141b72194d3cf8c41bc5bc6|42
}
