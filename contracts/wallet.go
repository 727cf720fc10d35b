package contracts

import (
	_ "embed" // for the artifacts
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// go402's smart-contract wallet for tests and the devnet:
//
//   - SmartWallet: one owner key, EIP-1271 isValidSignature accepting the
//     owner's 65-byte ECDSA signature over the hash as given (it returns
//     0x1626ba7e, else 0xffffffff), setOwner to rotate the key (the zero
//     address revokes every signature: a wallet that "says no") and an
//     owner-only execute(target, value, data). Constructor:
//     constructor(address initialOwner).
//   - SmartWalletFactory: createAccount(owner, salt) deploys a SmartWallet
//     with CREATE2 (idempotent: it returns an existing wallet) and
//     getAddress(owner, salt) is the address it deploys to, so a wallet's
//     owner can sign ERC-6492 counterfactual signatures before it exists.
//     It has no constructor, immutables or storage; the devnet places its
//     runtime code in genesis (see package devnet).

//go:embed artifacts/SmartWallet.abi.json
var smartWalletABIJSON string

//go:embed artifacts/SmartWallet.bin
var smartWalletBin string

//go:embed artifacts/SmartWalletFactory.abi.json
var smartWalletFactoryABIJSON string

//go:embed artifacts/SmartWalletFactory.runtime.bin
var smartWalletFactoryRuntimeBin string

// SmartWalletABI returns the JSON ABI of SmartWallet, as written by
// build.mjs.
func SmartWalletABI() string { return smartWalletABIJSON }

// SmartWalletParsedABI returns SmartWallet's ABI, freshly parsed on every
// call so callers may keep and modify it.
func SmartWalletParsedABI() abi.ABI { return parseABI("SmartWallet.abi.json", smartWalletABIJSON) }

// SmartWalletBytecode returns SmartWallet's creation bytecode (without the
// constructor argument). Each call returns a fresh copy that the caller may
// modify.
func SmartWalletBytecode() []byte { return append([]byte(nil), smartWalletBytecode()...) }

var smartWalletBytecode = sync.OnceValue(func() []byte { return decodeHex("SmartWallet.bin", smartWalletBin) })

// SmartWalletFactoryABI returns the JSON ABI of SmartWalletFactory, as
// written by build.mjs.
func SmartWalletFactoryABI() string { return smartWalletFactoryABIJSON }

// SmartWalletFactoryParsedABI returns SmartWalletFactory's ABI, freshly
// parsed on every call so callers may keep and modify it.
func SmartWalletFactoryParsedABI() abi.ABI {
	return parseABI("SmartWalletFactory.abi.json", smartWalletFactoryABIJSON)
}

// SmartWalletFactoryRuntimeBytecode returns SmartWalletFactory's runtime
// (deployed) bytecode, to be placed directly in a genesis allocation. Each
// call returns a fresh copy that the caller may modify.
func SmartWalletFactoryRuntimeBytecode() []byte {
	return append([]byte(nil), smartWalletFactoryRuntimeBytecode()...)
}

var smartWalletFactoryRuntimeBytecode = sync.OnceValue(func() []byte {
	return decodeHex("SmartWalletFactory.runtime.bin", smartWalletFactoryRuntimeBin)
})
