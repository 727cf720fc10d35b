package batchsettlement_test

import (
	"context"
	"fmt"
	"log"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// A facilitator's batch-settlement scheme on a chain, holding a
// receiver-authorizer key that servers may delegate to: /supported
// advertises it. Register it with a facilitator.Facilitator for x402 v2
// (go402 facilitator does so on every network it serves).
func ExampleNewFacilitator() {
	ctx := context.Background()
	d, err := devnet.Start(ctx, devnet.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	accts := d.Accounts()
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: d.Client(), Key: accts[len(accts)-1].PrivateKey})
	if err != nil {
		log.Fatal(err)
	}
	ra, err := evm.NewPrivateKeySigner(exampleKey)
	if err != nil {
		log.Fatal(err)
	}
	f, err := batchsettlement.NewFacilitator(ctx, batchsettlement.FacilitatorConfig{
		Network: x402.Network(d.Network()), Backend: d.Client(), Sender: sender, ReceiverAuthorizer: ra,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Scheme(), f.Network())
	fmt.Println(string(f.SupportedExtra(f.Network())))
	// Output:
	// batch-settlement eip155:31337
	// {"receiverAuthorizer":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}
}
