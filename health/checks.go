package health

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// DefaultMaxBlockAge is how old a chain's latest block may be before its
// RPC endpoint counts as stale: Ethereum mines every 12 s and the L2s
// every 2 s or less, so three minutes without a block means a node that
// stopped syncing (or a chain that halted), not a slow one.
const DefaultMaxBlockAge = 3 * time.Minute

// ChainReader is what the chain check reads.
type ChainReader interface {
	ChainID(ctx context.Context) (*big.Int, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
}

// BalanceReader reads an account's native balance.
type BalanceReader interface {
	BalanceAt(ctx context.Context, account common.Address, block *big.Int) (*big.Int, error)
}

// Pinger is a database the readiness check can ping.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ChainCheck checks that the endpoint answers with chain id chainID and
// that its latest block is at most maxAge old (by now); maxAge <= 0 skips
// the age test (a development chain that mines on demand).
func ChainCheck(name string, c ChainReader, chainID uint64, maxAge time.Duration, now func() time.Time) Check {
	if now == nil {
		now = time.Now
	}
	return Check{Name: name, Run: func(ctx context.Context) (string, error) {
		id, err := c.ChainID(ctx)
		if err != nil {
			return "", fmt.Errorf("reading the chain id: %w", err)
		}
		if !id.IsUint64() || id.Uint64() != chainID {
			return "", fmt.Errorf("the endpoint is on chain %s, not %d", id, chainID)
		}
		h, err := c.HeaderByNumber(ctx, nil)
		if err != nil {
			return "", fmt.Errorf("reading the latest block: %w", err)
		}
		age := now().Sub(time.Unix(int64(h.Time), 0)).Truncate(time.Second)
		if maxAge > 0 && age > maxAge {
			return "", fmt.Errorf("latest block %s is %v old (more than %v): the node is not syncing", h.Number, age, maxAge)
		}
		return fmt.Sprintf("chain %d, block %s, %v old", chainID, h.Number, max(age, 0)), nil
	}}
}

// GasCheck checks that account holds at least floor wei (nil or 0: that
// the balance can be read).
func GasCheck(name string, b BalanceReader, account common.Address, floor *big.Int) Check {
	return Check{Name: name, Run: func(ctx context.Context) (string, error) {
		bal, err := b.BalanceAt(ctx, account, nil)
		if err != nil {
			return "", fmt.Errorf("reading the balance of %s: %w", account.Hex(), err)
		}
		if floor != nil && bal.Cmp(floor) < 0 {
			return "", fmt.Errorf("signer %s holds %s wei, below the floor of %s wei", account.Hex(), bal, floor)
		}
		return fmt.Sprintf("signer %s holds %s wei", account.Hex(), bal), nil
	}}
}

// PingCheck checks a database with p.
func PingCheck(name string, p Pinger) Check {
	return Check{Name: name, Run: func(ctx context.Context) (string, error) {
		if p == nil {
			return "", errors.New("not open")
		}
		if err := p.Ping(ctx); err != nil {
			return "", err
		}
		return "reachable", nil
	}}
}

// PingFunc adapts a function to [Pinger].
type PingFunc func(ctx context.Context) error

// Ping calls f.
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }
