package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// permit2Authorization is [ExactClient.Authorization] for a Permit2
// payload: the key (network, asset, owner, Permit2 nonce in decimal) the
// facilitator settles it under, and its deadline.
func permit2Authorization(req x402.PaymentRequirements, payload x402.Object) (x402.SettlementKey, time.Time, error) {
	s, err := permit2.ParsePayload(payload, permit2.KindExact)
	if err != nil {
		return x402.SettlementKey{}, time.Time{}, err
	}
	if !s.Permit.Deadline.IsInt64() {
		return x402.SettlementKey{}, time.Time{}, errors.New("evm: Permit2 deadline is out of range")
	}
	return permit2Key(req.Network.Canonical(), req.Asset, s), time.Unix(s.Permit.Deadline.Int64(), 0), nil
}

// headCaller reads the latest header and makes eth_calls; an
// *ethclient.Client is one.
type headCaller interface {
	ethereum.ContractCaller
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
}

// permit2State is [ChainClients.AuthorizationState] for a Permit2 key: the
// owner's Permit2 nonce bit (set once a transfer used it, or the owner
// invalidated it) and whether the latest block is at or past the deadline,
// read at the same block.
func permit2State(ctx context.Context, ec headCaller, key x402.SettlementKey, deadline time.Time) (used, expired bool, err error) {
	owner, ok := hexAddress(key.Payer)
	nonce, ok2 := new(big.Int).SetString(key.Nonce, 10)
	if !ok || !ok2 || nonce.Sign() < 0 || nonce.BitLen() > 256 {
		return false, false, fmt.Errorf("evm: Permit2 key %+v is malformed", key)
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		return false, false, fmt.Errorf("evm: reading the latest block of %s: %w", key.Network, err)
	}
	p2 := permit2.Address()
	out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &p2, Data: packNonceBitmap(owner, nonce)}, head.Number)
	if err != nil {
		return false, false, fmt.Errorf("evm: Permit2 nonceBitmap on %s: %w", key.Network, err)
	}
	if len(out) != 32 {
		return false, false, fmt.Errorf("evm: Permit2 answered nonceBitmap with %d bytes; is Permit2 deployed on %s?", len(out), key.Network)
	}
	used = nonceBitSet(new(big.Int).SetBytes(out), nonce)
	expired = deadline.Unix() > 0 && head.Time >= uint64(deadline.Unix())
	return used, expired, nil
}
