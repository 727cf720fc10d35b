// Package contracts owns the embedded build artifacts of go402's test
// contracts, for local development and tests only:
//
//   - TestUSDC, the test token: a USDC-like ERC-20 (6 decimals) with EIP-3009
//     transferWithAuthorization / receiveWithAuthorization /
//     cancelAuthorization and an owner-only mint. Its creation bytecode is
//     embedded; the devnet deploys it.
//   - Multicall3, a small call batcher written for go402 that is
//     ABI-compatible with the canonical Multicall3 for aggregate3,
//     getBlockNumber and getCurrentBlockTimestamp (and has nothing else). It
//     has no constructor and no storage, so its runtime bytecode is embedded
//     and the devnet places it in genesis at the canonical Multicall3 address,
//     letting a relayer settle several EIP-3009 authorizations in one
//     transaction. A failing call whose allowFailure is false reverts the
//     batch with Error("Multicall3: call failed"), as the canonical one does.
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
func TestUSDCParsedABI() abi.ABI {
	a, err := abi.JSON(strings.NewReader(testUSDCABIJSON))
	if err != nil {
		// The artifact is embedded at build time and checked by the tests.
		panic(fmt.Sprintf("contracts: embedded TestUSDC.abi.json does not parse: %v", err))
	}
	return a
}

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
// aggregate3, getBlockNumber and getCurrentBlockTimestamp.
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
