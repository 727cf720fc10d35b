package config

import (
	"strings"
	"testing"

	"github.com/go402/go402/evm"
)

func TestERC6492Factories(t *testing.T) {
	base := "networks:\n  - network: eip155:84532\n    rpcUrls: [http://a]\n"
	c := mustParse(t, []byte(base), nil)
	if len(c.Networks[0].ERC6492Factories) != 0 {
		t.Errorf("default allowlist = %v, want empty", c.Networks[0].ERC6492Factories)
	}
	c = mustParse(t, []byte(base+"    eip6492Factories: ["+evm.DevnetWalletFactoryAddressHex+"]\n"), nil)
	if got := c.Networks[0].ERC6492Factories; len(got) != 1 || got[0] != evm.DevnetWalletFactoryAddress() {
		t.Errorf("allowlist = %v", got)
	}
	_, err := Parse("test.yaml", []byte(base+"    eip6492Factories: [0x1234]\n"), envMap(nil))
	if err == nil || !strings.Contains(err.Error(), "networks[0].eip6492Factories[0]") {
		t.Errorf("a bad factory address: %v", err)
	}
}
