// Package contracts owns the embedded build artifacts of go402's test
// contracts, for local development and tests only:
//
//   - TestUSDC, the test token: a USDC-like ERC-20 (6 decimals) with EIP-3009
//     transferWithAuthorization / receiveWithAuthorization /
//     cancelAuthorization and an owner-only mint. Its creation bytecode is
//     embedded; the devnet deploys it.
//   - Multicall3, a small call batcher written for go402 that is
//     ABI-compatible with the canonical Multicall3 for aggregate3, tryAggregate,
//     getBlockNumber and getCurrentBlockTimestamp (and has nothing else). It
//     has no constructor and no storage, so its runtime bytecode is embedded
//     and the devnet places it in genesis at the canonical Multicall3 address,
//     letting a relayer settle several EIP-3009 authorizations in one
//     transaction. A failing call whose allowFailure is false reverts the
//     batch with Error("Multicall3: call failed"), as the canonical one does.
//   - x402BatchSettlement and ERC3009DepositCollector, go402's own
//     implementations of the x402 batch-settlement escrow and its EIP-3009
//     deposit collector, with the functions, events and custom errors of the
//     x402 reference contracts. Neither has a constructor, immutables or
//     initialised storage (the EIP-712 domain separator is computed from
//     block.chainid and address(this); the collector's settlement address is
//     a constant), so their runtime bytecode is embedded and the devnet places
//     them in genesis at the canonical addresses
//     0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003 and
//     0x4020806089470a89826cB9fB1f4059150b550004.
//   - Permit2, go402's implementation of the signature-transfer subset of
//     Uniswap's Permit2 (nonce bitmap, permitTransferFrom,
//     permitWitnessTransferFrom; EOA, EIP-2098 and EIP-1271 signatures), and
//     the x402 exact and upto Permit2 proxies (x402ExactPermit2Proxy,
//     x402UptoPermit2Proxy) with the functions, events and custom errors of
//     the x402 reference proxies. None has a constructor or immutables (the
//     proxies' PERMIT2 is a constant), so the devnet places their runtime
//     bytecode in genesis at the canonical addresses
//     0x000000000022D473030F116dDEE9F6B43aC78BA3,
//     0x402085c248EeA27D92E8b30b2C58ed07f9E20001 and
//     0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002.
//   - TestPermitToken, a plain ERC-20 test token (6 decimals, owner-only
//     mint) with EIP-2612 permit and without EIP-3009, paid through Permit2.
//     Its creation bytecode is embedded; the devnet deploys it.
//
// The Solidity sources live in src/ and are compiled by build.mjs with the
// solc-js and OpenZeppelin versions locked in package-lock.json (run
// `make contracts`). The resulting ABIs and bytecode in artifacts/ are
// committed and embedded here; a test rebuilds them and fails if they are
// stale.
//
// TestUSDC's constructor is
//
//	constructor(string name, string symbol, string version, address owner)
//
// where name and version form the EIP-712 domain together with the chain id
// and the token address.
package contracts

import (
	_ "embed" // for the artifacts
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

//go:embed artifacts/TestUSDC.abi.json
var testUSDCABIJSON string

//go:embed artifacts/TestUSDC.bin
var testUSDCBin string

// TestUSDCABI returns the JSON ABI of TestUSDC, as written by build.mjs.
func TestUSDCABI() string { return testUSDCABIJSON }

// TestUSDCParsedABI returns TestUSDC's ABI, freshly parsed on every call so
// callers may keep and modify it.
func TestUSDCParsedABI() abi.ABI { return parseABI("TestUSDC.abi.json", testUSDCABIJSON) }

// TestUSDCBytecode returns TestUSDC's creation bytecode (without constructor
// arguments). Each call returns a fresh copy that the caller may modify.
func TestUSDCBytecode() []byte {
	return append([]byte(nil), testUSDCBytecode()...)
}

// testUSDCBytecode decodes the embedded hex once.
var testUSDCBytecode = sync.OnceValue(func() []byte { return decodeHex("TestUSDC.bin", testUSDCBin) })

//go:embed artifacts/Multicall3.abi.json
var multicall3ABIJSON string

//go:embed artifacts/Multicall3.runtime.bin
var multicall3RuntimeBin string

// Multicall3ABI returns the JSON ABI of Multicall3, as written by build.mjs:
// aggregate3, tryAggregate, getBlockNumber and getCurrentBlockTimestamp.
func Multicall3ABI() string { return multicall3ABIJSON }

// Multicall3RuntimeBytecode returns Multicall3's runtime (deployed) bytecode,
// to be placed directly in a genesis allocation. Each call returns a fresh
// copy that the caller may modify.
func Multicall3RuntimeBytecode() []byte {
	return append([]byte(nil), multicall3RuntimeBytecode()...)
}

// multicall3RuntimeBytecode decodes the embedded hex once.
var multicall3RuntimeBytecode = sync.OnceValue(func() []byte {
	return decodeHex("Multicall3.runtime.bin", multicall3RuntimeBin)
})

// decodeHex decodes an embedded bytecode artifact.
func decodeHex(name, s string) []byte {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) == 0 {
		// The artifact is embedded at build time and checked by the tests.
		panic(fmt.Sprintf("contracts: embedded %s is not valid hex (%d chars): %v", name, len(s), err))
	}
	return b
}

//go:embed artifacts/x402BatchSettlement.abi.json
var batchSettlementABIJSON string

//go:embed artifacts/x402BatchSettlement.runtime.bin
var batchSettlementRuntimeBin string

// BatchSettlementABI returns the JSON ABI of go402's x402BatchSettlement, the
// escrow of the x402 batch-settlement scheme, as written by build.mjs. Its
// functions, events and custom errors are those of the x402 reference
// contract.
func BatchSettlementABI() string { return batchSettlementABIJSON }

// BatchSettlementParsedABI returns x402BatchSettlement's ABI, freshly parsed
// on every call so callers may keep and modify it.
func BatchSettlementParsedABI() abi.ABI {
	return parseABI("x402BatchSettlement.abi.json", batchSettlementABIJSON)
}

// BatchSettlementRuntimeBytecode returns x402BatchSettlement's runtime
// (deployed) bytecode, to be placed directly in a genesis allocation: it has
// no constructor, immutables or initialised storage. Each call returns a
// fresh copy that the caller may modify.
func BatchSettlementRuntimeBytecode() []byte {
	return append([]byte(nil), batchSettlementRuntimeBytecode()...)
}

var batchSettlementRuntimeBytecode = sync.OnceValue(func() []byte {
	return decodeHex("x402BatchSettlement.runtime.bin", batchSettlementRuntimeBin)
})

//go:embed artifacts/ERC3009DepositCollector.abi.json
var erc3009CollectorABIJSON string

//go:embed artifacts/ERC3009DepositCollector.runtime.bin
var erc3009CollectorRuntimeBin string

// ERC3009DepositCollectorABI returns the JSON ABI of go402's
// ERC3009DepositCollector (collect and x402BatchSettlement), as written by
// build.mjs.
func ERC3009DepositCollectorABI() string { return erc3009CollectorABIJSON }

// ERC3009DepositCollectorParsedABI returns ERC3009DepositCollector's ABI,
// freshly parsed on every call so callers may keep and modify it.
func ERC3009DepositCollectorParsedABI() abi.ABI {
	return parseABI("ERC3009DepositCollector.abi.json", erc3009CollectorABIJSON)
}

// ERC3009DepositCollectorRuntimeBytecode returns ERC3009DepositCollector's
// runtime bytecode, to be placed directly in a genesis allocation. The
// settlement contract it serves is compiled in as a constant: the canonical
// x402BatchSettlement address 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003.
// Each call returns a fresh copy that the caller may modify.
func ERC3009DepositCollectorRuntimeBytecode() []byte {
	return append([]byte(nil), erc3009CollectorRuntimeBytecode()...)
}

var erc3009CollectorRuntimeBytecode = sync.OnceValue(func() []byte {
	return decodeHex("ERC3009DepositCollector.runtime.bin", erc3009CollectorRuntimeBin)
})

// parseABI parses an embedded ABI artifact.
func parseABI(name, s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		// The artifact is embedded at build time and checked by the tests.
		panic(fmt.Sprintf("contracts: embedded %s does not parse: %v", name, err))
	}
	return a
}
