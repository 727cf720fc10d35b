package devnet_test

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
)

// TestPermit2Views: Permit2's domain separator is the EIP-712 hash of
// {name: "Permit2", chainId, verifyingContract} (no version), and the
// proxies report the canonical Permit2 and their witness types, as go402's
// evm constants spell them.
func TestPermit2Views(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	dom := e.permit2Domain()
	td := apitypes.TypedData{Types: apitypes.Types{"EIP712Domain": permit2DomainType}, Domain: dom}
	want, err := td.HashStruct("EIP712Domain", dom.Map())
	if err != nil {
		t.Fatal(err)
	}
	if got := viewOf(t, e.d, e.permit2, permit2ABI, "DOMAIN_SEPARATOR")[0].([32]byte); !bytes.Equal(got[:], want) {
		t.Errorf("DOMAIN_SEPARATOR %x, want %x", got, want)
	}
	for _, tc := range []struct {
		proxy      common.Address
		a          abi.ABI
		typeString string
		witness    string
	}{
		{e.exactProxy, exactProxyABI, permit2.WitnessTypeString(permit2.ExactWitness{}), "Witness(address to,uint256 validAfter)"},
		{e.upto, uptoProxyABI, permit2.WitnessTypeString(permit2.UptoWitness{}), "Witness(address to,address facilitator,uint256 validAfter)"},
	} {
		if got := viewOf(t, e.d, tc.proxy, tc.a, "PERMIT2")[0].(common.Address); got != permit2.Address() {
			t.Errorf("%s: PERMIT2 = %s", tc.proxy, got)
		}
		if got := viewOf(t, e.d, tc.proxy, tc.a, "WITNESS_TYPE_STRING")[0].(string); got != tc.typeString {
			t.Errorf("%s: WITNESS_TYPE_STRING = %q, want %q", tc.proxy, got, tc.typeString)
		}
		if got := viewOf(t, e.d, tc.proxy, tc.a, "WITNESS_TYPEHASH")[0].([32]byte); common.Hash(got) != crypto.Keccak256Hash([]byte(tc.witness)) {
			t.Errorf("%s: WITNESS_TYPEHASH = %x", tc.proxy, got)
		}
	}
	// The test token's EIP-712 domain is what devnet announces.
	tokDom := e.tokenView("eip712Domain")
	if tokDom[1] != devnet.PermitTokenName || tokDom[2] != devnet.PermitTokenVersion || tokDom[4] != e.token {
		t.Errorf("token eip712Domain %v", tokDom)
	}
	if v := e.tokenView("version")[0]; v != devnet.PermitTokenVersion {
		t.Errorf("token version() = %v", v)
	}
	if a := e.d.PermitTokenAsset(); a.Address != e.token || a.Method() != evm.TransferPermit2 || a.Decimals != 6 || a.Name != devnet.PermitTokenName {
		t.Errorf("PermitTokenAsset %+v", a)
	}
}

// TestPermit2TransferFrom drives Permit2's permitTransferFrom directly,
// with an EOA as the signed spender, through each of its checks.
func TestPermit2TransferFrom(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	e.approvePermit2(e.payer)
	spender := e.facilitator
	call := func(p permitTransferFrom, owner common.Address, to common.Address, amount int64, sig []byte) []byte {
		return packABI(t, permit2ABI, "permitTransferFrom", p, transferDetails{To: to, RequestedAmount: big.NewInt(amount)}, owner, sig)
	}
	signed := func(p permitTransferFrom) []byte { return e.signPermit2(e.payer.PrivateKey, p, spender.Address, nil) }

	t.Run("less than permitted, 65-byte signature", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		before := e.tokenBalance(e.payee.Address)
		e.mustSend(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 400, signed(p)))
		if got := e.tokenBalance(e.payee.Address) - before; got != 400 {
			t.Errorf("payee received %d, want 400", got)
		}
	})
	t.Run("EIP-2098 64-byte signature", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		before := e.tokenBalance(e.payee.Address)
		e.mustSend(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1000, compact(signed(p))))
		if got := e.tokenBalance(e.payee.Address) - before; got != 1000 {
			t.Errorf("payee received %d, want 1000", got)
		}
	})
	t.Run("more than permitted", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		data := e.wantRevertAt(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1001, signed(p)), "InvalidAmount(uint256)")
		if arg := new(big.Int).SetBytes(data[4:]); arg.Int64() != 1000 {
			t.Errorf("InvalidAmount(%v), want the permitted 1000", arg)
		}
	})
	t.Run("expired deadline", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		p.Deadline = big.NewInt(e.headTime() - 1)
		data := e.wantRevertAt(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1, signed(p)), "SignatureExpired(uint256)")
		if arg := new(big.Int).SetBytes(data[4:]); arg.Cmp(p.Deadline) != 0 {
			t.Errorf("SignatureExpired(%v), want the deadline %v", arg, p.Deadline)
		}
	})
	t.Run("signed by another key", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		sig := e.signPermit2(e.other.PrivateKey, p, spender.Address, nil)
		e.wantRevertAt(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1, sig), "InvalidSigner()")
	})
	t.Run("signed for another spender", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		sig := e.signPermit2(e.payer.PrivateKey, p, e.other.Address, nil)
		e.wantRevertAt(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1, sig), "InvalidSigner()")
	})
	t.Run("other amount than signed", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		sig := signed(p)
		p.Permitted.Amount = big.NewInt(2000)
		e.wantRevertAt(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1500, sig), "InvalidSigner()")
	})
	t.Run("63-byte signature", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		e.wantRevertAt(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1, signed(p)[:63]), "InvalidSignatureLength()")
	})
	t.Run("unrecoverable signature", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		sig := signed(p)
		sig[64] = 29 // no such v: ecrecover returns zero
		e.wantRevertAt(spender, e.permit2, call(p, e.payer.Address, e.payee.Address, 1, sig), "InvalidSignature()")
	})
	t.Run("no allowance for Permit2", func(t *testing.T) {
		e := e.at(t)
		p := e.permit(1000)
		sig := e.signPermit2(e.other.PrivateKey, p, spender.Address, nil)
		data := e.wantRevertAt(spender, e.permit2, call(p, e.other.Address, e.payee.Address, 1, sig), "Error(string)")
		if msg := errorString(t, data); msg != "TRANSFER_FROM_FAILED" {
			t.Errorf("reason %q, want TRANSFER_FROM_FAILED", msg)
		}
	})
}

// TestPermit2NonceBitmap: a used nonce sets its bit in the owner's bitmap
// and cannot be used again; invalidateUnorderedNonces spends nonces without
// a transfer and says so in an event; neighbouring nonces stay usable.
func TestPermit2NonceBitmap(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	e.approvePermit2(e.payer)
	spender := e.facilitator
	word := big.NewInt(777)
	at := func(bit int64) *big.Int { return new(big.Int).Add(new(big.Int).Lsh(word, 8), big.NewInt(bit)) }
	bitmap := func() *big.Int {
		return viewOf(t, e.d, e.permit2, permit2ABI, "nonceBitmap", e.payer.Address, word)[0].(*big.Int)
	}
	transfer := func(nonce *big.Int) []byte {
		p := e.permit(10)
		p.Nonce = nonce
		sig := e.signPermit2(e.payer.PrivateKey, p, spender.Address, nil)
		return packABI(t, permit2ABI, "permitTransferFrom", p, transferDetails{To: e.payee.Address, RequestedAmount: big.NewInt(10)}, e.payer.Address, sig)
	}

	e.mustSend(spender, e.permit2, transfer(at(5)))
	if got := bitmap(); got.Cmp(big.NewInt(1<<5)) != 0 {
		t.Fatalf("bitmap after nonce bit 5: %b, want 100000", got)
	}
	e.wantRevertAt(spender, e.permit2, transfer(at(5)), "InvalidNonce()")
	// The same permit signed again is refused too: the nonce, not the
	// signature, is what is spent.
	e.wantRevertAt(spender, e.permit2, transfer(at(5)), "InvalidNonce()")

	mask := new(big.Int).Or(big.NewInt(1<<9), new(big.Int).Lsh(big.NewInt(1), 200))
	r := e.mustSend(e.payer, e.permit2, packABI(t, permit2ABI, "invalidateUnorderedNonces", word, mask))
	logs := logsOf(r, e.permit2, permit2ABI, "UnorderedNonceInvalidation")
	if len(logs) != 1 || logs[0].Topics[1] != common.BytesToHash(e.payer.Address.Bytes()) {
		t.Fatalf("UnorderedNonceInvalidation logs %v", logs)
	}
	vals, err := permit2ABI.Unpack("UnorderedNonceInvalidation", logs[0].Data)
	if err != nil || vals[0].(*big.Int).Cmp(word) != 0 || vals[1].(*big.Int).Cmp(mask) != 0 {
		t.Errorf("UnorderedNonceInvalidation(word %v, mask %v), want (%v, %v): %v", vals[0], vals[1], word, mask, err)
	}
	if got, want := bitmap(), new(big.Int).Or(mask, big.NewInt(1<<5)); got.Cmp(want) != 0 {
		t.Errorf("bitmap after invalidation %x, want %x", got, want)
	}
	e.wantRevertAt(spender, e.permit2, transfer(at(9)), "InvalidNonce()")
	e.wantRevertAt(spender, e.permit2, transfer(at(200)), "InvalidNonce()")
	e.mustSend(spender, e.permit2, transfer(at(6)))
	// Another owner's bitmap is its own.
	if got := viewOf(t, e.d, e.permit2, permit2ABI, "nonceBitmap", e.other.Address, word)[0].(*big.Int); got.Sign() != 0 {
		t.Errorf("other owner's bitmap %x, want 0", got)
	}
}

// TestPermit2ERC1271Owner: an owner with code is asked through EIP-1271
// about the very digest Permit2 computed; its refusal is
// InvalidContractSignature.
func TestPermit2ERC1271Owner(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	wallet := deploy1271Wallet(t, e, e.other.PrivateKey)
	if err := e.d.MintToken(t.Context(), e.token, wallet, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}

	p := e.permit(2000)
	w := exactWitness{To: e.payee.Address, ValidAfter: big.NewInt(0)}
	digest := e.permit2Digest(p, e.exactProxy, w)
	before := e.tokenBalance(e.payee.Address)
	e.mustSend(e.facilitator, e.exactProxy, packABI(t, exactProxyABI, "settle", p, wallet, w, digest))
	if got := e.tokenBalance(e.payee.Address) - before; got != 2000 {
		t.Errorf("payee received %d, want 2000", got)
	}
	if got := e.tokenBalance(wallet); got != 3000 {
		t.Errorf("wallet balance %d, want 3000", got)
	}

	// The wallet says no to anything but the digest: a signature of
	// another message, or an EOA signature, is refused.
	p2 := e.permit(2000)
	other := e.permit2Digest(p2, e.upto, uptoWitness{To: e.payee.Address, Facilitator: e.facilitator.Address, ValidAfter: big.NewInt(0)})
	for _, sig := range [][]byte{other, e.signPermit2(e.other.PrivateKey, p2, e.exactProxy, w)} {
		e.wantRevertAt(e.facilitator, e.exactProxy, packABI(t, exactProxyABI, "settle", p2, wallet, w, sig), "InvalidContractSignature()")
	}
}

// compact converts a 65-byte r || s || v signature to EIP-2098's 64-byte
// r || vs.
func compact(sig []byte) []byte {
	out := bytes.Clone(sig[:64])
	if sig[64] == 28 {
		out[32] |= 0x80
	}
	return out
}

// errorString decodes Error(string) revert data.
func errorString(t *testing.T, data []byte) string {
	t.Helper()
	reason, err := abi.UnpackRevert(data)
	if err != nil {
		t.Fatalf("revert data %x: %v", data, err)
	}
	return reason
}

// TestPermit2SmartWallet: the devnet's SmartWallet (EIP-1271, owner key)
// pays through Permit2 and both proxies once it has approved Permit2 with
// execute; after its owner is revoked it says no, which Permit2 reports as
// InvalidContractSignature.
func TestPermit2SmartWallet(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	owner := e.other
	wallet, err := e.d.DeploySmartWallet(t.Context(), owner.Address, big.NewInt(42))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.d.MintToken(t.Context(), e.token, wallet, big.NewInt(10_000)); err != nil {
		t.Fatal(err)
	}
	walletABI := contracts.SmartWalletParsedABI()
	approve := packABI(t, permitTokenABI, "approve", e.permit2, math.MaxBig256)
	e.mustSend(owner, wallet, packABI(t, walletABI, "execute", e.token, big.NewInt(0), approve))

	before := e.tokenBalance(e.payee.Address)
	for _, k := range proxyKinds {
		p := e.permit(1000)
		w := k.witness(e, e.payee.Address, 0)
		sig := e.signPermit2(owner.PrivateKey, p, k.addr(e), w) // the owner signs the digest as is
		e.mustSend(e.facilitator, k.addr(e), k.settle(t, p, 400, wallet, w, sig))
	}
	// exact moves the permitted 1000, upto the 400 settled.
	if got := e.tokenBalance(e.payee.Address) - before; got != 1400 {
		t.Errorf("payee received %d from the wallet, want 1400", got)
	}
	if got := e.tokenBalance(wallet); got != 10_000-1400 {
		t.Errorf("wallet balance %d, want %d", got, 10_000-1400)
	}

	e.mustSend(owner, wallet, packABI(t, walletABI, "setOwner", common.Address{}))
	p := e.permit(1000)
	w := exactWitness{To: e.payee.Address, ValidAfter: big.NewInt(0)}
	e.wantRevertAt(e.facilitator, e.exactProxy, packABI(t, exactProxyABI, "settle", p, wallet, w, e.signPermit2(owner.PrivateKey, p, e.exactProxy, w)), "InvalidContractSignature()")
}
