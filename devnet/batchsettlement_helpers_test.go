package devnet_test

import (
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
)

var (
	bsABI        = contracts.BatchSettlementParsedABI()
	collectorABI = contracts.ERC3009DepositCollectorParsedABI()
)

// channelConfig, voucher and voucherClaim mirror the contract's structs for
// the ABI encoder (field names are the ABI names in CamelCase).
type channelConfig struct {
	Payer              common.Address
	PayerAuthorizer    common.Address
	Receiver           common.Address
	ReceiverAuthorizer common.Address
	Token              common.Address
	WithdrawDelay      *big.Int // uint40
	Salt               [32]byte
}

type voucher struct {
	Channel            channelConfig
	MaxClaimableAmount *big.Int
}

type voucherClaim struct {
	Voucher      voucher
	Signature    []byte
	TotalClaimed *big.Int
}

// bsEnv is a devnet with the roles of a channel: payer, receiver, the
// receiver's authorizer (signs claim batches and refunds) and a relayer
// that submits what others signed.
type bsEnv struct {
	t                                    *testing.T
	d                                    *devnet.Devnet
	payer, receiver, authorizer, relayer devnet.Account
}

func newBSEnv(t *testing.T) *bsEnv {
	t.Helper()
	d := start(t, devnet.Config{Accounts: 4})
	a := d.Accounts()
	return &bsEnv{t: t, d: d, payer: a[0], receiver: a[1], authorizer: a[2], relayer: a[3]}
}

// config returns a channel from the env's payer to its receiver with the
// minimum withdraw delay and the given salt.
func (e *bsEnv) config(salt byte) channelConfig {
	return channelConfig{
		Payer:              e.payer.Address,
		Receiver:           e.receiver.Address,
		ReceiverAuthorizer: e.authorizer.Address,
		Token:              e.d.Token().Address,
		WithdrawDelay:      big.NewInt(900),
		Salt:               [32]byte{31: salt},
	}
}

// EIP-712 types of the batch-settlement scheme.
var (
	channelConfigType = []apitypes.Type{
		{Name: "payer", Type: "address"},
		{Name: "payerAuthorizer", Type: "address"},
		{Name: "receiver", Type: "address"},
		{Name: "receiverAuthorizer", Type: "address"},
		{Name: "token", Type: "address"},
		{Name: "withdrawDelay", Type: "uint40"},
		{Name: "salt", Type: "bytes32"},
	}
	voucherType = []apitypes.Type{
		{Name: "channelId", Type: "bytes32"},
		{Name: "maxClaimableAmount", Type: "uint128"},
	}
	refundType = []apitypes.Type{
		{Name: "channelId", Type: "bytes32"},
		{Name: "nonce", Type: "uint256"},
		{Name: "amount", Type: "uint128"},
	}
	claimBatchType = []apitypes.Type{{Name: "claims", Type: "ClaimEntry[]"}}
	claimEntryType = []apitypes.Type{
		{Name: "channelId", Type: "bytes32"},
		{Name: "maxClaimableAmount", Type: "uint128"},
		{Name: "totalClaimed", Type: "uint128"},
	}
)

func (e *bsEnv) bsDomain() apitypes.TypedDataDomain {
	return apitypes.TypedDataDomain{
		Name:              "x402 Batch Settlement",
		Version:           "1",
		ChainId:           math.NewHexOrDecimal256(e.d.ChainID().Int64()),
		VerifyingContract: evm.BatchSettlementAddress().Hex(),
	}
}

func (e *bsEnv) typedHash(primary string, types apitypes.Types, msg apitypes.TypedDataMessage) [32]byte {
	e.t.Helper()
	types["EIP712Domain"] = domainType
	h, _, err := apitypes.TypedDataAndHash(apitypes.TypedData{
		Types: types, PrimaryType: primary, Domain: e.bsDomain(), Message: msg,
	})
	if err != nil {
		e.t.Fatalf("EIP-712 hash of %s: %v", primary, err)
	}
	return [32]byte(h)
}

// channelID computes the channel id off chain: the EIP-712 hash of the
// ChannelConfig.
func (e *bsEnv) channelID(c channelConfig) [32]byte {
	return e.typedHash("ChannelConfig", apitypes.Types{"ChannelConfig": channelConfigType}, apitypes.TypedDataMessage{
		"payer": c.Payer.Hex(), "payerAuthorizer": c.PayerAuthorizer.Hex(), "receiver": c.Receiver.Hex(),
		"receiverAuthorizer": c.ReceiverAuthorizer.Hex(), "token": c.Token.Hex(),
		"withdrawDelay": c.WithdrawDelay.String(), "salt": hexutil.Encode(c.Salt[:]),
	})
}

func (e *bsEnv) voucherDigest(id [32]byte, max *big.Int) [32]byte {
	return e.typedHash("Voucher", apitypes.Types{"Voucher": voucherType}, apitypes.TypedDataMessage{
		"channelId": hexutil.Encode(id[:]), "maxClaimableAmount": max.String(),
	})
}

func (e *bsEnv) refundDigest(id [32]byte, nonce, amount *big.Int) [32]byte {
	return e.typedHash("Refund", apitypes.Types{"Refund": refundType}, apitypes.TypedDataMessage{
		"channelId": hexutil.Encode(id[:]), "nonce": nonce.String(), "amount": amount.String(),
	})
}

func (e *bsEnv) claimBatchDigest(claims []voucherClaim) [32]byte {
	entries := make([]any, len(claims))
	for i, c := range claims {
		id := e.channelID(c.Voucher.Channel)
		entries[i] = map[string]any{
			"channelId":          hexutil.Encode(id[:]),
			"maxClaimableAmount": c.Voucher.MaxClaimableAmount.String(),
			"totalClaimed":       c.TotalClaimed.String(),
		}
	}
	return e.typedHash("ClaimBatch", apitypes.Types{"ClaimBatch": claimBatchType, "ClaimEntry": claimEntryType},
		apitypes.TypedDataMessage{"claims": entries})
}

// sign signs a digest, returning r || s || v with v in {27, 28}.
func sign(t *testing.T, key *ecdsa.PrivateKey, digest [32]byte) []byte {
	t.Helper()
	sig, err := crypto.Sign(digest[:], key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	return sig
}

// claimOf is a voucher for max on channel c, signed by key, claiming total.
func (e *bsEnv) claimOf(c channelConfig, key *ecdsa.PrivateKey, max, total int64) voucherClaim {
	sig := sign(e.t, key, e.voucherDigest(e.channelID(c), big.NewInt(max)))
	return voucherClaim{
		Voucher:      voucher{Channel: c, MaxClaimableAmount: big.NewInt(max)},
		Signature:    sig,
		TotalClaimed: big.NewInt(total),
	}
}

// headTime is the timestamp of the latest block: authorizations are timed
// from it, because AdvanceTime moves the chain away from the wall clock.
func (e *bsEnv) headTime() int64 {
	e.t.Helper()
	h, err := e.d.Client().HeaderByNumber(e.t.Context(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return int64(h.Time)
}

// depositCall builds deposit calldata for amount into c, collected through
// the ERC-3009 collector with a ReceiveWithAuthorization the payer key signs
// (nonce keccak256(abi.encode(channelId, salt))), as the x402 client does.
func (e *bsEnv) depositCall(c channelConfig, payerKey *ecdsa.PrivateKey, amount int64, salt int64) []byte {
	e.t.Helper()
	return e.depositCallSigned(c, amount, salt, func(a authorization) []byte {
		return signAuth(e.t, e.d, payerKey, "ReceiveWithAuthorization", a)
	})
}

// depositCallSigned is depositCall with the authorization signed by signer.
func (e *bsEnv) depositCallSigned(c channelConfig, amount, salt int64, signer func(authorization) []byte) []byte {
	e.t.Helper()
	id := e.channelID(c)
	nonceInput, err := abi.Arguments{{Type: abiType(e.t, "bytes32")}, {Type: abiType(e.t, "uint256")}}.Pack(id, big.NewInt(salt))
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.headTime()
	a := authorization{
		From: c.Payer, To: evm.ERC3009DepositCollectorAddress(), Value: big.NewInt(amount),
		ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(now + 3600), Nonce: crypto.Keccak256Hash(nonceInput),
	}
	sig := signer(a)
	data, err := abi.Arguments{
		{Type: abiType(e.t, "uint256")}, {Type: abiType(e.t, "uint256")}, {Type: abiType(e.t, "uint256")}, {Type: abiType(e.t, "bytes")},
	}.Pack(a.ValidAfter, a.ValidBefore, big.NewInt(salt), sig)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.pack("deposit", c, big.NewInt(amount), evm.ERC3009DepositCollectorAddress(), data)
}

func abiType(t *testing.T, name string) abi.Type {
	t.Helper()
	ty, err := abi.NewType(name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func (e *bsEnv) pack(name string, args ...any) []byte {
	e.t.Helper()
	data, err := bsABI.Pack(name, args...)
	if err != nil {
		e.t.Fatalf("pack %s: %v", name, err)
	}
	return data
}

// send submits calldata to the settlement contract from acct and requires
// success.
func (e *bsEnv) send(acct devnet.Account, data []byte) *types.Receipt {
	e.t.Helper()
	r := sendTx(e.t, e.d, acct.PrivateKey, evm.BatchSettlementAddress(), data, 0)
	if r.Status != types.ReceiptStatusSuccessful {
		e.t.Fatalf("transaction %s reverted", r.TxHash)
	}
	return r
}

// wantRevert requires that calldata from acct reverts (in gas estimation)
// with the custom error errSig, e.g. "ClaimExceedsBalance()", comparing the
// revert data's first four bytes with the selector computed from errSig.
func (e *bsEnv) wantRevert(acct devnet.Account, data []byte, errSig string) {
	e.t.Helper()
	to := evm.BatchSettlementAddress()
	_, err := e.d.Client().EstimateGas(e.t.Context(), ethereum.CallMsg{From: acct.Address, To: &to, Data: data})
	if err == nil {
		e.t.Fatalf("call succeeded, want revert %s", errSig)
	}
	got := revertData(err)
	if len(got) < 4 {
		e.t.Fatalf("error %v carries no revert selector, want %s", err, errSig)
	}
	if want := selector(errSig); [4]byte(got[:4]) != [4]byte(want) {
		e.t.Fatalf("reverted with selector %x (%s), want %x (%s)", got[:4], errName(got), want, errSig)
	}
}

// selector is the 4-byte selector of a signature such as "EmptyBatch()".
func selector(sig string) []byte { return crypto.Keccak256([]byte(sig))[:4] }

// revertData extracts the revert data of a JSON-RPC execution-reverted
// error, or nil.
func revertData(err error) []byte {
	var de rpc.DataError
	if !errors.As(err, &de) {
		return nil
	}
	s, _ := de.ErrorData().(string)
	data, derr := hexutil.Decode(s)
	if derr != nil {
		return nil
	}
	return data
}

// errName names a custom error of any go402 contract from revert data.
func errName(data []byte) string {
	for _, a := range []abi.ABI{bsABI, collectorABI, tokenABI} {
		for name, e := range a.Errors {
			if [4]byte(e.ID[:4]) == [4]byte(data[:4]) {
				return name
			}
		}
	}
	return "unknown"
}

// view calls a view of the settlement contract and returns its outputs.
func (e *bsEnv) view(name string, args ...any) []any {
	e.t.Helper()
	to := evm.BatchSettlementAddress()
	out, err := e.d.Client().CallContract(e.t.Context(), ethereum.CallMsg{To: &to, Data: e.pack(name, args...)}, nil)
	if err != nil {
		e.t.Fatalf("call %s: %v", name, err)
	}
	vals, err := bsABI.Unpack(name, out)
	if err != nil {
		e.t.Fatalf("unpack %s: %v", name, err)
	}
	return vals
}

// channel returns channels(id): balance and totalClaimed.
func (e *bsEnv) channel(id [32]byte) (balance, claimed int64) {
	e.t.Helper()
	v := e.view("channels", id)
	return v[0].(*big.Int).Int64(), v[1].(*big.Int).Int64()
}

func (e *bsEnv) tokenBalance(addr common.Address) int64 {
	e.t.Helper()
	return balance(e.t, e.d, addr).Int64()
}

// events returns the settlement contract's logs of the named event in r.
func events(r *types.Receipt, name string) []*types.Log {
	id := bsABI.Events[name].ID
	var out []*types.Log
	for _, l := range r.Logs {
		if l.Address == evm.BatchSettlementAddress() && len(l.Topics) > 0 && l.Topics[0] == id {
			out = append(out, l)
		}
	}
	return out
}

// oneEvent requires exactly one named event in r and returns its non-indexed
// fields.
func oneEvent(t *testing.T, r *types.Receipt, name string) (*types.Log, []any) {
	t.Helper()
	ls := events(r, name)
	if len(ls) != 1 {
		t.Fatalf("receipt has %d %s events, want 1", len(ls), name)
	}
	vals, err := bsABI.Unpack(name, ls[0].Data)
	if err != nil {
		t.Fatalf("unpack %s: %v", name, err)
	}
	return ls[0], vals
}
