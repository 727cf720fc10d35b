package devnet

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
)

// The devnet's Permit2 test token (see [Devnet.PermitToken]): a plain ERC-20
// with EIP-2612 permit and no EIP-3009, paid through Permit2. Its EIP-712
// domain (for permit) is {PermitTokenName, PermitTokenVersion, chain id,
// token address}.
const (
	PermitTokenName    = "Test Permit Dollar"
	PermitTokenSymbol  = "TPD"
	PermitTokenVersion = "1"
)

// permitTokenNonce is the deployer nonce of the TestPermitToken deployment,
// right after TestUSDC's (nonce 0), so its address is the same on every run
// whatever the number of accounts.
const permitTokenNonce = 1

// permit2Alloc is the genesis allocation of go402's Permit2 and the x402
// exact and upto Permit2 proxies at their canonical addresses: runtime code
// placed directly (nonce 1, as if created), like the other genesis
// contracts.
func permit2Alloc() types.GenesisAlloc {
	return types.GenesisAlloc{
		permit2.Address():    {Nonce: 1, Code: contracts.Permit2RuntimeBytecode(), Balance: new(big.Int)},
		permit2.ExactProxy(): {Nonce: 1, Code: contracts.ExactPermit2ProxyRuntimeBytecode(), Balance: new(big.Int)},
		permit2.UptoProxy():  {Nonce: 1, Code: contracts.UptoPermit2ProxyRuntimeBytecode(), Balance: new(big.Int)},
	}
}

// PermitToken returns the devnet's Permit2 test token: TestPermitToken (see
// package contracts), six decimals, EIP-2612 permit and no EIP-3009,
// deployed by the deployer right after the test USDC (at
// crypto.CreateAddress(deployer, 1), the same on every run), owned by it,
// with Config.TokenBalance minted to every funded account.
func (d *Devnet) PermitToken() TokenInfo {
	return TokenInfo{
		Address:  crypto.CreateAddress(d.deployer.addr, permitTokenNonce),
		Name:     PermitTokenName,
		Version:  PermitTokenVersion,
		Symbol:   PermitTokenSymbol,
		Decimals: TokenDecimals,
	}
}

// PermitTokenAsset returns the Permit2 test token as a networks-registry
// asset whose transfer method is [evm.TransferPermit2]. [Devnet.NetworkConfig]
// does not list it; add it to a network's Assets to offer it.
func (d *Devnet) PermitTokenAsset() evm.Asset {
	tok := d.PermitToken()
	return evm.Asset{
		Address:        tok.Address,
		Symbol:         tok.Symbol,
		Name:           tok.Name,
		Version:        tok.Version,
		Decimals:       tok.Decimals,
		TransferMethod: evm.TransferPermit2,
	}
}

// permitTokenStartup returns the start-up transactions of the Permit2 test
// token: its deployment (deployer nonce permitTokenNonce) and the calls
// minting amount to each of `to` (no nonces set; the caller numbers them).
func (d *Devnet) permitTokenStartup(amount *big.Int, to []common.Address) (deploy []byte, mints [][]byte, err error) {
	tokABI := contracts.TestPermitTokenParsedABI()
	args, err := tokABI.Pack("", PermitTokenName, PermitTokenSymbol, d.deployer.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("devnet: pack permit token constructor: %w", err)
	}
	deploy = append(contracts.TestPermitTokenBytecode(), args...)
	if amount.Sign() > 0 {
		for _, a := range to {
			data, err := packMint(tokABI, a, amount)
			if err != nil {
				return nil, nil, err
			}
			mints = append(mints, data)
		}
	}
	return deploy, mints, nil
}

// packMint packs mint(to, amount), which both test tokens have.
func packMint(a abi.ABI, to common.Address, amount *big.Int) ([]byte, error) {
	data, err := a.Pack("mint", to, amount)
	if err != nil {
		return nil, fmt.Errorf("devnet: pack mint: %w", err)
	}
	return data, nil
}

// MintToken mints amount atomic units of a devnet test token (the test USDC,
// the Permit2 test token, or one from [Devnet.DeployToken]: the deployer owns
// them all) to `to`, and waits until the transaction is mined.
func (d *Devnet) MintToken(ctx context.Context, token, to common.Address, amount *big.Int) error {
	data, err := packMint(d.tokenABI, to, amount)
	if err != nil {
		return err
	}
	if _, err := d.sendAndWait(ctx, &token, data); err != nil {
		return fmt.Errorf("devnet: mint %s: %w", token, err)
	}
	return nil
}

// ApprovePermit2 sends owner's approve(Permit2, amount) on token (any
// ERC-20) and waits until it is mined: the one-time step that lets Permit2
// pull owner's tokens for "exact" payments over Permit2 and "upto"
// payments. Pass 2^256-1 (math.MaxBig256) for no limit. The owner pays the gas, so
// it needs ETH (every funded account has some). Do not run it concurrently
// with other transactions of the same owner (they would share a nonce).
func (d *Devnet) ApprovePermit2(ctx context.Context, owner Account, token common.Address, amount *big.Int) error {
	if owner.PrivateKey == nil {
		return errors.New("devnet: approve Permit2: owner has no private key")
	}
	data, err := d.tokenABI.Pack("approve", permit2.Address(), amount)
	if err != nil {
		return fmt.Errorf("devnet: pack approve: %w", err)
	}
	nonce, err := d.client.PendingNonceAt(ctx, owner.Address)
	if err != nil {
		return fmt.Errorf("devnet: approve Permit2: nonce: %w", err)
	}
	gas, err := d.client.EstimateGas(ctx, ethereum.CallMsg{From: owner.Address, To: &token, Data: data})
	if err != nil {
		return fmt.Errorf("devnet: approve Permit2: estimate gas: %w", err)
	}
	tip, feeCap := d.fees()
	tx, err := types.SignNewTx(owner.PrivateKey, types.LatestSignerForChainID(d.chainID), &types.DynamicFeeTx{
		ChainID: d.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas + gas/10, To: &token, Data: data,
	})
	if err != nil {
		return fmt.Errorf("devnet: approve Permit2: sign: %w", err)
	}
	if err := d.client.SendTransaction(ctx, tx); err != nil {
		return fmt.Errorf("devnet: approve Permit2: send: %w", err)
	}
	r, err := d.WaitMined(ctx, tx.Hash())
	if err != nil {
		return fmt.Errorf("devnet: approve Permit2: %w", err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return fmt.Errorf("devnet: approve Permit2: transaction %s reverted", tx.Hash())
	}
	return nil
}
