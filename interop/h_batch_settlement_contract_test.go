package interop

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/evm"
)

// bsConfig mirrors ChannelConfig for the ABI encoder and the official
// client's JSON.
type bsConfig struct {
	Payer              common.Address `json:"payer"`
	PayerAuthorizer    common.Address `json:"payerAuthorizer"`
	Receiver           common.Address `json:"receiver"`
	ReceiverAuthorizer common.Address `json:"receiverAuthorizer"`
	Token              common.Address `json:"token"`
	WithdrawDelay      *big.Int       `json:"withdrawDelay"`
	Salt               common.Hash    `json:"salt"`
}

type bsVoucher struct {
	Channel            bsConfig
	MaxClaimableAmount *big.Int
}

type bsVoucherClaim struct {
	Voucher      bsVoucher
	Signature    []byte
	TotalClaimed *big.Int
}

// bsOfficialResult is the line js/batch-settlement-contract.mjs prints.
type bsOfficialResult struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Payload struct {
		Type          string   `json:"type"`
		ChannelConfig bsConfig `json:"channelConfig"`
		Voucher       struct {
			ChannelID          common.Hash   `json:"channelId"`
			MaxClaimableAmount string        `json:"maxClaimableAmount"`
			Signature          hexutil.Bytes `json:"signature"`
		} `json:"voucher"`
		Deposit *struct {
			Amount        string `json:"amount"`
			Authorization struct {
				ERC3009 struct {
					ValidAfter  string        `json:"validAfter"`
					ValidBefore string        `json:"validBefore"`
					Salt        string        `json:"salt"`
					Signature   hexutil.Bytes `json:"signature"`
				} `json:"erc3009Authorization"`
			} `json:"authorization"`
		} `json:"deposit"`
	} `json:"payload"`
	Digests struct {
		Voucher    common.Hash `json:"voucher"`
		Refund     common.Hash `json:"refund"`
		ClaimBatch common.Hash `json:"claimBatch"`
	} `json:"digests"`
	Verify struct {
		IsValid       bool            `json:"isValid"`
		InvalidReason string          `json:"invalidReason"`
		Extra         json.RawMessage `json:"extra"`
	} `json:"verify"`
}

// TestOfficialBatchSettlementClientAgainstGoContracts has the official
// @x402/evm batch-settlement client sign a deposit and vouchers against the
// devnet, and checks that go402's x402BatchSettlement and
// ERC3009DepositCollector accept them unchanged: the same channel id and
// EIP-712 digests, the deposit collected from the client's
// ReceiveWithAuthorization, its vouchers claimed, and the client's read of
// channels(bytes32) turning its next payment into a voucher, and the
// official facilitator verifying both payloads against the devnet.
func TestOfficialBatchSettlementClientAgainstGoContracts(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 31337)
	payer, receiver, relayer := acctNodePayer, acctPayee, acctGoFac
	env := map[string]string{
		"PRIVATE_KEY": w.key(payer), "PRICE_AMOUNT": "1000",
		"RECEIVER": w.addr(receiver).Hex(), "RECEIVER_AUTHORIZER": w.addr(relayer).Hex(),
		"FACILITATOR_KEY": w.key(acctNodeFac),
	}

	first := w.runBatchSettlementScript(env)
	p := first.Payload
	if p.Type != "deposit" || p.Deposit == nil {
		t.Fatalf("first payload is %q, want a deposit", p.Type)
	}
	// The official facilitator accepts the deposit it would submit.
	if !first.Verify.IsValid {
		t.Fatalf("official facilitator: deposit invalid: %s", first.Verify.InvalidReason)
	}
	cfg := p.ChannelConfig
	if got := w.bsView("getChannelId", cfg)[0].([32]byte); got != p.Voucher.ChannelID {
		t.Fatalf("getChannelId = %x, official computeChannelId = %s", got, p.Voucher.ChannelID)
	}
	max := bigOf(t, p.Voucher.MaxClaimableAmount)
	if got := w.bsView("getVoucherDigest", p.Voucher.ChannelID, max)[0].([32]byte); got != first.Digests.Voucher {
		t.Errorf("getVoucherDigest = %x, official %s", got, first.Digests.Voucher)
	}
	if got := w.bsView("getRefundDigest", p.Voucher.ChannelID, big.NewInt(7), big.NewInt(5))[0].([32]byte); got != first.Digests.Refund {
		t.Errorf("getRefundDigest = %x, official %s", got, first.Digests.Refund)
	}
	row := bsVoucherClaim{Voucher: bsVoucher{cfg, max}, Signature: []byte{}, TotalClaimed: new(big.Int).Sub(max, big.NewInt(1))}
	if got := w.bsView("getClaimBatchDigest", []bsVoucherClaim{row})[0].([32]byte); got != first.Digests.ClaimBatch {
		t.Errorf("getClaimBatchDigest = %x, official %s", got, first.Digests.ClaimBatch)
	}

	// The deposit, as a facilitator submits it: collectorData =
	// abi.encode(validAfter, validBefore, salt, signature).
	auth := p.Deposit.Authorization.ERC3009
	u256, _ := abi.NewType("uint256", "", nil)
	byts, _ := abi.NewType("bytes", "", nil)
	collectorData, err := abi.Arguments{{Type: u256}, {Type: u256}, {Type: u256}, {Type: byts}}.Pack(
		bigOf(t, auth.ValidAfter), bigOf(t, auth.ValidBefore), bigOf(t, auth.Salt), []byte(auth.Signature))
	if err != nil {
		t.Fatal(err)
	}
	amount := bigOf(t, p.Deposit.Amount)
	w.bsSend(relayer, "deposit", cfg, amount, evm.ERC3009DepositCollectorAddress(), collectorData)
	if ch := w.bsView("channels", p.Voucher.ChannelID); ch[0].(*big.Int).Cmp(amount) != 0 || ch[1].(*big.Int).Sign() != 0 {
		t.Fatalf("channels = %v after the official deposit of %v", ch, amount)
	}
	w.bsSend(receiver, "claim", []bsVoucherClaim{{Voucher: bsVoucher{cfg, max}, Signature: p.Voucher.Signature, TotalClaimed: max}})

	// A fresh client process recovers the channel from channels(bytes32)
	// and pays with a voucher for the claimed total plus the price.
	second := w.runBatchSettlementScript(env)
	if second.Payload.Type != "voucher" || second.Payload.Voucher.ChannelID != p.Voucher.ChannelID {
		t.Fatalf("second payload is %q for %s, want a voucher for %s", second.Payload.Type, second.Payload.Voucher.ChannelID, p.Voucher.ChannelID)
	}
	// The official facilitator reads the channel from the go402 contracts
	// (through Multicall3.tryAggregate) and accepts the voucher.
	if !second.Verify.IsValid {
		t.Fatalf("official facilitator: voucher invalid: %s (extra %s)", second.Verify.InvalidReason, second.Verify.Extra)
	}
	t.Logf("official facilitator verified the voucher; channel state %s", second.Verify.Extra)
	max2 := bigOf(t, second.Payload.Voucher.MaxClaimableAmount)
	if want := new(big.Int).Add(max, big.NewInt(1000)); max2.Cmp(want) != 0 {
		t.Fatalf("second voucher for %v, want %v", max2, want)
	}
	w.bsSend(receiver, "claim", []bsVoucherClaim{{Voucher: bsVoucher{cfg, max2}, Signature: second.Payload.Voucher.Signature, TotalClaimed: max2}})
	if ch := w.bsView("channels", p.Voucher.ChannelID); ch[1].(*big.Int).Cmp(max2) != 0 {
		t.Fatalf("totalClaimed %v, want %v", ch[1], max2)
	}
}

func (w *world) runBatchSettlementScript(env map[string]string) bsOfficialResult {
	t := w.t
	t.Helper()
	p := w.start("batch-settlement-contract.mjs", "", env)
	select {
	case <-p.done:
	case <-w.ctx.Done():
		t.Fatalf("batch-settlement-contract.mjs: %v", w.ctx.Err())
	}
	out := strings.TrimSpace(p.out.String())
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var r bsOfficialResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.OK {
		t.Fatalf("batch-settlement-contract.mjs: %q (%v)", out, err)
	}
	return r
}

var bsABI = contracts.BatchSettlementParsedABI()

func (w *world) bsView(name string, args ...any) []any {
	w.t.Helper()
	data, err := bsABI.Pack(name, args...)
	if err != nil {
		w.t.Fatalf("pack %s: %v", name, err)
	}
	to := evm.BatchSettlementAddress()
	out, err := w.dev.Client().CallContract(w.ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		w.t.Fatalf("call %s: %v", name, err)
	}
	vals, err := bsABI.Unpack(name, out)
	if err != nil {
		w.t.Fatalf("unpack %s: %v", name, err)
	}
	return vals
}

// bsSend sends a transaction to x402BatchSettlement from account i and
// requires success.
func (w *world) bsSend(i int, name string, args ...any) {
	t := w.t
	t.Helper()
	data, err := bsABI.Pack(name, args...)
	if err != nil {
		t.Fatalf("pack %s: %v", name, err)
	}
	key := w.accts[i].PrivateKey
	from := crypto.PubkeyToAddress(key.PublicKey)
	to := evm.BatchSettlementAddress()
	c := w.dev.Client()
	gas, err := c.EstimateGas(w.ctx, ethereum.CallMsg{From: from, To: &to, Data: data})
	if err != nil {
		t.Fatalf("%s: estimate gas: %v", name, err)
	}
	nonce, err := c.PendingNonceAt(w.ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeaderByNumber(w.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tip := big.NewInt(1e9)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(w.dev.ChainID()), &types.DynamicFeeTx{
		ChainID: w.dev.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas: gas + gas/5, To: &to, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendTransaction(w.ctx, tx); err != nil {
		t.Fatalf("%s: send: %v", name, err)
	}
	r, err := w.dev.WaitMined(w.ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("%s: receipt %+v (%v)", name, r, err)
	}
}

// bigOf parses a decimal or 0x-hex integer.
func bigOf(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 0)
	if !ok {
		t.Fatalf("not an integer: %q", s)
	}
	return n
}
