package evm_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
)

// The canonical batch-settlement addresses are EIP-55 checksummed and the
// functions return them.
func TestBatchSettlementAddresses(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		addr common.Address
	}{
		{evm.BatchSettlementAddressHex, evm.BatchSettlementAddress()},
		{evm.ERC3009DepositCollectorAddressHex, evm.ERC3009DepositCollectorAddress()},
		{evm.Permit2DepositCollectorAddressHex, evm.Permit2DepositCollectorAddress()},
	} {
		if !common.IsHexAddress(tc.hex) || tc.addr.Hex() != tc.hex {
			t.Errorf("%s: address %s, want the same EIP-55 checksummed", tc.hex, tc.addr.Hex())
		}
	}
}
