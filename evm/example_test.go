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
