// Package contracts owns the embedded build artifacts of go402's test token,
// TestUSDC: a USDC-like ERC-20 (6 decimals) with EIP-3009
// transferWithAuthorization / receiveWithAuthorization / cancelAuthorization
// and an owner-only mint, for local development and tests only.
//
// The Solidity sources live in src/ and are compiled by build.mjs with the
// solc-js and OpenZeppelin versions locked in package-lock.json (run
// `make contracts`). The resulting ABI and creation bytecode in artifacts/ are
// committed and embedded here; a test rebuilds them and fails if they are
// stale.
//
// The constructor is
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
var testUSDCBytecode = sync.OnceValue(func() []byte {
	b, err := hex.DecodeString(strings.TrimSpace(testUSDCBin))
	if err != nil || len(b) == 0 {
		// The artifact is embedded at build time and checked by the tests.
		panic(fmt.Sprintf("contracts: embedded TestUSDC.bin is not valid hex (%d chars): %v", len(testUSDCBin), err))
	}
	return b
})
