package contracts

import (
	_ "embed" // for the artifacts
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// The Permit2 artifacts: go402's Permit2 (signature-transfer subset), the
// x402 exact and upto Permit2 proxies (runtime code, placed in genesis) and
// TestPermitToken (creation code, deployed by the devnet).

//go:embed artifacts/Permit2.abi.json
var permit2ABIJSON string

//go:embed artifacts/Permit2.runtime.bin
var permit2RuntimeBin string

//go:embed artifacts/x402ExactPermit2Proxy.abi.json
var exactPermit2ProxyABIJSON string

//go:embed artifacts/x402ExactPermit2Proxy.runtime.bin
var exactPermit2ProxyRuntimeBin string

//go:embed artifacts/x402UptoPermit2Proxy.abi.json
var uptoPermit2ProxyABIJSON string

//go:embed artifacts/x402UptoPermit2Proxy.runtime.bin
var uptoPermit2ProxyRuntimeBin string

//go:embed artifacts/TestPermitToken.abi.json
var testPermitTokenABIJSON string

//go:embed artifacts/TestPermitToken.bin
var testPermitTokenBin string

// Permit2ABI returns the JSON ABI of go402's Permit2: DOMAIN_SEPARATOR,
// nonceBitmap, invalidateUnorderedNonces, the single-token
// permitTransferFrom and permitWitnessTransferFrom, the
// UnorderedNonceInvalidation event and Permit2's custom errors
// (InvalidAmount(uint256), SignatureExpired(uint256), InvalidNonce,
// InvalidSignatureLength, InvalidSignature, InvalidSigner,
// InvalidContractSignature), with the canonical Permit2's selectors.
func Permit2ABI() string { return permit2ABIJSON }

// Permit2ParsedABI returns Permit2's ABI, freshly parsed on every call so
// callers may keep and modify it.
func Permit2ParsedABI() abi.ABI { return parseABI("Permit2.abi.json", permit2ABIJSON) }

// Permit2RuntimeBytecode returns Permit2's runtime bytecode, to be placed
// directly in a genesis allocation at the canonical Permit2 address (it has
// no constructor, immutables or initialised storage; the EIP-712 domain
// separator is computed from block.chainid and address(this)). Each call
// returns a fresh copy that the caller may modify.
func Permit2RuntimeBytecode() []byte { return append([]byte(nil), permit2Runtime()...) }

var permit2Runtime = sync.OnceValue(func() []byte { return decodeHex("Permit2.runtime.bin", permit2RuntimeBin) })

// ExactPermit2ProxyABI returns the JSON ABI of go402's x402ExactPermit2Proxy:
// settle and settleWithPermit, PERMIT2, WITNESS_TYPE_STRING,
// WITNESS_TYPEHASH, the Settled, SettledWithPermit and
// EIP2612PermitFailedWith* events and the custom errors of the x402
// reference proxy.
func ExactPermit2ProxyABI() string { return exactPermit2ProxyABIJSON }

// ExactPermit2ProxyParsedABI returns x402ExactPermit2Proxy's ABI, freshly
// parsed on every call.
func ExactPermit2ProxyParsedABI() abi.ABI {
	return parseABI("x402ExactPermit2Proxy.abi.json", exactPermit2ProxyABIJSON)
}

// ExactPermit2ProxyRuntimeBytecode returns x402ExactPermit2Proxy's runtime
// bytecode, to be placed in genesis at the canonical exact proxy address;
// the Permit2 it spends through is the canonical address, compiled in. Each
// call returns a fresh copy.
func ExactPermit2ProxyRuntimeBytecode() []byte {
	return append([]byte(nil), exactPermit2ProxyRuntime()...)
}

var exactPermit2ProxyRuntime = sync.OnceValue(func() []byte {
	return decodeHex("x402ExactPermit2Proxy.runtime.bin", exactPermit2ProxyRuntimeBin)
})

// UptoPermit2ProxyABI returns the JSON ABI of go402's x402UptoPermit2Proxy:
// as the exact proxy's, with an amount argument to settle and
// settleWithPermit, a facilitator in the witness, and the
// AmountExceedsPermitted and UnauthorizedFacilitator errors.
func UptoPermit2ProxyABI() string { return uptoPermit2ProxyABIJSON }

// UptoPermit2ProxyParsedABI returns x402UptoPermit2Proxy's ABI, freshly
// parsed on every call.
func UptoPermit2ProxyParsedABI() abi.ABI {
	return parseABI("x402UptoPermit2Proxy.abi.json", uptoPermit2ProxyABIJSON)
}

// UptoPermit2ProxyRuntimeBytecode returns x402UptoPermit2Proxy's runtime
// bytecode, to be placed in genesis at the canonical upto proxy address.
// Each call returns a fresh copy.
func UptoPermit2ProxyRuntimeBytecode() []byte {
	return append([]byte(nil), uptoPermit2ProxyRuntime()...)
}

var uptoPermit2ProxyRuntime = sync.OnceValue(func() []byte {
	return decodeHex("x402UptoPermit2Proxy.runtime.bin", uptoPermit2ProxyRuntimeBin)
})

// TestPermitTokenABI returns the JSON ABI of TestPermitToken, a plain
// ERC-20 (6 decimals, owner-only mint) with EIP-2612 permit, nonces,
// DOMAIN_SEPARATOR, eip712Domain and version, and no EIP-3009.
func TestPermitTokenABI() string { return testPermitTokenABIJSON }

// TestPermitTokenParsedABI returns TestPermitToken's ABI, freshly parsed on
// every call.
func TestPermitTokenParsedABI() abi.ABI {
	return parseABI("TestPermitToken.abi.json", testPermitTokenABIJSON)
}

// TestPermitTokenBytecode returns TestPermitToken's creation bytecode
// (without constructor arguments). Its constructor is
//
//	constructor(string name, string symbol, address owner)
//
// and its EIP-712 domain for permit is (name, version "1", chainId,
// token address). Each call returns a fresh copy.
func TestPermitTokenBytecode() []byte { return append([]byte(nil), testPermitTokenCode()...) }

var testPermitTokenCode = sync.OnceValue(func() []byte { return decodeHex("TestPermitToken.bin", testPermitTokenBin) })
