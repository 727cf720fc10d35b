package evm

import "github.com/ethereum/go-ethereum/common"

// Multicall3AddressHex is the canonical address of Multicall3, the call
// batcher deployed at the same address on most EVM chains (and placed in
// go402's devnet genesis), EIP-55 checksummed.
const Multicall3AddressHex = "0xcA11bde05977b3631167028862bE2a173976CA11"

// Multicall3Address returns Multicall3AddressHex as an address.
func Multicall3Address() common.Address { return common.HexToAddress(Multicall3AddressHex) }
