package devnet_test

import (
	"math/big"
	"testing"

	"github.com/go402/go402/devnet"
)

// A second token is a separate contract with its own balances; the first
// token is untouched.
func TestDeployToken(t *testing.T) {
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if _, err := d.DeployToken(t.Context(), "", "T", "1", nil); err == nil {
		t.Error("a token without a name was deployed")
	}
	tok, err := d.DeployToken(t.Context(), "Other Token", "OTK", "3", big.NewInt(42))
	if err != nil {
		t.Fatal(err)
	}
	want := devnet.TokenInfo{Address: tok.Address, Name: "Other Token", Version: "3", Symbol: "OTK", Decimals: devnet.TokenDecimals}
	if tok != want || tok.Address == d.Token().Address {
		t.Fatalf("token %+v; the devnet USDC is at %s", tok, d.Token().Address)
	}
	for _, a := range d.Accounts() {
		got, err := d.TokenBalanceOf(t.Context(), tok.Address, a.Address)
		if err != nil || got.Int64() != 42 {
			t.Errorf("%s: balance %v, %v; want 42", a.Address, got, err)
		}
		usdc, err := d.BalanceOf(t.Context(), a.Address)
		if err != nil || usdc.Cmp(devnet.DefaultTokenBalance()) != 0 {
			t.Errorf("%s: USDC balance %v, %v", a.Address, usdc, err)
		}
	}
}
