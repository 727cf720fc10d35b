package evm

import "github.com/ethereum/go-ethereum/common"

// Canonical addresses of Permit2 and of the x402 Permit2 proxies, the same on
// every network (CREATE2), EIP-55 checksummed. go402's devnet places its own
// implementations there in genesis (see package contracts).
const (
	// Permit2AddressHex is Uniswap's Permit2, the spender a payer approves
	// once per token so that "exact" (assetTransferMethod "permit2") and
	// "upto" payments can pull from it.
	Permit2AddressHex = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
	// ExactPermit2ProxyAddressHex is the x402 exact Permit2 proxy, the
	// Permit2 spender of "exact" payments over Permit2; its witness is
	// Witness(address to,uint256 validAfter).
	ExactPermit2ProxyAddressHex = "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"
	// UptoPermit2ProxyAddressHex is the x402 upto Permit2 proxy, the Permit2
	// spender of "upto" payments; its witness is Witness(address to,address
	// facilitator,uint256 validAfter).
	UptoPermit2ProxyAddressHex = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"
)

// EIP-712 type strings of the Permit2 messages the x402 proxies verify. The
// witness type strings are the proxies' WITNESS_TYPE_STRING: what Permit2
// appends to "PermitWitnessTransferFrom(TokenPermissions permitted,address
// spender,uint256 nonce,uint256 deadline," to form the signed type.
const (
	// Permit2DomainName is the EIP-712 domain name of Permit2, whose domain
	// is {name, chainId, verifyingContract}, without a version.
	Permit2DomainName = "Permit2"
	// ExactPermit2WitnessTypeString is the exact proxy's witness type
	// string.
	ExactPermit2WitnessTypeString = "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
	// UptoPermit2WitnessTypeString is the upto proxy's witness type string.
	UptoPermit2WitnessTypeString = "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)"
)

// Permit2Address returns Permit2AddressHex as an address.
func Permit2Address() common.Address { return common.HexToAddress(Permit2AddressHex) }

// ExactPermit2ProxyAddress returns ExactPermit2ProxyAddressHex as an
// address.
func ExactPermit2ProxyAddress() common.Address {
	return common.HexToAddress(ExactPermit2ProxyAddressHex)
}

// UptoPermit2ProxyAddress returns UptoPermit2ProxyAddressHex as an address.
func UptoPermit2ProxyAddress() common.Address { return common.HexToAddress(UptoPermit2ProxyAddressHex) }
