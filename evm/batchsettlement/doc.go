// Package batchsettlement is the core of the x402 "batch-settlement" scheme
// on EVM chains: payment channels with cumulative vouchers. The payer
// deposits once into the x402BatchSettlement escrow contract, then pays each
// call with an off-chain EIP-712 voucher for the cumulative amount it owes;
// the server checks a voucher locally (one signature recovery, no chain
// call) and claims many vouchers in one transaction.
//
// The package is wire-compatible with @x402/evm 2.27 (its client, server and
// facilitator); where the scheme's spec and that implementation differ, the
// implementation's JSON shapes are followed and the difference is noted on
// the type concerned. It holds:
//
//   - the wire types of the payloads ([DepositPayload], [VoucherPayload],
//     [RefundPayload], and the server-authored [ClaimPayload] and
//     [SettlePayload]), of the 402 extra ([RequirementsExtra]) and of the
//     PAYMENT-RESPONSE extra ([ResponseExtra]), with a strict parser
//     ([ParsePayload]) whose errors are *x402.Error values carrying the
//     scheme's reason codes (x402.ReasonBatch…);
//   - the EIP-712 hashing of the scheme ([ChannelID], [VoucherDigest],
//     [RefundDigest], [ClaimBatchDigest], [ReceiveAuthorizationDigest],
//     [ERC3009DepositNonce]) and signing helpers ([SignVoucher],
//     [SignRefund], [SignClaimBatch], [SignERC3009Deposit]);
//   - the server's hot path: [ChannelVerifier], which verifies a voucher
//     against a channel whose config the server already trusts, in one
//     ECDSA recovery and without allocating beyond it, after
//     [ParsePayload] decoded the canonical voucher payload in one
//     allocation (a fast path; other forms take the general decoder);
//   - [Server], the scheme's [x402.SchemeServer]: requirements with the
//     scheme's extra. It keeps no channel state: that belongs to the
//     channel store built on top of this package.
//
// The ABI encodings a facilitator needs to submit deposits, claims,
// settlements and refunds, and to read channels, are here too
// ([ERC3009CollectorData], [EncodeDeposit], [EncodeClaimWithSignature],
// [EncodeRefundWithSignature], [EncodeSettle], [EncodeMulticall],
// [EncodeChannels], [DecodeChannels]); [SettlementABI] documents how the
// official facilitator uses them.
//
// Where the spec and @x402/evm 2.27 differ, the latter is followed: the
// reason codes are the union of both lists (x402.ReasonBatch…; the spec's
// channel_state_read_failed is rpc_read_failed in the code); the official
// client treats an absent extra.withdrawDelay as 900 and ignores one sent as
// a string ([RequirementsExtra.EffectiveWithdrawDelay]); withdrawRequestedAt
// and refundNonce are read as a number or a string, as the official server
// reads them; and every [ChannelState] field is optional when read, because
// the official server merges {chargedCumulativeAmount} into whatever
// snapshot the facilitator returned, possibly none.
package batchsettlement

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
)

// Scheme is the name of the scheme.
const Scheme = "batch-settlement"

// The scheme's contracts, at the same CREATE2 address on every network.
const (
	// SettlementContractHex is x402BatchSettlement, the escrow holding the
	// channels and the EIP-712 verifying contract of vouchers, refunds and
	// claim batches.
	SettlementContractHex = "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003"
	// ERC3009CollectorHex is ERC3009DepositCollector: the `to` of the
	// payer's ReceiveWithAuthorization for a deposit.
	ERC3009CollectorHex = "0x4020806089470a89826cB9fB1f4059150b550004"
	// Permit2CollectorHex is Permit2DepositCollector (deposits through
	// Permit2; not supported by this package yet).
	Permit2CollectorHex = "0x4020425FAf3B746C082C2f942b4E5159887B0005"
)

// SettlementContract returns the address of x402BatchSettlement.
func SettlementContract() common.Address { return common.HexToAddress(SettlementContractHex) }

// ERC3009Collector returns the address of ERC3009DepositCollector.
func ERC3009Collector() common.Address { return common.HexToAddress(ERC3009CollectorHex) }

// Permit2Collector returns the address of Permit2DepositCollector.
func Permit2Collector() common.Address { return common.HexToAddress(Permit2CollectorHex) }

// Withdrawal delays, in seconds: a channel's withdrawDelay must lie in
// [MinWithdrawDelay, MaxWithdrawDelay] (15 minutes to 30 days). The official
// client assumes DefaultWithdrawDelay when a 402 does not announce one.
const (
	MinWithdrawDelay     = 900
	MaxWithdrawDelay     = 30 * 24 * 3600
	DefaultWithdrawDelay = MinWithdrawDelay
)

// DefaultMinDepositMultiplier is the multiple of the price that the official
// server announces as extra.minDeposit when none is configured.
const DefaultMinDepositMultiplier = 10

// The scheme's EIP-712 domain name and version; the chain id and the
// verifying contract ([SettlementContractHex]) complete it.
const (
	DomainName    = "x402 Batch Settlement"
	DomainVersion = "1"
)

// Domain returns the scheme's EIP-712 domain on chainID.
func Domain(chainID uint64) evm.Domain {
	return evm.Domain{Name: DomainName, Version: DomainVersion, ChainID: chainID, VerifyingContract: SettlementContract()}
}

// Transfer methods of a deposit, as in extra.assetTransferMethod.
const (
	TransferEIP3009 = "eip3009"
	TransferPermit2 = "permit2"
)

// Payload types (the payload's "type").
const (
	TypeDeposit = "deposit"
	TypeVoucher = "voucher"
	TypeRefund  = "refund"
	TypeClaim   = "claim"
	TypeSettle  = "settle"
)
