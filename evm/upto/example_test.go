package upto_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

// A route priced at a maximum of $0.05 that used $0.0123: the server
// settles the used amount with the requirements UsageRequirements returns.
func ExampleServer_UsageRequirements() {
	srv := &upto.Server{Facilitators: map[x402.Network]common.Address{
		// In a real server: upto.FacilitatorAddress(ctx, facilitator, network).
		"eip155:84532": common.HexToAddress("0x1111111111111111111111111111111111111111"),
	}}
	price, _ := x402.ParsePrice("$0.05")
	accepted, err := srv.Requirements("eip155:84532", price, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 60)
	if err != nil {
		panic(err)
	}
	settle, err := srv.UsageRequirements(accepted, x402.NewAmount(12_300))
	fmt.Println(accepted.Amount, settle.Amount, err)
	_, err = srv.UsageRequirements(accepted, x402.NewAmount(60_000))
	fmt.Println(err.(*x402.Error).Reason)
	// Output:
	// 50000 12300 <nil>
	// invalid_upto_evm_payload_settlement_exceeds_amount
}

// The payer's side: register the upto client next to the exact one.
func ExampleRegisterClient() {
	signer := mustSignerForExample()
	reg := new(x402.Registry[x402.SchemeClient])
	if err := upto.RegisterClient(reg, upto.ClientConfig{Signer: signer}); err != nil {
		panic(err)
	}
	_, _, err := reg.Lookup(x402.V2, "upto", "eip155:8453")
	fmt.Println(err)
	// Output: <nil>
}

// A facilitator for upto on a devnet, registered in go402's facilitator:
// its /supported kind announces the address payers must name in their
// witness, which a server reads with FacilitatorAddress.
func ExampleNewFacilitator() {
	ctx := context.Background()
	net, err := devnet.Start(ctx, devnet.Config{Accounts: 1})
	if err != nil {
		panic(err)
	}
	defer net.Close()
	key := net.Accounts()[0]
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: net.Client(), Key: key.PrivateKey, ChainID: net.ChainID()})
	if err != nil {
		panic(err)
	}
	network := x402.Network(net.Network())
	scheme, err := upto.NewFacilitator(ctx, upto.FacilitatorConfig{Network: network, Backend: net.Client(), Sender: sender})
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "upto-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "ledger.db")})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	fac, err := facilitator.New(facilitator.Config{Store: store})
	if err != nil {
		panic(err)
	}
	if err := fac.Register(x402.V2, network, scheme); err != nil {
		panic(err)
	}
	addr, err := upto.FacilitatorAddress(ctx, fac, network)
	fmt.Println(addr == key.Address, err)
	// Output: true <nil>
}
