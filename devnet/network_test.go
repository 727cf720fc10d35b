package devnet_test

import (
	"testing"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

func TestRegister(t *testing.T) {
	d, err := devnet.Start(t.Context(), devnet.Config{ChainID: 84532, Accounts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	nets := evm.DefaultNetworks()
	if err := d.Register(nets); err != nil {
		t.Fatal(err)
	}
	// The devnet replaces Base Sepolia's real USDC in this registry.
	p, _ := x402.ParsePrice("$0.001")
	asset, amount, err := nets.ResolvePrice("base-sepolia", p)
	if err != nil || asset.Address != d.Token().Address || amount != x402.NewAmount(1000) || asset.Name != d.Token().Name {
		t.Errorf("%+v %v %v", asset, amount, err)
	}
}
