package facilitator_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

// go402's facilitator in process: the EVM "exact" scheme registered on an
// embedded devnet, a SQLite ledger, and one payment verified and settled.
// Settling it again returns the first settlement: an authorization is
// settled at most once.
func Example() {
	ctx := context.Background()
	chain, err := devnet.Start(ctx, devnet.Config{Accounts: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer chain.Close()
	accts := chain.Accounts()
	payer, payee, settler := accts[0], accts[1], accts[2]
	network := x402.Network(chain.Network())

	dir, err := os.MkdirTemp("", "go402-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "ledger.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// The scheme settles from the settler's key; the facilitator keeps the
	// ledger and the settle-once rule.
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: chain.Client(), Key: settler.PrivateKey, ChainID: chain.ChainID()})
	if err != nil {
		log.Fatal(err)
	}
	scheme, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: network, Backend: chain.Client(), Sender: sender})
	if err != nil {
		log.Fatal(err)
	}
	fac, err := facilitator.New(facilitator.Config{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	defer fac.Shutdown(ctx)
	if err := fac.Register(x402.V2, network, scheme); err != nil {
		log.Fatal(err)
	}

	// A payment of 0.001 test USDC, as a resource server would receive it.
	nets := &evm.Networks{}
	if err := chain.Register(nets); err != nil {
		log.Fatal(err)
	}
	price, err := x402.ParsePrice("$0.001")
	if err != nil {
		log.Fatal(err)
	}
	req, err := nets.Requirements(network, price, payee.Address, 300)
	if err != nil {
		log.Fatal(err)
	}
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
	request := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: payload}, &req)

	verdict, err := fac.Verify(ctx, request)
	if err != nil {
		log.Fatal(err) // no verdict: chain or ledger failure
	}
	fmt.Println("valid:", verdict.IsValid)
	first, err := fac.Settle(ctx, request)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("settled:", first.Success, "payer:", first.Payer == payer.Address.Hex())
	again, err := fac.Settle(ctx, request)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("settled again:", again.Success, "same transaction:", again.Transaction == first.Transaction)

	before := devnet.DefaultTokenBalance()
	after, err := chain.BalanceOf(ctx, payee.Address)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("payee received:", after.Sub(after, before))
	// Output:
	// valid: true
	// settled: true payer: true
	// settled again: true same transaction: true
	// payee received: 1000
}
