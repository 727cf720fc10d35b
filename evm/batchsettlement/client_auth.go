package batchsettlement

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// errNoAuthorization is returned by Payer.Authorization for a payload
// without a token authorization (a voucher or a refund).
var errNoAuthorization = errors.New("evm/batchsettlement: the payload moves no money on chain (a voucher)")

// authorizationStateReader is a ChannelReader that can also read EIP-3009
// authorizations (RPCChannelReader).
type authorizationStateReader interface {
	AuthorizationState(ctx context.Context, key x402.SettlementKey, validBefore time.Time) (used, expired bool, err error)
}

// Authorization returns the on-chain key of the deposit authorization in a
// payload the payer signed for req — (network, token, payer, EIP-3009 nonce
// keccak256(abi.encode(channelId, salt))), lower-case hex — and its
// validBefore, so that a paying client can prove a refused deposit unused
// and release its budget. A voucher or refund payload has none.
func (p *Payer) Authorization(req x402.PaymentRequirements, payload x402.Object) (x402.SettlementKey, time.Time, error) {
	pl, err := ParseChannelPayload(payload)
	if err != nil {
		return x402.SettlementKey{}, time.Time{}, err
	}
	dp, ok := pl.(*DepositPayload)
	if !ok || dp.Deposit.Authorization.ERC3009Authorization == nil {
		return x402.SettlementKey{}, time.Time{}, errNoAuthorization
	}
	chainID, err := req.Network.ChainID()
	if err != nil {
		return x402.SettlementKey{}, time.Time{}, err
	}
	auth := dp.Deposit.Authorization.ERC3009Authorization
	vb, ok := auth.ValidBefore.Uint64()
	if !ok || vb > 1<<62 {
		return x402.SettlementKey{}, time.Time{}, errors.New("evm/batchsettlement: deposit validBefore out of range")
	}
	nonce := ERC3009DepositNonce(ChannelID(dp.ChannelConfig, chainID), auth.Salt)
	key := x402.SettlementKey{Network: req.Network.Canonical(), Asset: strings.ToLower(dp.ChannelConfig.Token.Hex()),
		Payer: strings.ToLower(dp.ChannelConfig.Payer.Hex()), Nonce: hexutil.Encode(nonce[:])}
	return key, time.Unix(int64(vb), 0), nil
}

// AuthorizationState reads through the payer's Reader whether the deposit
// authorization of key was used, and whether it can no longer be.
func (p *Payer) AuthorizationState(ctx context.Context, key x402.SettlementKey, validBefore time.Time) (used, expired bool, err error) {
	r, ok := p.cfg.Reader.(authorizationStateReader)
	if !ok {
		return false, false, fmt.Errorf("%w: %s", ErrNoRPC, key.Network)
	}
	return r.AuthorizationState(ctx, key, validBefore)
}
