package devnet_test

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common/math"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm/permit2"
)

// The devnet's Permit2 test token has no EIP-3009: a payer approves Permit2
// once, then pays "exact" over Permit2 or "upto" through the x402 Permit2
// proxies that genesis holds at their canonical addresses.
func ExampleDevnet_PermitToken() {
	ctx := context.Background()
	d, err := devnet.Start(ctx, devnet.Config{Accounts: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	tok := d.PermitToken()
	fmt.Println(tok.Name, tok.Symbol, "version", tok.Version, "transfer method", d.PermitTokenAsset().Method())

	payer := d.Accounts()[0]
	if err := d.ApprovePermit2(ctx, payer, tok.Address, math.MaxBig256); err != nil {
		fmt.Println(err)
		return
	}
	code, err := d.Client().CodeAt(ctx, permit2.ExactProxy(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	bal, err := d.TokenBalanceOf(ctx, tok.Address, payer.Address)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("exact proxy deployed:", len(code) > 0, "payer balance:", bal)
	// Output:
	// Test Permit Dollar TPD version 1 transfer method permit2
	// exact proxy deployed: true payer balance: 1000000000000
}
