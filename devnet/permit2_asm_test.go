package devnet_test

import (
	"crypto/ecdsa"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/devnet"
)

// Hand-assembled test contracts for the Permit2 tests: a tiny EIP-1271
// wallet, a fake token whose permit reverts in a chosen way, and a token
// that re-enters a proxy. Each is a few opcodes, so no Solidity artifact is
// needed.

// EVM opcodes used below.
const (
	opEQ             = 0x14
	opMUL            = 0x02
	opSHL            = 0x1b
	opSHR            = 0x1c
	opCALLDATALOAD   = 0x35
	opCODECOPY       = 0x39
	opRETURNDATACOPY = 0x3e
	opPOP            = 0x50
	opMLOAD          = 0x51
	opMSTORE         = 0x52
	opSSTORE         = 0x55
	opJUMPI          = 0x57
	opGAS            = 0x5a
	opJUMPDEST       = 0x5b
	opPUSH0          = 0x5f
	opCALL           = 0xf1
	opRETURN         = 0xf3
	opREVERT         = 0xfd
)

// code is EVM bytecode under construction.
type code []byte

func (c code) op(ops ...byte) code { return append(c, ops...) }

// push appends the shortest PUSH of v (PUSH0 for an empty or zero value).
func (c code) push(v []byte) code {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 {
		return append(c, opPUSH0)
	}
	return append(append(c, byte(0x5f+len(v))), v...)
}

func (c code) pushInt(n int) code { return c.push(big.NewInt(int64(n)).Bytes()) }

// push2 appends a PUSH2 of n (fixed width, for offsets computed later).
func (c code) push2(n int) code { return append(c, 0x61, byte(n>>8), byte(n)) }

// returnWord appends code returning the 32-byte word v.
func (c code) returnWord(v int) code {
	return c.pushInt(v).op(opPUSH0, opMSTORE).pushInt(32).op(opPUSH0, opRETURN)
}

// deployRuntime deploys `runtime` from key, running `setup` first in the
// creation transaction, and returns the new contract's address.
func deployRuntime(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, setup, runtime code) common.Address {
	t.Helper()
	// setup, then CODECOPY(0, off, n) RETURN(0, n); the copy sequence is
	// 3+3+1+1+3+1+1 = 13 bytes with PUSH2 widths.
	off := len(setup) + 13
	initCode := setup.push2(len(runtime)).push2(off).op(opPUSH0, opCODECOPY).push2(len(runtime)).op(opPUSH0, opRETURN)
	initCode = append(initCode, runtime...)
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := d.Client().PendingNonceAt(t.Context(), from)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(d.ChainID()), &types.DynamicFeeTx{
		ChainID: d.ChainID(), Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9), Gas: 300_000, Data: initCode,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Client().SendTransaction(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	r, err := d.WaitMined(t.Context(), tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("deploy: %+v %v", r, err)
	}
	got, err := d.Client().CodeAt(t.Context(), r.ContractAddress, nil)
	if err != nil || !slices.Equal(got, runtime) {
		t.Fatalf("deployed code %x (%v), want %x", got, err, runtime)
	}
	return r.ContractAddress
}

// callFrom appends code making a CALL with value 0 to `to` with the
// calldata stored at memory [0, n), dropping the success flag unless keep.
func (c code) callFrom(to common.Address, n int, keep bool) code {
	c = c.op(opPUSH0, opPUSH0).push2(n).op(opPUSH0, opPUSH0).push(to.Bytes()).op(opGAS, opCALL)
	if !keep {
		c = c.op(opPOP)
	}
	return c
}

// storeMem appends code writing data to memory from offset 0, word by word
// (the last word zero-padded).
func (c code) storeMem(data []byte) code {
	for off := 0; off < len(data); off += 32 {
		var w [32]byte
		copy(w[:], data[off:])
		c = append(append(c, 0x7f), w[:]...) // PUSH32
		c = c.pushInt(off).op(opMSTORE)
	}
	return c
}

// deploy1271Wallet deploys a minimal EIP-1271 wallet whose
// isValidSignature(hash, sig) accepts exactly the signatures whose first
// 32 bytes are the hash (so a test proves Permit2 asked about the right
// digest), and which approves Permit2 for `token` without limit when it is
// created. Runtime:
//
//	CALLDATALOAD(4) == CALLDATALOAD(100) ? 0x1626ba7e : 0, returned as bytes4
func deploy1271Wallet(t *testing.T, e *p2Env, key *ecdsa.PrivateKey) common.Address {
	t.Helper()
	runtime := code{}.pushInt(4).op(opCALLDATALOAD).pushInt(100).op(opCALLDATALOAD, opEQ).
		push([]byte{0x16, 0x26, 0xba, 0x7e}).op(opMUL).pushInt(0xe0).op(opSHL, opPUSH0, opMSTORE).pushInt(32).op(opPUSH0, opRETURN)
	approve := packABI(t, permitTokenABI, "approve", e.permit2, math.MaxBig256)
	setup := code{}.storeMem(approve).callFrom(e.token, len(approve), false)
	w := deployRuntime(t, e.d, key, setup, runtime)
	if got := e.tokenView("allowance", w, e.permit2)[0].(*big.Int); got.Cmp(math.MaxBig256) != 0 {
		t.Fatalf("wallet's Permit2 allowance %v, want max", got)
	}
	return w
}

// deployFakeToken deploys a token stand-in whose permit(...) reverts with
// exactly revertData and whose every other function (transferFrom among
// them) returns true without doing anything.
func deployFakeToken(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, revertData []byte) common.Address {
	t.Helper()
	permitSel := selector("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)")
	head := code{}.op(opPUSH0, opCALLDATALOAD).pushInt(0xe0).op(opSHR).push(permitSel).op(opEQ)
	// PUSH2 dest JUMPI, then return true, then dest.
	dest := len(head) + 3 + 1 + len(code{}.returnWord(1))
	c := head.push2(dest).op(opJUMPI).returnWord(1).op(opJUMPDEST)
	// CODECOPY(0, dataOff, n) REVERT(0, n): 3+3+1+1+3+1+1 = 13 bytes.
	dataOff := len(c) + 13
	c = c.push2(len(revertData)).push2(dataOff).op(opPUSH0, opCODECOPY).push2(len(revertData)).op(opPUSH0, opREVERT)
	return deployRuntime(t, d, key, nil, append(c, revertData...))
}

// deployReentrantToken deploys a token stand-in whose every function
// (transferFrom among them) first calls `proxy` with `reenter`, stores the
// first four bytes of what that call returned (its revert selector) in
// storage slot 0, and returns true.
func deployReentrantToken(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, proxy common.Address, reenter []byte) common.Address {
	t.Helper()
	var c code
	// CODECOPY(0, dataOff, n), computed once the length is known.
	body := code{}.callFrom(proxy, len(reenter), false).
		op(opPUSH0, opPUSH0, opMSTORE).                    // clear word 0
		pushInt(4).op(opPUSH0, opPUSH0, opRETURNDATACOPY). // mem[0:4] = returndata[0:4]
		op(opPUSH0, opMLOAD, opPUSH0, opSSTORE).           // slot 0 = word 0
		returnWord(1)
	dataOff := 3 + 3 + 1 + 1 + len(body)
	c = c.push2(len(reenter)).push2(dataOff).op(opPUSH0, opCODECOPY)
	c = append(c, body...)
	return deployRuntime(t, d, key, nil, append(c, reenter...))
}
