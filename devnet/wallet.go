package devnet

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/contracts"
	"github.com/go402/go402/evm"
)

// Smart-contract wallets.
//
// Genesis holds go402's SmartWalletFactory (see package contracts) at
// [evm.DevnetWalletFactoryAddress]. A wallet of an owner key and a salt has
// a fixed address ([SmartWalletAddress]) before it is deployed, so its owner
// can sign ERC-6492 counterfactual signatures with the factory calldata
// [SmartWalletFactoryCalldata]; anyone can deploy it (the go402 facilitator
// does at settlement, or [Devnet.DeploySmartWallet]). The wallet accepts its
// owner's ECDSA signature through EIP-1271 and pays with the bytes overload
// of EIP-3009's transferWithAuthorization.

// walletAllocs are the genesis accounts of the smart-wallet factory.
func walletAllocs() types.GenesisAlloc {
	return types.GenesisAlloc{
		evm.DevnetWalletFactoryAddress(): {Nonce: 1, Code: contracts.SmartWalletFactoryRuntimeBytecode(), Balance: new(big.Int)},
	}
}

// SmartWalletAddress is the address at which the devnet's factory deploys
// the wallet of owner and salt (CREATE2; computed offline, the same as the
// factory's getAddress).
func SmartWalletAddress(owner common.Address, salt *big.Int) common.Address {
	initCode := append(contracts.SmartWalletBytecode(), common.LeftPadBytes(owner[:], 32)...)
	var s [32]byte
	salt.FillBytes(s[:])
	return crypto.CreateAddress2(evm.DevnetWalletFactoryAddress(), s, crypto.Keccak256(initCode))
}

// SmartWalletFactoryCalldata is the calldata of createAccount(owner, salt),
// the factory call of the wallet's ERC-6492 signatures.
func SmartWalletFactoryCalldata(owner common.Address, salt *big.Int) []byte {
	data, err := contracts.SmartWalletFactoryParsedABI().Pack("createAccount", owner, salt)
	if err != nil {
		panic(fmt.Sprintf("devnet: pack createAccount: %v", err)) // fixed types
	}
	return data
}

// DeploySmartWallet deploys the wallet of owner and salt through the
// factory (from the deployer account), waits until it is mined and returns
// its address. Deploying an existing wallet is a no-op.
func (d *Devnet) DeploySmartWallet(ctx context.Context, owner common.Address, salt *big.Int) (common.Address, error) {
	factory := evm.DevnetWalletFactoryAddress()
	if _, err := d.sendAndWait(ctx, &factory, SmartWalletFactoryCalldata(owner, salt)); err != nil {
		return common.Address{}, fmt.Errorf("devnet: deploy smart wallet: %w", err)
	}
	return SmartWalletAddress(owner, salt), nil
}

// SmartWalletSigner is an [evm.SmartWalletSigner] paying from the devnet
// wallet of owner's key and salt, deployed or not: it signs ERC-6492
// wrapped signatures naming the devnet factory until the wallet has code.
func (d *Devnet) SmartWalletSigner(owner evm.Signer, salt *big.Int) *evm.SmartWalletSigner {
	o := owner.Address()
	return &evm.SmartWalletSigner{
		Owner: owner, Wallet: SmartWalletAddress(o, salt), Code: d.client,
		Factory: evm.DevnetWalletFactoryAddress(), FactoryCalldata: SmartWalletFactoryCalldata(o, salt),
	}
}
