package devnet_test

import (
	"bytes"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
)

var (
	walletABI  = contracts.SmartWalletParsedABI()
	factoryABI = contracts.SmartWalletFactoryParsedABI()
)

// walletCall makes an eth_call and returns its answer and error.
func walletCall(t *testing.T, d *devnet.Devnet, from, to common.Address, data []byte) ([]byte, error) {
	t.Helper()
	return d.Client().CallContract(t.Context(), ethereum.CallMsg{From: from, To: &to, Data: data}, nil)
}

func walletPack(t *testing.T, a interface {
	Pack(string, ...any) ([]byte, error)
}, name string, args ...any) []byte {
	t.Helper()
	b, err := a.Pack(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// walletRevert is the SmartWallet custom error of a reverted call, by name.
func walletRevert(err error) string {
	var de rpc.DataError
	if !errors.As(err, &de) {
		return ""
	}
	s, _ := de.ErrorData().(string)
	data, _ := hexutil.Decode(s)
	for name, e := range walletABI.Errors {
		if len(data) >= 4 && bytes.Equal(e.ID[:4], data[:4]) {
			return name
		}
	}
	return ""
}

func TestSmartWalletFactoryAndWallet(t *testing.T) {
	d := start(t, devnet.Config{Accounts: 3})
	ctx := t.Context()
	accts := d.Accounts()
	owner, other := accts[0], accts[1]
	factory := evm.DevnetWalletFactoryAddress()
	salt := big.NewInt(42)

	// getAddress matches the offline CREATE2 computation.
	out, err := walletCall(t, d, common.Address{}, factory, walletPack(t, factoryABI, "getAddress", owner.Address, salt))
	if err != nil {
		t.Fatal(err)
	}
	wallet := devnet.SmartWalletAddress(owner.Address, salt)
	if common.BytesToAddress(out) != wallet {
		t.Fatalf("getAddress = %x, SmartWalletAddress = %s", out, wallet)
	}
	if other := devnet.SmartWalletAddress(owner.Address, big.NewInt(43)); other == wallet {
		t.Fatal("another salt gives the same address")
	}

	// createAccount deploys it, emitting AccountCreated; a second call
	// (a racing deployer) returns the same wallet and does not revert.
	r := sendTx(t, d, other.PrivateKey, factory, devnet.SmartWalletFactoryCalldata(owner.Address, salt), 0)
	created := factoryABI.Events["AccountCreated"].ID
	if len(r.Logs) == 0 || r.Logs[len(r.Logs)-1].Topics[0] != created || common.BytesToAddress(r.Logs[len(r.Logs)-1].Topics[1].Bytes()) != wallet {
		t.Errorf("no AccountCreated(%s) event: %+v", wallet, r.Logs)
	}
	r2 := sendTx(t, d, other.PrivateKey, factory, devnet.SmartWalletFactoryCalldata(owner.Address, salt), 0)
	if r2.Status != types.ReceiptStatusSuccessful || len(r2.Logs) != 0 {
		t.Errorf("second createAccount: status %d, %d logs", r2.Status, len(r2.Logs))
	}
	out, err = walletCall(t, d, common.Address{}, wallet, walletPack(t, walletABI, "owner"))
	if err != nil || common.BytesToAddress(out) != owner.Address {
		t.Fatalf("owner() = %x, %v", out, err)
	}

	// isValidSignature: the owner's signature of the hash as given.
	digest := crypto.Keccak256Hash([]byte("x402"))
	sign := func(key devnet.Account) []byte {
		sig, err := crypto.Sign(digest[:], key.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		sig[64] += 27
		return sig
	}
	isValid := func(sig []byte) []byte {
		t.Helper()
		out, err := walletCall(t, d, common.Address{}, wallet, walletPack(t, walletABI, "isValidSignature", [32]byte(digest), sig))
		if err != nil {
			t.Fatal(err)
		}
		return out[:4]
	}
	magic, refused := []byte{0x16, 0x26, 0xba, 0x7e}, []byte{0xff, 0xff, 0xff, 0xff}
	for _, tc := range []struct {
		name string
		sig  []byte
		want []byte
	}{
		{"owner", sign(owner), magic},
		{"another key", sign(other), refused},
		{"truncated", sign(owner)[:64], refused},
		{"empty", nil, refused},
	} {
		if got := isValid(tc.sig); !bytes.Equal(got, tc.want) {
			t.Errorf("isValidSignature(%s) = %x, want %x", tc.name, got, tc.want)
		}
	}

	// Only the owner may rotate the key or execute.
	if _, err := walletCall(t, d, other.Address, wallet, walletPack(t, walletABI, "setOwner", other.Address)); walletRevert(err) != "NotOwner" {
		t.Errorf("setOwner by another account: %v, want NotOwner", err)
	}
	if _, err := walletCall(t, d, other.Address, wallet, walletPack(t, walletABI, "execute", other.Address, big.NewInt(0), []byte{})); walletRevert(err) != "NotOwner" {
		t.Errorf("execute by another account: %v, want NotOwner", err)
	}
	// execute: the wallet moves its tokens; a failing call reverts with
	// CallFailed.
	tok := d.Token().Address
	if err := d.Mint(ctx, wallet, big.NewInt(500)); err != nil {
		t.Fatal(err)
	}
	transfer := walletPack(t, tokenABI, "transfer", other.Address, big.NewInt(200))
	sendTx(t, d, owner.PrivateKey, wallet, walletPack(t, walletABI, "execute", tok, big.NewInt(0), transfer), 0)
	if got := balance(t, d, wallet); got.Cmp(big.NewInt(300)) != 0 {
		t.Errorf("wallet balance after execute = %s, want 300", got)
	}
	tooMuch := walletPack(t, tokenABI, "transfer", other.Address, big.NewInt(1000))
	if _, err := walletCall(t, d, owner.Address, wallet, walletPack(t, walletABI, "execute", tok, big.NewInt(0), tooMuch)); walletRevert(err) != "CallFailed" {
		t.Errorf("failing execute: %v, want CallFailed", err)
	}

	// Rotation: the old key is refused, the new one accepted; revoking
	// (the zero owner) refuses everything.
	sendTx(t, d, owner.PrivateKey, wallet, walletPack(t, walletABI, "setOwner", other.Address), 0)
	if !bytes.Equal(isValid(sign(owner)), refused) || !bytes.Equal(isValid(sign(other)), magic) {
		t.Error("after setOwner the old key is still accepted or the new one is not")
	}
	sendTx(t, d, other.PrivateKey, wallet, walletPack(t, walletABI, "setOwner", common.Address{}), 0)
	if !bytes.Equal(isValid(sign(other)), refused) {
		t.Error("a revoked wallet accepts its last owner's signature")
	}
}

// The devnet token takes a wallet's EIP-3009 authorization through the
// bytes overload (OpenZeppelin's SignatureChecker asks the wallet).
func TestSmartWalletPaysEIP3009OnChain(t *testing.T) {
	d := start(t, devnet.Config{Accounts: 3})
	ctx := t.Context()
	accts := d.Accounts()
	owner, payee, relayer := accts[0], accts[1], accts[2]
	wallet, err := d.DeploySmartWallet(ctx, owner.Address, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Mint(ctx, wallet, big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	a := newAuth(wallet, payee.Address, 250)
	sig := signAuth(t, d, owner.PrivateKey, "TransferWithAuthorization", a)
	before := balance(t, d, payee.Address)
	r := sendTx(t, d, relayer.PrivateKey, d.Token().Address,
		authCallBytes(t, "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)", a, sig), 0)
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatal("transfer reverted")
	}
	if got := new(big.Int).Sub(balance(t, d, payee.Address), before); got.Cmp(big.NewInt(250)) != 0 {
		t.Errorf("payee received %s, want 250", got)
	}
}
