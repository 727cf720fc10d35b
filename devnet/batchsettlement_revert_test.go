package devnet_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
)

// TestBatchSettlementReverts checks every custom error of the settlement
// contract and its collector: each call reverts with the error's selector.
func TestBatchSettlementReverts(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	pk := e.payer.PrivateKey

	funded := e.config(1) // 1000 deposited, 100 claimed
	e.send(e.payer, e.depositCall(funded, pk, 1000, 1))
	e.send(e.receiver, e.pack("claim", []voucherClaim{e.claimOf(funded, pk, 100, 100)}))
	pending := e.config(2) // 1000 deposited, a withdrawal of 10 pending
	e.send(e.payer, e.depositCall(pending, pk, 1000, 2))
	e.send(e.payer, e.pack("initiateWithdraw", pending, big.NewInt(10)))
	delegated := e.config(3) // vouchers signed by the relayer as payer authorizer
	delegated.PayerAuthorizer = e.relayer.Address
	e.send(e.payer, e.depositCall(delegated, pk, 1000, 3))
	otherAuth := e.config(4) // a different receiver authorizer
	otherAuth.ReceiverAuthorizer = e.receiver.Address
	e.send(e.payer, e.depositCall(otherAuth, pk, 1000, 4))
	// A contract that accepts any call and moves nothing, as a collector.
	noop := deployWallet(t, e.d, e.relayer.PrivateKey, true)

	with := func(f func(*channelConfig)) channelConfig {
		c := e.config(9)
		f(&c)
		return c
	}
	deposit := func(c channelConfig, amount *big.Int, collector common.Address) []byte {
		return e.pack("deposit", c, amount, collector, []byte{})
	}
	one := big.NewInt(1)
	maxU128 := new(big.Int).Sub(new(big.Int).Lsh(one, 128), one)
	claimSigned := func(claims ...voucherClaim) []byte {
		return e.pack("claimWithSignature", claims, sign(t, e.authorizer.PrivateKey, e.claimBatchDigest(claims)))
	}
	refundSigned := func(c channelConfig, amount, nonce int64, key *devnet.Account) []byte {
		d := e.refundDigest(e.channelID(c), big.NewInt(nonce), big.NewInt(amount))
		return e.pack("refundWithSignature", c, big.NewInt(amount), big.NewInt(nonce), sign(t, key.PrivateKey, d))
	}

	cases := []struct {
		name string
		from devnet.Account
		data []byte
		err  string
		to   common.Address // zero: the settlement contract
	}{
		{"deposit payer zero", e.payer, deposit(with(func(c *channelConfig) { c.Payer = common.Address{} }), one, evm.ERC3009DepositCollectorAddress()), "InvalidChannel()", common.Address{}},
		{"deposit receiver zero", e.payer, deposit(with(func(c *channelConfig) { c.Receiver = common.Address{} }), one, evm.ERC3009DepositCollectorAddress()), "InvalidChannel()", common.Address{}},
		{"deposit receiverAuthorizer zero", e.payer, deposit(with(func(c *channelConfig) { c.ReceiverAuthorizer = common.Address{} }), one, evm.ERC3009DepositCollectorAddress()), "InvalidChannel()", common.Address{}},
		{"deposit token zero", e.payer, deposit(with(func(c *channelConfig) { c.Token = common.Address{} }), one, evm.ERC3009DepositCollectorAddress()), "InvalidChannel()", common.Address{}},
		{"deposit delay 899", e.payer, deposit(with(func(c *channelConfig) { c.WithdrawDelay = big.NewInt(899) }), one, evm.ERC3009DepositCollectorAddress()), "WithdrawDelayOutOfRange()", common.Address{}},
		{"deposit delay 30 days + 1s", e.payer, deposit(with(func(c *channelConfig) { c.WithdrawDelay = big.NewInt(2_592_001) }), one, evm.ERC3009DepositCollectorAddress()), "WithdrawDelayOutOfRange()", common.Address{}},
		{"deposit zero", e.payer, deposit(funded, big.NewInt(0), evm.ERC3009DepositCollectorAddress()), "ZeroDeposit()", common.Address{}},
		{"deposit collector zero", e.payer, deposit(funded, one, common.Address{}), "InvalidCollector()", common.Address{}},
		{"deposit overflow", e.payer, deposit(funded, maxU128, evm.ERC3009DepositCollectorAddress()), "DepositOverflow()", common.Address{}},
		{"deposit collector moves nothing", e.payer, deposit(funded, one, noop), "DepositCollectionFailed()", common.Address{}},
		{"deposit authorization by the wrong key", e.payer, e.depositCall(funded, e.receiver.PrivateKey, 1, 5), "InvalidSignature()", common.Address{}},
		{"collect called directly", e.payer, mustPack(t, "collect", e.payer.Address, e.d.Token().Address, one, [32]byte{}, []byte{}), "OnlyX402BatchSettlement()", evm.ERC3009DepositCollectorAddress()},

		{"claim empty", e.receiver, e.pack("claim", []voucherClaim{}), "EmptyBatch()", common.Address{}},
		{"claimWithSignature empty", e.relayer, e.pack("claimWithSignature", []voucherClaim{}, []byte{}), "EmptyBatch()", common.Address{}},
		{"claim by a stranger", e.relayer, e.pack("claim", []voucherClaim{e.claimOf(funded, pk, 200, 200)}), "NotAuthorizedToClaim()", common.Address{}},
		{"claim by the payer", e.payer, e.pack("claim", []voucherClaim{e.claimOf(funded, pk, 200, 200)}), "NotAuthorizedToClaim()", common.Address{}},
		{"claim above the voucher", e.receiver, e.pack("claim", []voucherClaim{e.claimOf(funded, pk, 200, 201)}), "ClaimExceedsCeiling()", common.Address{}},
		{"claim above the balance", e.receiver, e.pack("claim", []voucherClaim{e.claimOf(funded, pk, 1001, 1001)}), "ClaimExceedsBalance()", common.Address{}},
		{"claim voucher by the wrong key", e.receiver, e.pack("claim", []voucherClaim{e.claimOf(funded, e.receiver.PrivateKey, 200, 200)}), "InvalidSignature()", common.Address{}},
		{"claim voucher by the payer when an authorizer is set", e.receiver, e.pack("claim", []voucherClaim{e.claimOf(delegated, pk, 200, 200)}), "InvalidSignature()", common.Address{}},
		{"claim voucher with a malformed signature and an authorizer", e.receiver, e.pack("claim", []voucherClaim{func() voucherClaim {
			v := e.claimOf(delegated, e.relayer.PrivateKey, 200, 200)
			v.Signature = v.Signature[:64]
			return v
		}()}), "ECDSAInvalidSignatureLength(uint256)", common.Address{}},
		{"claimWithSignature by the wrong authorizer", e.relayer, e.pack("claimWithSignature", []voucherClaim{e.claimOf(funded, pk, 200, 200)},
			sign(t, e.receiver.PrivateKey, e.claimBatchDigest([]voucherClaim{e.claimOf(funded, pk, 200, 200)}))), "InvalidSignature()", common.Address{}},
		{"claimWithSignature over other rows", e.relayer, e.pack("claimWithSignature", []voucherClaim{e.claimOf(funded, pk, 200, 200)},
			sign(t, e.authorizer.PrivateKey, e.claimBatchDigest([]voucherClaim{e.claimOf(funded, pk, 200, 199)}))), "InvalidSignature()", common.Address{}},
		{"claimWithSignature mixed authorizers", e.relayer, claimSigned(e.claimOf(funded, pk, 200, 200), e.claimOf(otherAuth, pk, 10, 10)), "NotReceiverAuthorizer()", common.Address{}},

		{"refund by the payer", e.payer, e.pack("refund", funded, one), "NotAuthorizedToRefund()", common.Address{}},
		{"refund zero", e.receiver, e.pack("refund", funded, big.NewInt(0)), "ZeroRefund()", common.Address{}},
		{"refundWithSignature zero", e.relayer, refundSigned(funded, 0, 0, &e.authorizer), "ZeroRefund()", common.Address{}},
		{"refundWithSignature wrong nonce", e.relayer, refundSigned(funded, 1, 1, &e.authorizer), "InvalidRefundNonce()", common.Address{}},
		{"refundWithSignature by the receiver key", e.relayer, refundSigned(funded, 1, 0, &e.receiver), "InvalidSignature()", common.Address{}},

		{"initiateWithdraw by the receiver", e.receiver, e.pack("initiateWithdraw", funded, one), "InvalidChannel()", common.Address{}},
		{"initiateWithdraw zero", e.payer, e.pack("initiateWithdraw", funded, big.NewInt(0)), "NothingToWithdraw()", common.Address{}},
		{"initiateWithdraw above unclaimed", e.payer, e.pack("initiateWithdraw", funded, big.NewInt(901)), "WithdrawAmountExceedsAvailable()", common.Address{}},
		{"initiateWithdraw twice", e.payer, e.pack("initiateWithdraw", pending, one), "WithdrawalAlreadyPending()", common.Address{}},
		{"finalizeWithdraw by the receiver", e.receiver, e.pack("finalizeWithdraw", pending), "NotAuthorizedToFinalizeWithdraw()", common.Address{}},
		{"finalizeWithdraw none pending", e.payer, e.pack("finalizeWithdraw", funded), "WithdrawalNotPending()", common.Address{}},
		{"finalizeWithdraw too early", e.payer, e.pack("finalizeWithdraw", pending), "WithdrawDelayNotElapsed()", common.Address{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.to == (common.Address{}) {
				e.wantRevert(tc.from, tc.data, tc.err)
				return
			}
			wantRevertAt(t, e, tc.from, tc.to, tc.data, tc.err)
		})
	}
}

func mustPack(t *testing.T, name string, args ...any) []byte {
	t.Helper()
	data, err := collectorABI.Pack(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// wantRevertAt is bsEnv.wantRevert for a call to another contract.
func wantRevertAt(t *testing.T, e *bsEnv, from devnet.Account, to common.Address, data []byte, errSig string) {
	t.Helper()
	_, err := e.d.Client().EstimateGas(t.Context(), ethereum.CallMsg{From: from.Address, To: &to, Data: data})
	if err == nil {
		t.Fatalf("call to %s succeeded, want %s", to, errSig)
	}
	if got := revertData(err); len(got) < 4 || hexutil.Encode(got[:4]) != hexutil.Encode(selector(errSig)) {
		t.Fatalf("reverted with %x (%v), want %s", got, err, errSig)
	}
}

// TestBatchSettlementReentrancy uses a collector that calls back into the
// settlement contract (settle(0, 0)) and bubbles up the revert: the
// transient-storage guard refuses the nested call.
func TestBatchSettlementReentrancy(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	sel := selector("settle(address,address)")
	// mstore(0, sel << 224); ok := call(gas, settlement, 0, 0, 0x44, 0, 0);
	// if !ok { returndatacopy(0, 0, returndatasize); revert(0, returndatasize) }
	code := append([]byte{0x63}, sel...)
	code = append(code, 0x60, 0xe0, 0x1b, 0x5f, 0x52, 0x5f, 0x5f, 0x60, 0x44, 0x5f, 0x5f, 0x73)
	code = append(code, evm.BatchSettlementAddress().Bytes()...)
	code = append(code, 0x5a, 0xf1, 0x60, 0x31, 0x57, 0x3d, 0x5f, 0x5f, 0x3e, 0x3d, 0x5f, 0xfd, 0x5b, 0x00)
	if code[0x31] != 0x5b {
		t.Fatalf("jump destination misplaced in %x", code)
	}
	reenter := deployCode(t, e, code)

	c := e.config(1)
	e.send(e.payer, e.depositCall(c, e.payer.PrivateKey, 1000, 1))
	e.wantRevert(e.payer, e.pack("deposit", c, big.NewInt(1), reenter, []byte{}), "ReentrancyGuardReentrantCall()")
	// Outside a guarded call the same settle(0, 0) is fine.
	e.send(e.payer, e.pack("settle", common.Address{}, common.Address{}))
}

// deployCode deploys runtime code with a minimal init code (CODECOPY and
// RETURN) from the relayer and returns its address.
func deployCode(t *testing.T, e *bsEnv, runtime []byte) common.Address {
	t.Helper()
	n := byte(len(runtime))
	initCode := append([]byte{0x60, n, 0x60, 0x0a, 0x5f, 0x39, 0x60, n, 0x5f, 0xf3}, runtime...)
	ctx := t.Context()
	key := e.relayer.PrivateKey
	nonce, err := e.d.Client().PendingNonceAt(ctx, e.relayer.Address)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(e.d.ChainID()), &types.DynamicFeeTx{
		ChainID: e.d.ChainID(), Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9), Gas: 200_000, Data: initCode,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.d.Client().SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	r, err := e.d.WaitMined(ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("deploy: %+v %v", r, err)
	}
	return r.ContractAddress
}
