package evm

import "github.com/ethereum/go-ethereum/common"

// Canonical addresses of the x402 batch-settlement contracts, the same on
// every network (CREATE2), EIP-55 checksummed. go402's devnet places its own
// implementations of the first two in genesis (see package contracts).
const (
	// BatchSettlementAddressHex is the x402BatchSettlement escrow.
	BatchSettlementAddressHex = "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003"
	// ERC3009DepositCollectorAddressHex is the deposit collector that
	// redeems an EIP-3009 receiveWithAuthorization signed to it.
	ERC3009DepositCollectorAddressHex = "0x4020806089470a89826cB9fB1f4059150b550004"
	// Permit2DepositCollectorAddressHex is the deposit collector that pulls
	// through Permit2 (not on go402's devnet).
	Permit2DepositCollectorAddressHex = "0x4020425FAf3B746C082C2f942b4E5159887B0005"
)

// BatchSettlementAddress returns BatchSettlementAddressHex as an address.
func BatchSettlementAddress() common.Address { return common.HexToAddress(BatchSettlementAddressHex) }

// ERC3009DepositCollectorAddress returns ERC3009DepositCollectorAddressHex
// as an address.
func ERC3009DepositCollectorAddress() common.Address {
	return common.HexToAddress(ERC3009DepositCollectorAddressHex)
}

// Permit2DepositCollectorAddress returns Permit2DepositCollectorAddressHex
// as an address.
func Permit2DepositCollectorAddress() common.Address {
	return common.HexToAddress(Permit2DepositCollectorAddressHex)
}
