package devnet_test

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
)

var multicallABI = func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(contracts.Multicall3ABI()))
	if err != nil {
		panic(err)
	}
	return a
}()

// call3 and result3 mirror Multicall3's Call3 and Result structs for the
// ABI encoder.
type call3 struct {
	Target       common.Address
	AllowFailure bool
	CallData     []byte
}

type result3 struct {
	Success    bool
	ReturnData []byte
}

func TestMulticall3Genesis(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{Accounts: 1})
	addr := evm.Multicall3Address()
	if addr.Hex() != "0xcA11bde05977b3631167028862bE2a173976CA11" {
		t.Fatalf("evm.Multicall3Address() = %s, want the canonical Multicall3 address", addr.Hex())
	}
	code, err := d.Client().CodeAt(t.Context(), addr, nil)
	if err != nil || !bytes.Equal(code, contracts.Multicall3RuntimeBytecode()) {
		t.Fatalf("code at %s is %d bytes (%v), want the %d bytes of Multicall3's runtime", addr, len(code), err, len(contracts.Multicall3RuntimeBytecode()))
	}

	// Advance the chain so the head is not genesis or the start-up block.
	if err := d.Mint(t.Context(), d.Accounts()[0].Address, big.NewInt(1)); err != nil {
		t.Fatal(err)
	}
	head, err := d.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := multicallView(t, d, "getBlockNumber", head.Number); got.Cmp(head.Number) != 0 {
		t.Errorf("getBlockNumber() = %v, head is %v", got, head.Number)
	}
	if got := multicallView(t, d, "getCurrentBlockTimestamp", head.Number); got.Uint64() != head.Time {
		t.Errorf("getCurrentBlockTimestamp() = %v, head time is %d", got, head.Time)
	}
	// At an older block, the values of that block.
	one := big.NewInt(1)
	h1, err := d.Client().HeaderByNumber(t.Context(), one)
	if err != nil {
		t.Fatal(err)
	}
	if got := multicallView(t, d, "getBlockNumber", one); got.Cmp(one) != 0 {
		t.Errorf("getBlockNumber() at block 1 = %v", got)
	}
	if got := multicallView(t, d, "getCurrentBlockTimestamp", one); got.Uint64() != h1.Time {
		t.Errorf("getCurrentBlockTimestamp() at block 1 = %v, want %d", got, h1.Time)
	}

	// An empty batch succeeds and returns an empty array.
	if res := aggregate3Call(t, d, d.Accounts()[0].Address, nil); len(res) != 0 {
		t.Errorf("aggregate3([]) = %v", res)
	}
}

func TestMulticall3BatchSettlement(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{Accounts: 4})
	accts := d.Accounts()
	payer1, payer2, payee, relayer := accts[0], accts[1], accts[2], accts[3]
	token := d.Token().Address

	t.Run("allowFailure true: the bad call is skipped", func(t *testing.T) {
		a1 := newAuth(payer1.Address, payee.Address, 1_000_001)
		a2 := newAuth(payer2.Address, payee.Address, 2_000_002)
		// Correctly signed, but it reuses a1's nonce, which the first call
		// of the same batch consumes: calls run in order.
		reused := newAuth(payer1.Address, payee.Address, 5_000_000)
		reused.Nonce = a1.Nonce
		calls := []call3{
			{token, false, authCallBytes(t, twaBytes, a1, signAuth(t, d, payer1.PrivateKey, "TransferWithAuthorization", a1))},
			{token, true, authCallBytes(t, twaBytes, reused, signAuth(t, d, payer1.PrivateKey, "TransferWithAuthorization", reused))},
			{token, false, authCallVRS(t, twaVRS, a2, signAuth(t, d, payer2.PrivateKey, "TransferWithAuthorization", a2))},
		}

		// eth_call shows each call's outcome.
		res := aggregate3Call(t, d, relayer.Address, calls)
		if len(res) != 3 || !res[0].Success || res[1].Success || !res[2].Success {
			t.Fatalf("aggregate3 results %+v, want [true false true]", res)
		}
		if got := errorName(res[1].ReturnData); got != "AuthorizationAlreadyUsed" {
			t.Errorf("the reused nonce failed with %q, want AuthorizationAlreadyUsed", got)
		}
		if len(res[0].ReturnData) != 0 || len(res[2].ReturnData) != 0 {
			t.Errorf("transferWithAuthorization returned data: %x, %x", res[0].ReturnData, res[2].ReturnData)
		}

		before := balances(t, d, payer1.Address, payer2.Address, payee.Address)
		r := sendTx(t, d, relayer.PrivateKey, evm.Multicall3Address(), packAggregate3(t, calls), 0)
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("batch %s reverted", r.TxHash)
		}
		after := balances(t, d, payer1.Address, payer2.Address, payee.Address)
		wantDelta(t, "payer1", before[0], after[0], -1_000_001)
		wantDelta(t, "payer2", before[1], after[1], -2_000_002)
		wantDelta(t, "payee", before[2], after[2], 3_000_003)
		wantEvent(t, r, "AuthorizationUsed", payer1.Address, a1.Nonce)
		wantEvent(t, r, "AuthorizationUsed", payer2.Address, a2.Nonce)
		if n := countEvents(r, "Transfer"); n != 2 {
			t.Errorf("%d Transfer events, want 2", n)
		}
		for _, a := range []authorization{a1, a2} {
			if !call(t, d, "authorizationState(address,bytes32)", a.From, a.Nonce).(bool) {
				t.Errorf("nonce %x of %s is unused after the batch", a.Nonce, a.From)
			}
		}
	})

	t.Run("allowFailure false: the whole batch reverts", func(t *testing.T) {
		a1 := newAuth(payer1.Address, payee.Address, 3_000_000)
		a2 := newAuth(payer2.Address, payee.Address, 4_000_000)
		bad := newAuth(payer2.Address, payee.Address, 7)
		badSig := signAuth(t, d, payer2.PrivateKey, "TransferWithAuthorization", bad)
		bad.Value = big.NewInt(8) // tampered after signing: InvalidSignature
		calls := []call3{
			{token, true, authCallBytes(t, twaBytes, a1, signAuth(t, d, payer1.PrivateKey, "TransferWithAuthorization", a1))},
			{token, true, authCallBytes(t, twaBytes, a2, signAuth(t, d, payer2.PrivateKey, "TransferWithAuthorization", a2))},
			{token, false, authCallBytes(t, twaBytes, bad, badSig)},
		}
		data := packAggregate3(t, calls)

		// Estimation and eth_call fail with the canonical revert reason.
		from := relayer.Address
		to := evm.Multicall3Address()
		_, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{From: from, To: &to, Data: data}, nil)
		if got := revertReason(t, err); got != "Multicall3: call failed" {
			t.Fatalf("eth_call error %v, reason %q; want Error(\"Multicall3: call failed\")", err, got)
		}
		if _, err := d.Client().EstimateGas(t.Context(), ethereum.CallMsg{From: from, To: &to, Data: data}); revertReason(t, err) != "Multicall3: call failed" {
			t.Fatalf("eth_estimateGas error %v", err)
		}
		// With allowFailure the bad call alone fails, with InvalidSignature.
		calls[2].AllowFailure = true
		if res := aggregate3Call(t, d, from, calls); len(res) != 3 || res[2].Success || errorName(res[2].ReturnData) != "InvalidSignature" {
			t.Fatalf("with allowFailure: %+v", res)
		}

		// Mined anyway (fixed gas, no estimation): the receipt fails and
		// nothing moves.
		before := balances(t, d, payer1.Address, payer2.Address, payee.Address)
		r := sendTx(t, d, relayer.PrivateKey, to, data, 500_000)
		if r.Status != types.ReceiptStatusFailed {
			t.Fatalf("batch %s with a failing required call succeeded", r.TxHash)
		}
		if len(r.Logs) != 0 {
			t.Errorf("reverted batch has %d logs", len(r.Logs))
		}
		after := balances(t, d, payer1.Address, payer2.Address, payee.Address)
		for i, who := range []string{"payer1", "payer2", "payee"} {
			wantDelta(t, who, before[i], after[i], 0)
		}
		for _, a := range []authorization{a1, a2, bad} {
			if call(t, d, "authorizationState(address,bytes32)", a.From, a.Nonce).(bool) {
				t.Errorf("nonce %x of %s is used after a reverted batch", a.Nonce, a.From)
			}
		}
	})
}

// TestMulticall3Gas compares settling N authorizations (distinct payers, one
// payee) as one aggregate3 transaction with N transferWithAuthorization
// transactions. Both runs see the same kind of state changes (fresh nonces,
// non-zero balances before and after), so the difference is the per-
// transaction overhead saved by batching.
func TestMulticall3Gas(t *testing.T) {
	t.Parallel()
	const n = 10
	d := start(t, devnet.Config{Accounts: n + 2})
	accts := d.Accounts()
	payers, payee, relayer := accts[:n], accts[n], accts[n+1]
	token := d.Token().Address

	signed := func(p devnet.Account, value int64) (authorization, []byte) {
		a := newAuth(p.Address, payee.Address, value)
		return a, authCallBytes(t, twaBytes, a, signAuth(t, d, p.PrivateKey, "TransferWithAuthorization", a))
	}

	var separate uint64
	for i, p := range payers {
		_, data := signed(p, int64(1000+i))
		r := sendTx(t, d, relayer.PrivateKey, token, data, 0)
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("transfer %d reverted", i)
		}
		separate += r.GasUsed
	}

	calls := make([]call3, n)
	var total int64
	for i, p := range payers {
		_, data := signed(p, int64(2000+i))
		calls[i] = call3{token, false, data}
		total += int64(2000 + i)
	}
	before := balance(t, d, payee.Address)
	r := sendTx(t, d, relayer.PrivateKey, evm.Multicall3Address(), packAggregate3(t, calls), 0)
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("batch %s reverted", r.TxHash)
	}
	wantDelta(t, "payee", before, balance(t, d, payee.Address), total)
	if got := countEvents(r, "AuthorizationUsed"); got != n {
		t.Fatalf("%d AuthorizationUsed events, want %d", got, n)
	}
	batch := r.GasUsed
	t.Logf("%d transferWithAuthorization: %d separate txs use %d gas (%d each); one aggregate3 tx uses %d gas (%d each), %.1f%% less",
		n, n, separate, separate/n, batch, batch/n, 100*(1-float64(batch)/float64(separate)))
	if batch >= separate {
		t.Errorf("the batch (%d gas) is not cheaper than separate transactions (%d gas)", batch, separate)
	}
}

func packAggregate3(t *testing.T, calls []call3) []byte {
	t.Helper()
	if calls == nil {
		calls = []call3{}
	}
	data, err := multicallABI.Pack("aggregate3", calls)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// aggregate3Call runs aggregate3 through eth_call and decodes the results.
func aggregate3Call(t *testing.T, d *devnet.Devnet, from common.Address, calls []call3) []result3 {
	t.Helper()
	to := evm.Multicall3Address()
	out, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{From: from, To: &to, Data: packAggregate3(t, calls)}, nil)
	if err != nil {
		t.Fatalf("eth_call aggregate3: %v", err)
	}
	var res []result3
	if err := multicallABI.UnpackIntoInterface(&res, "aggregate3", out); err != nil {
		t.Fatalf("unpack aggregate3: %v", err)
	}
	return res
}

// multicallView calls a no-argument uint256 view of Multicall3 at a block.
func multicallView(t *testing.T, d *devnet.Devnet, name string, block *big.Int) *big.Int {
	t.Helper()
	to := evm.Multicall3Address()
	data, err := multicallABI.Pack(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: data}, block)
	if err != nil {
		t.Fatalf("eth_call %s: %v", name, err)
	}
	vals, err := multicallABI.Unpack(name, out)
	if err != nil || len(vals) != 1 {
		t.Fatalf("unpack %s: %v", name, err)
	}
	return vals[0].(*big.Int)
}

// sendTx signs and sends a dynamic-fee transaction and waits for its
// receipt. gas 0 estimates it (failing the test if estimation fails).
func sendTx(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, to common.Address, data []byte, gas uint64) *types.Receipt {
	t.Helper()
	ctx := t.Context()
	from := crypto.PubkeyToAddress(key.PublicKey)
	if gas == 0 {
		est, err := d.Client().EstimateGas(ctx, ethereum.CallMsg{From: from, To: &to, Data: data})
		if err != nil {
			t.Fatalf("estimate gas: %v (revert %s)", err, revertName(err))
		}
		gas = est + est/5
	}
	nonce, err := d.Client().PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	head, err := d.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tip := big.NewInt(1e9)
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(d.ChainID()), &types.DynamicFeeTx{
		ChainID: d.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: &to, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Client().SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	r, err := d.WaitMined(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// errorName names the token's custom error in revert data, or "".
func errorName(data []byte) string {
	if len(data) < 4 {
		return ""
	}
	for name, e := range tokenABI.Errors {
		if bytes.Equal(e.ID[:4], data[:4]) {
			return name
		}
	}
	return ""
}

// revertReason returns the Error(string) reason of a JSON-RPC
// execution-reverted error, or "".
func revertReason(t *testing.T, err error) string {
	t.Helper()
	var de rpc.DataError
	if !errors.As(err, &de) {
		return ""
	}
	s, _ := de.ErrorData().(string)
	data, derr := hexutil.Decode(s)
	if derr != nil {
		return ""
	}
	reason, uerr := abi.UnpackRevert(data)
	if uerr != nil {
		return ""
	}
	return reason
}

func balances(t *testing.T, d *devnet.Devnet, addrs ...common.Address) []*big.Int {
	t.Helper()
	out := make([]*big.Int, len(addrs))
	for i, a := range addrs {
		out[i] = balance(t, d, a)
	}
	return out
}

func wantDelta(t *testing.T, who string, before, after *big.Int, want int64) {
	t.Helper()
	if got := new(big.Int).Sub(after, before); got.Cmp(big.NewInt(want)) != 0 {
		t.Errorf("%s balance changed by %v, want %d", who, got, want)
	}
}

// countEvents counts the token's logs of the named event in a receipt.
func countEvents(r *types.Receipt, name string) int {
	id := tokenABI.Events[name].ID
	n := 0
	for _, l := range r.Logs {
		if len(l.Topics) > 0 && l.Topics[0] == id {
			n++
		}
	}
	return n
}

// call2 mirrors Multicall3's Call struct (tryAggregate) for the ABI encoder.
type call2 struct {
	Target   common.Address
	CallData []byte
}

// TestMulticall3TryAggregate reads through tryAggregate as the x402
// TypeScript packages do: without requireSuccess a failing call is
// reported, with it the batch reverts.
func TestMulticall3TryAggregate(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{Accounts: 1})
	acct := d.Accounts()[0].Address
	calls := []call2{
		{Target: d.Token().Address, CallData: pack(t, "balanceOf(address)", acct)},
		{Target: d.Token().Address, CallData: pack(t, "mint(address,uint256)", acct, big.NewInt(1))}, // not the owner
	}
	to := evm.Multicall3Address()
	data, err := multicallABI.Pack("tryAggregate", false, calls)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		t.Fatalf("eth_call tryAggregate: %v", err)
	}
	var res []result3
	if err := multicallABI.UnpackIntoInterface(&res, "tryAggregate", out); err != nil {
		t.Fatalf("unpack tryAggregate: %v", err)
	}
	if len(res) != 2 || !res[0].Success || new(big.Int).SetBytes(res[0].ReturnData).Cmp(balance(t, d, acct)) != 0 || res[1].Success {
		t.Fatalf("tryAggregate results %+v", res)
	}

	data, err = multicallABI.Pack("tryAggregate", true, calls)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if got := revertReason(t, err); got != "Multicall3: call failed" {
		t.Fatalf("tryAggregate(requireSuccess) error %v (reason %q), want Multicall3: call failed", err, got)
	}
}
