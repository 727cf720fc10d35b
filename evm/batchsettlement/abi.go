package batchsettlement

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// How @x402/evm 2.27's facilitator submits the scheme's transactions, for
// the facilitator built on this package:
//
//   - deposit: x402BatchSettlement.deposit(config, uint128 amount,
//     collector, collectorData) with collector = ERC3009DepositCollector and
//     collectorData = abi.encode(uint256 validAfter, uint256 validBefore,
//     uint256 salt, bytes signature) ([ERC3009CollectorData]; an ERC-6492
//     wrapper is stripped from the signature first). The collector calls
//     receiveWithAuthorization(payer, collector, amount, validAfter,
//     validBefore, keccak256(abi.encode(channelId, salt)), v, r, s) on the
//     token. [EncodeDeposit] builds the call.
//   - claim: claimWithSignature(VoucherClaim[] claims, bytes
//     receiverAuthorizerSignature), each VoucherClaim being
//     ((config, maxClaimableAmount), voucherSignature, totalClaimed), the
//     signature over [ClaimBatchDigest] of the rows (channelId,
//     maxClaimableAmount, totalClaimed) ([EncodeClaimWithSignature]).
//   - settle: settle(receiver, token) ([EncodeSettle]).
//   - refund: refundWithSignature(config, uint128 amount, uint256 nonce,
//     bytes receiverAuthorizerSignature) over [RefundDigest]; when the
//     completed refund payload has claims, multicall([claimWithSignature
//     calldata, refundWithSignature calldata]) in one transaction
//     ([EncodeRefundWithSignature], [EncodeMulticall]).
//   - reads: channels(id) → (uint128 balance, uint128 totalClaimed),
//     pendingWithdrawals(id) → (uint128 amount, uint40 initiatedAt),
//     refundNonce(id) → uint256, receivers(receiver, token) →
//     (uint128 totalClaimed, uint128 totalSettled).
//
// SettlementABI is the part of x402BatchSettlement's ABI those calls use.
const SettlementABI = `[
{"type":"function","name":"multicall","inputs":[{"name":"data","type":"bytes[]"}],"outputs":[{"name":"results","type":"bytes[]"}],"stateMutability":"nonpayable"},
{"type":"function","name":"deposit","inputs":[{"name":"config","type":"tuple","components":` + channelConfigComponents + `},{"name":"amount","type":"uint128"},{"name":"collector","type":"address"},{"name":"collectorData","type":"bytes"}],"outputs":[],"stateMutability":"nonpayable"},
{"type":"function","name":"claim","inputs":[{"name":"voucherClaims","type":"tuple[]","components":` + voucherClaimComponents + `}],"outputs":[],"stateMutability":"nonpayable"},
{"type":"function","name":"claimWithSignature","inputs":[{"name":"voucherClaims","type":"tuple[]","components":` + voucherClaimComponents + `},{"name":"authorizerSignature","type":"bytes"}],"outputs":[],"stateMutability":"nonpayable"},
{"type":"function","name":"settle","inputs":[{"name":"receiver","type":"address"},{"name":"token","type":"address"}],"outputs":[],"stateMutability":"nonpayable"},
{"type":"function","name":"refundWithSignature","inputs":[{"name":"config","type":"tuple","components":` + channelConfigComponents + `},{"name":"amount","type":"uint128"},{"name":"nonce","type":"uint256"},{"name":"receiverAuthorizerSignature","type":"bytes"}],"outputs":[],"stateMutability":"nonpayable"},
{"type":"function","name":"getChannelId","inputs":[{"name":"config","type":"tuple","components":` + channelConfigComponents + `}],"outputs":[{"name":"","type":"bytes32"}],"stateMutability":"view"},
{"type":"function","name":"channels","inputs":[{"name":"channelId","type":"bytes32"}],"outputs":[{"name":"balance","type":"uint128"},{"name":"totalClaimed","type":"uint128"}],"stateMutability":"view"},
{"type":"function","name":"pendingWithdrawals","inputs":[{"name":"channelId","type":"bytes32"}],"outputs":[{"name":"amount","type":"uint128"},{"name":"initiatedAt","type":"uint40"}],"stateMutability":"view"},
{"type":"function","name":"refundNonce","inputs":[{"name":"channelId","type":"bytes32"}],"outputs":[{"name":"","type":"uint256"}],"stateMutability":"view"},
{"type":"function","name":"receivers","inputs":[{"name":"receiver","type":"address"},{"name":"token","type":"address"}],"outputs":[{"name":"totalClaimed","type":"uint128"},{"name":"totalSettled","type":"uint128"}],"stateMutability":"view"}
]`

const channelConfigComponents = `[{"name":"payer","type":"address"},{"name":"payerAuthorizer","type":"address"},{"name":"receiver","type":"address"},{"name":"receiverAuthorizer","type":"address"},{"name":"token","type":"address"},{"name":"withdrawDelay","type":"uint40"},{"name":"salt","type":"bytes32"}]`

const voucherClaimComponents = `[{"name":"voucher","type":"tuple","components":[{"name":"channel","type":"tuple","components":` + channelConfigComponents + `},{"name":"maxClaimableAmount","type":"uint128"}]},{"name":"signature","type":"bytes"},{"name":"totalClaimed","type":"uint128"}]`

// parseABI parses SettlementABI.
func parseABI() (abi.ABI, error) { return abi.JSON(strings.NewReader(SettlementABI)) }

// abiConfig is a ChannelConfig as go-ethereum's ABI packer wants the tuple.
type abiConfig struct {
	Payer              common.Address
	PayerAuthorizer    common.Address
	Receiver           common.Address
	ReceiverAuthorizer common.Address
	Token              common.Address
	WithdrawDelay      *big.Int
	Salt               [32]byte
}

func toABIConfig(c *ChannelConfig) abiConfig {
	return abiConfig{c.Payer, c.PayerAuthorizer, c.Receiver, c.ReceiverAuthorizer, c.Token, new(big.Int).SetUint64(c.WithdrawDelay), c.Salt}
}

type abiVoucher struct {
	Channel            abiConfig
	MaxClaimableAmount *big.Int
}

type abiVoucherClaim struct {
	Voucher      abiVoucher
	Signature    []byte
	TotalClaimed *big.Int
}

func toABIClaims(claims []VoucherClaim) []abiVoucherClaim {
	out := make([]abiVoucherClaim, len(claims))
	for i := range claims {
		c := &claims[i]
		out[i] = abiVoucherClaim{abiVoucher{toABIConfig(&c.Channel), c.MaxClaimableAmount.Big()}, c.Signature, c.TotalClaimed.Big()}
	}
	return out
}

func pack(method string, args ...any) ([]byte, error) {
	a, err := parseABI()
	if err != nil {
		return nil, err
	}
	data, err := a.Pack(method, args...)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: encoding %s: %w", method, err)
	}
	return data, nil
}

// ERC3009CollectorData returns the collectorData of an ERC-3009 deposit:
// abi.encode(uint256 validAfter, uint256 validBefore, uint256 salt, bytes
// signature). The signature must be the bare 65-byte signature.
func ERC3009CollectorData(a *ERC3009Authorization) []byte {
	sigWords := (len(a.Signature) + 31) / 32
	out := make([]byte, 32*(5+sigWords))
	putWord(out[0:32], a.ValidAfter)
	putWord(out[32:64], a.ValidBefore)
	copy(out[64:96], a.Salt[:])
	out[127] = 0x80 // offset of the bytes, after the four head words
	putWord(out[128:160], x402.NewAmount(uint64(len(a.Signature))))
	copy(out[160:], a.Signature)
	return out
}

// EncodeDeposit returns the calldata of deposit(config, amount,
// ERC3009DepositCollector, collectorData) for an ERC-3009 deposit payload.
func EncodeDeposit(p *DepositPayload) ([]byte, error) {
	a := p.Deposit.Authorization.ERC3009Authorization
	if a == nil {
		return nil, errf(x402.ReasonBatchERC3009AuthorizationNeeded, "the deposit has no erc3009Authorization")
	}
	return pack("deposit", toABIConfig(&p.ChannelConfig), p.Deposit.Amount.Big(), ERC3009Collector(), ERC3009CollectorData(a))
}

// EncodeClaimWithSignature returns the calldata of
// claimWithSignature(claims, authorizerSignature).
func EncodeClaimWithSignature(claims []VoucherClaim, authorizerSignature []byte) ([]byte, error) {
	return pack("claimWithSignature", toABIClaims(claims), authorizerSignature)
}

// EncodeSettle returns the calldata of settle(receiver, token).
func EncodeSettle(receiver, token common.Address) ([]byte, error) {
	return pack("settle", receiver, token)
}

// EncodeRefundWithSignature returns the calldata of
// refundWithSignature(config, amount, nonce, receiverAuthorizerSignature).
func EncodeRefundWithSignature(cfg *ChannelConfig, amount, nonce x402.Amount, sig []byte) ([]byte, error) {
	return pack("refundWithSignature", toABIConfig(cfg), amount.Big(), nonce.Big(), sig)
}

// EncodeMulticall returns the calldata of multicall(calls).
func EncodeMulticall(calls ...[]byte) ([]byte, error) { return pack("multicall", calls) }

// EncodeChannels returns the calldata of channels(channelId).
func EncodeChannels(channelID common.Hash) ([]byte, error) {
	return pack("channels", [32]byte(channelID))
}

// DecodeChannels decodes the result of channels(channelId): balance and
// totalClaimed.
func DecodeChannels(ret []byte) (balance, totalClaimed x402.Amount, err error) {
	a, err := parseABI()
	if err != nil {
		return balance, totalClaimed, err
	}
	out, err := a.Unpack("channels", ret)
	if err != nil || len(out) != 2 {
		return balance, totalClaimed, fmt.Errorf("evm/batchsettlement: decoding channels(): %v", err)
	}
	b, ok1 := out[0].(*big.Int)
	t, ok2 := out[1].(*big.Int)
	if !ok1 || !ok2 {
		return balance, totalClaimed, fmt.Errorf("evm/batchsettlement: decoding channels(): unexpected types")
	}
	if balance, err = x402.AmountFromBig(b); err != nil {
		return balance, totalClaimed, err
	}
	totalClaimed, err = x402.AmountFromBig(t)
	return balance, totalClaimed, err
}
