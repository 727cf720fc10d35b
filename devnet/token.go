package devnet

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/go402/go402/contracts"
)

// mintGas is the gas limit of the start-up mint transactions; a first mint
// to a fresh account uses about 70,000.
const mintGas = 100_000

// deployToken deploys TestUSDC (deployer nonce 0) and TestPermitToken (nonce
// 1) and mints TokenBalance of both to every funded account (nonces 2..). All transactions are submitted before
// anything is mined, so they normally land in block 1 together.
func (d *Devnet) deployToken(ctx context.Context) error {
	txs, err := d.startupTransactions(ctx)
	if err != nil {
		return err
	}
	signer := types.LatestSignerForChainID(d.chainID)
	key := d.deployer.privateKey()
	signed := make([]*types.Transaction, 0, len(txs))
	for _, inner := range txs {
		tx, err := types.SignNewTx(key, signer, inner)
		if err != nil {
			return fmt.Errorf("devnet: sign start-up transaction: %w", err)
		}
		signed = append(signed, tx)
	}
	// Straight into the pool, synchronously, so that the whole batch is
	// executable before the first block is sealed.
	for i, err := range d.eth.TxPool().Add(signed, true) {
		if err != nil {
			return fmt.Errorf("devnet: add start-up transaction %d: %w", i, err)
		}
	}
	d.minePending()
	return d.checkStartup(ctx, signed)
}

// startupTransactions returns the deployer's start-up transactions:
// TestUSDC at nonce 0, TestPermitToken at nonce 1 (permitTokenNonce), then
// the mints of both to every account.
func (d *Devnet) startupTransactions(ctx context.Context) ([]*types.DynamicFeeTx, error) {
	ctorArgs, err := d.tokenABI.Pack("", d.token.Name, d.token.Symbol, d.token.Version, d.deployer.addr)
	if err != nil {
		return nil, fmt.Errorf("devnet: pack token constructor: %w", err)
	}
	code := append(contracts.TestUSDCBytecode(), ctorArgs...)
	deployGas, err := d.client.EstimateGas(ctx, ethereum.CallMsg{From: d.deployer.addr, Data: code})
	if err != nil {
		return nil, fmt.Errorf("devnet: estimate token deployment gas: %w", err)
	}
	holders := make([]common.Address, len(d.accounts))
	for i, a := range d.accounts {
		holders[i] = a.addr
	}
	permitCode, permitMints, err := d.permitTokenStartup(d.cfg.TokenBalance, holders)
	if err != nil {
		return nil, err
	}
	permitGas, err := d.client.EstimateGas(ctx, ethereum.CallMsg{From: d.deployer.addr, Data: permitCode})
	if err != nil {
		return nil, fmt.Errorf("devnet: estimate permit token deployment gas: %w", err)
	}
	tip, feeCap := d.fees()
	txs := []*types.DynamicFeeTx{{
		ChainID: d.ChainID(), Nonce: 0, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: deployGas + deployGas/10, Data: code,
	}, {
		ChainID: d.ChainID(), Nonce: permitTokenNonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: permitGas + permitGas/10, Data: permitCode,
	}}
	if d.cfg.TokenBalance.Sign() <= 0 {
		return txs, nil
	}
	permitToken := d.PermitToken().Address
	for i, a := range holders {
		data, err := packMint(d.tokenABI, a, d.cfg.TokenBalance)
		if err != nil {
			return nil, err
		}
		txs = append(txs, &types.DynamicFeeTx{
			ChainID: d.ChainID(), Nonce: uint64(len(txs)), GasTipCap: tip, GasFeeCap: feeCap,
			Gas: mintGas, To: &d.token.Address, Data: data,
		}, &types.DynamicFeeTx{
			ChainID: d.ChainID(), Nonce: uint64(len(txs) + 1), GasTipCap: tip, GasFeeCap: feeCap,
			Gas: mintGas, To: &permitToken, Data: permitMints[i],
		})
	}
	return txs, nil
}

// checkStartup checks that every start-up transaction was mined and
// succeeded, and that the tokens are at their expected addresses. It reads
// whole blocks (a lookup per hash would scan the block body each time).
func (d *Devnet) checkStartup(ctx context.Context, txs []*types.Transaction) error {
	receipts := make(map[common.Hash]*types.Receipt, len(txs))
	head := d.eth.BlockChain().CurrentBlock().Number.Int64()
	for n := int64(1); n <= head; n++ {
		rs, err := d.client.BlockReceipts(ctx, rpc.BlockNumberOrHashWithNumber(rpc.BlockNumber(n)))
		if err != nil {
			return fmt.Errorf("devnet: read start-up receipts of block %d: %w", n, err)
		}
		for _, r := range rs {
			receipts[r.TxHash] = r
		}
	}
	permitToken := d.PermitToken().Address
	for i, tx := range txs {
		h := tx.Hash()
		r, ok := receipts[h]
		switch {
		case !ok:
			return fmt.Errorf("devnet: start-up transaction %d (%s) was not mined", i, h)
		case r.Status != types.ReceiptStatusSuccessful:
			return fmt.Errorf("devnet: start-up transaction %d (%s) reverted", i, h)
		case i == 0 && r.ContractAddress != d.token.Address:
			return fmt.Errorf("devnet: token deployed at %s, expected %s", r.ContractAddress, d.token.Address)
		case i == permitTokenNonce && r.ContractAddress != permitToken:
			return fmt.Errorf("devnet: permit token deployed at %s, expected %s", r.ContractAddress, permitToken)
		}
	}
	return nil
}

// fees returns a tip and fee cap that get a transaction into the next blocks.
func (d *Devnet) fees() (tip, feeCap *big.Int) {
	tip = big.NewInt(params.GWei)
	baseFee := d.eth.BlockChain().CurrentBlock().BaseFee
	if baseFee == nil {
		baseFee = big.NewInt(params.InitialBaseFee)
	}
	feeCap = new(big.Int).Add(new(big.Int).Mul(baseFee, big.NewInt(2)), tip)
	return tip, feeCap
}

// WaitMined waits until the transaction is mined and returns its receipt
// (which may have a failed status). It polls the in-process chain every few
// milliseconds, unlike bind.WaitMined which polls once a second.
//
// It returns only once the receipt's block is the chain head or behind it:
// geth indexes a block's receipts a moment before it moves the head, and a
// caller that reads state at "latest" right after WaitMined must see the
// transaction's effects.
func (d *Devnet) WaitMined(ctx context.Context, txHash common.Hash) (*types.Receipt, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		r, err := d.client.TransactionReceipt(ctx, txHash)
		if err == nil && r.BlockNumber != nil && d.eth.BlockChain().CurrentBlock().Number.Cmp(r.BlockNumber) >= 0 {
			return r, nil
		}
		if err == nil {
			err = fmt.Errorf("block %v is not the head yet", r.BlockNumber)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("devnet: waiting for %s: %w (last lookup: %w)", txHash, ctx.Err(), err)
		case <-d.stop:
			return nil, fmt.Errorf("devnet: waiting for %s: %w", txHash, ErrClosed)
		case <-t.C:
		}
	}
}

// ErrClosed is returned by operations on a closed Devnet.
var ErrClosed = errors.New("devnet: closed")

// Mint mints amount atomic units of the test token to `to`, as the owner,
// and waits until the transaction is mined.
func (d *Devnet) Mint(ctx context.Context, to common.Address, amount *big.Int) error {
	data, err := d.tokenABI.Pack("mint", to, amount)
	if err != nil {
		return fmt.Errorf("devnet: pack mint: %w", err)
	}
	hash, err := d.sendAsDeployer(ctx, data)
	if err != nil {
		return fmt.Errorf("devnet: mint: %w", err)
	}
	r, err := d.WaitMined(ctx, hash)
	if err != nil {
		return fmt.Errorf("devnet: mint: %w", err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return fmt.Errorf("devnet: mint transaction %s reverted", hash)
	}
	return nil
}

// sendAsDeployer signs and sends a call to the token from the deployer.
func (d *Devnet) sendAsDeployer(ctx context.Context, data []byte) (common.Hash, error) {
	return d.sendFromDeployer(ctx, &d.token.Address, data)
}

// sendFromDeployer signs and sends a transaction from the deployer: a call
// to `to`, or a contract creation when to is nil.
func (d *Devnet) sendFromDeployer(ctx context.Context, to *common.Address, data []byte) (common.Hash, error) {
	d.deployMu.Lock()
	defer d.deployMu.Unlock()
	select {
	case <-d.stop:
		return common.Hash{}, ErrClosed
	default:
	}
	nonce, err := d.client.PendingNonceAt(ctx, d.deployer.addr)
	if err != nil {
		return common.Hash{}, fmt.Errorf("nonce: %w", err)
	}
	gas, err := d.client.EstimateGas(ctx, ethereum.CallMsg{From: d.deployer.addr, To: to, Data: data})
	if err != nil {
		return common.Hash{}, fmt.Errorf("estimate gas: %w", err)
	}
	tip, feeCap := d.fees()
	tx, err := types.SignNewTx(d.deployer.privateKey(), types.LatestSignerForChainID(d.chainID), &types.DynamicFeeTx{
		ChainID: d.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas + gas/10, To: to, Data: data,
	})
	if err != nil {
		return common.Hash{}, fmt.Errorf("sign: %w", err)
	}
	if err := d.client.SendTransaction(ctx, tx); err != nil {
		return common.Hash{}, fmt.Errorf("send: %w", err)
	}
	return tx.Hash(), nil
}

// sendAndWait sends a deployer transaction and waits for its successful
// receipt.
func (d *Devnet) sendAndWait(ctx context.Context, to *common.Address, data []byte) (*types.Receipt, error) {
	hash, err := d.sendFromDeployer(ctx, to, data)
	if err != nil {
		return nil, err
	}
	r, err := d.WaitMined(ctx, hash)
	if err != nil {
		return nil, err
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return nil, fmt.Errorf("transaction %s reverted", hash)
	}
	return r, nil
}

// DeployToken deploys another EIP-3009 test token, the same contract as the
// devnet's test USDC (6 decimals, owned by the deployer) under another
// address, with ERC-20 and EIP-712 name `name`, symbol `symbol` and EIP-712
// version `version`, and mints amount atomic units to every funded
// account. It returns once everything is mined. [Devnet.Token],
// [Devnet.Mint] and [Devnet.BalanceOf] keep describing the first token;
// use [Devnet.TokenBalanceOf] for this one.
func (d *Devnet) DeployToken(ctx context.Context, name, symbol, version string, amount *big.Int) (TokenInfo, error) {
	if name == "" || symbol == "" || version == "" {
		return TokenInfo{}, errors.New("devnet: deploy token: name, symbol and version are required")
	}
	args, err := d.tokenABI.Pack("", name, symbol, version, d.deployer.addr)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("devnet: pack token constructor: %w", err)
	}
	r, err := d.sendAndWait(ctx, nil, append(contracts.TestUSDCBytecode(), args...))
	if err != nil {
		return TokenInfo{}, fmt.Errorf("devnet: deploy token: %w", err)
	}
	tok := TokenInfo{Address: r.ContractAddress, Name: name, Version: version, Symbol: symbol, Decimals: TokenDecimals}
	if amount != nil && amount.Sign() > 0 {
		for _, a := range d.accounts {
			data, err := d.tokenABI.Pack("mint", a.addr, amount)
			if err != nil {
				return TokenInfo{}, fmt.Errorf("devnet: pack mint: %w", err)
			}
			if _, err := d.sendAndWait(ctx, &tok.Address, data); err != nil {
				return TokenInfo{}, fmt.Errorf("devnet: mint %s: %w", symbol, err)
			}
		}
	}
	return tok, nil
}

// TokenBalanceOf returns the balance of addr in a token deployed with
// [Devnet.DeployToken] (or any ERC-20), in atomic units, at the latest
// block.
func (d *Devnet) TokenBalanceOf(ctx context.Context, token, addr common.Address) (*big.Int, error) {
	data, err := d.tokenABI.Pack("balanceOf", addr)
	if err != nil {
		return nil, fmt.Errorf("devnet: pack balanceOf: %w", err)
	}
	out, err := d.client.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("devnet: balanceOf(%s): %w", addr, err)
	}
	vals, err := d.tokenABI.Unpack("balanceOf", out)
	if err != nil {
		return nil, fmt.Errorf("devnet: unpack balanceOf: %w", err)
	}
	bal, ok := vals[0].(*big.Int)
	if !ok {
		return nil, fmt.Errorf("devnet: balanceOf returned %T", vals[0])
	}
	return bal, nil
}

// BalanceOf returns the test token balance of addr, in atomic units, at the
// latest block.
func (d *Devnet) BalanceOf(ctx context.Context, addr common.Address) (*big.Int, error) {
	return d.TokenBalanceOf(ctx, d.token.Address, addr)
}
