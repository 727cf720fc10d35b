package evm_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
)

// The canonical Permit2 and x402 Permit2 proxy addresses are EIP-55
// checksummed and the functions return them.
func TestPermit2Addresses(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		addr common.Address
	}{
		{evm.Permit2AddressHex, evm.Permit2Address()},
		{evm.ExactPermit2ProxyAddressHex, evm.ExactPermit2ProxyAddress()},
		{evm.UptoPermit2ProxyAddressHex, evm.UptoPermit2ProxyAddress()},
	} {
		if !common.IsHexAddress(tc.hex) || tc.addr.Hex() != tc.hex {
			t.Errorf("%s: address %s, want the same EIP-55 checksummed", tc.hex, tc.addr.Hex())
		}
	}
}
