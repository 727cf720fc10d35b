package devnet_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	bind "github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
)

// Devnet.Client's type must work with go-ethereum's bind v2.
var (
	_ bind.ContractBackend = (*ethclient.Client)(nil)
	_ bind.DeployBackend   = (*ethclient.Client)(nil)
)

var tokenABI = contracts.TestUSDCParsedABI()

// start starts a devnet that is closed when the test ends, and logs how
// long the start took.
func start(t *testing.T, cfg devnet.Config) *devnet.Devnet {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	began := time.Now()
	d, err := devnet.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("devnet.Start took %v (chain %d, %d accounts)", time.Since(began), d.ChainID(), len(d.Accounts()))
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// method returns the ABI method with the exact signature, e.g.
// "transferWithAuthorization(address,...,bytes)", to tell overloads apart.
func method(t *testing.T, sig string) abi.Method {
	t.Helper()
	for _, m := range tokenABI.Methods {
		if m.Sig == sig {
			return m
		}
	}
	t.Fatalf("no method %s in the token ABI", sig)
	return abi.Method{}
}

func pack(t *testing.T, sig string, args ...any) []byte {
	t.Helper()
	m := method(t, sig)
	in, err := m.Inputs.Pack(args...)
	if err != nil {
		t.Fatalf("pack %s: %v", sig, err)
	}
	return append(append([]byte(nil), m.ID...), in...)
}

// call runs an eth_call against the token at the latest block and unpacks
// the single result.
func call(t *testing.T, d *devnet.Devnet, sig string, args ...any) any {
	t.Helper()
	to := d.Token().Address
	out, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: pack(t, sig, args...)}, nil)
	if err != nil {
		t.Fatalf("call %s: %v", sig, err)
	}
	vals, err := method(t, sig).Outputs.Unpack(out)
	if err != nil || len(vals) != 1 {
		t.Fatalf("unpack %s: %v (%d values)", sig, err, len(vals))
	}
	return vals[0]
}

// transact sends calldata to the token from key through bind v2 and waits
// for the receipt. gasLimit 0 lets bind estimate the gas, so a call that
// would revert fails before sending and the error is returned; a non-zero
// gasLimit skips estimation, so a revert shows as a failed receipt.
func transact(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, data []byte, gasLimit uint64) (*types.Receipt, error) {
	t.Helper()
	opts := bind.NewKeyedTransactor(key, d.ChainID())
	opts.Context = t.Context()
	opts.GasLimit = gasLimit
	c := bind.NewBoundContract(d.Token().Address, tokenABI, d.Client(), d.Client(), d.Client())
	tx, err := c.RawTransact(opts, data)
	if err != nil {
		return nil, err
	}
	r, err := d.WaitMined(t.Context(), tx.Hash())
	if err != nil {
		t.Fatalf("wait for %s: %v", tx.Hash(), err)
	}
	return r, nil
}

// mustTransact is transact for calls that must succeed.
func mustTransact(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, data []byte) *types.Receipt {
	t.Helper()
	r, err := transact(t, d, key, data, 0)
	if err != nil {
		t.Fatalf("transact: %v (revert %s)", err, revertName(err))
	}
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transaction %s reverted", r.TxHash)
	}
	return r
}

// revertName decodes the custom error in a JSON-RPC execution-reverted
// error, or returns "" if there is none.
func revertName(err error) string {
	var de rpc.DataError
	if !errors.As(err, &de) {
		return ""
	}
	s, _ := de.ErrorData().(string)
	data, derr := hexutil.Decode(s)
	if derr != nil || len(data) < 4 {
		return ""
	}
	for name, e := range tokenABI.Errors {
		if bytes.Equal(e.ID[:4], data[:4]) {
			return name
		}
	}
	return fmt.Sprintf("unknown(0x%x)", data[:4])
}

// wantRevert asserts that sending data from key reverts with the named
// custom error, during estimation.
func wantRevert(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, data []byte, errName string) {
	t.Helper()
	r, err := transact(t, d, key, data, 0)
	if err == nil {
		t.Fatalf("transaction %s succeeded (status %d), want revert %s", r.TxHash, r.Status, errName)
	}
	if got := revertName(err); got != errName {
		t.Fatalf("reverted with %q (%v), want %s", got, err, errName)
	}
}

func balance(t *testing.T, d *devnet.Devnet, addr common.Address) *big.Int {
	t.Helper()
	b, err := d.BalanceOf(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// EIP-712 types of EIP-3009, as used by USDC.
var (
	domainType = []apitypes.Type{
		{Name: "name", Type: "string"},
		{Name: "version", Type: "string"},
		{Name: "chainId", Type: "uint256"},
		{Name: "verifyingContract", Type: "address"},
	}
	authorizationType = []apitypes.Type{
		{Name: "from", Type: "address"},
		{Name: "to", Type: "address"},
		{Name: "value", Type: "uint256"},
		{Name: "validAfter", Type: "uint256"},
		{Name: "validBefore", Type: "uint256"},
		{Name: "nonce", Type: "bytes32"},
	}
	cancelType = []apitypes.Type{
		{Name: "authorizer", Type: "address"},
		{Name: "nonce", Type: "bytes32"},
	}
)

func domain(d *devnet.Devnet) apitypes.TypedDataDomain {
	tok := d.Token()
	return apitypes.TypedDataDomain{
		Name:              tok.Name,
		Version:           tok.Version,
		ChainId:           math.NewHexOrDecimal256(d.ChainID().Int64()),
		VerifyingContract: tok.Address.Hex(),
	}
}

// authorization is an EIP-3009 transfer/receive authorization.
type authorization struct {
	From, To                       common.Address
	Value, ValidAfter, ValidBefore *big.Int
	Nonce                          [32]byte
}

// newAuth returns an authorization valid in the usual x402 window: from ten
// minutes ago to one minute from now, with a random nonce.
func newAuth(from, to common.Address, value int64) authorization {
	now := time.Now().Unix()
	a := authorization{
		From: from, To: to, Value: big.NewInt(value),
		ValidAfter: big.NewInt(now - 600), ValidBefore: big.NewInt(now + 60),
	}
	if _, err := rand.Read(a.Nonce[:]); err != nil {
		panic(err)
	}
	return a
}

// signTyped hashes typed data with go-ethereum's EIP-712 encoder and signs it,
// returning a 65-byte r || s || v signature with v in {27, 28}.
func signTyped(t *testing.T, key *ecdsa.PrivateKey, td apitypes.TypedData) []byte {
	t.Helper()
	hash, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatalf("EIP-712 hash: %v", err)
	}
	sig, err := crypto.Sign(hash, key)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	return sig
}

// signAuth signs a TransferWithAuthorization or ReceiveWithAuthorization.
func signAuth(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, primaryType string, a authorization) []byte {
	t.Helper()
	return signTyped(t, key, apitypes.TypedData{
		Types:       apitypes.Types{"EIP712Domain": domainType, primaryType: authorizationType},
		PrimaryType: primaryType,
		Domain:      domain(d),
		Message: apitypes.TypedDataMessage{
			"from":        a.From.Hex(),
			"to":          a.To.Hex(),
			"value":       a.Value.String(),
			"validAfter":  a.ValidAfter.String(),
			"validBefore": a.ValidBefore.String(),
			"nonce":       hexutil.Encode(a.Nonce[:]),
		},
	})
}

func signCancel(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, authorizer common.Address, nonce [32]byte) []byte {
	t.Helper()
	return signTyped(t, key, apitypes.TypedData{
		Types:       apitypes.Types{"EIP712Domain": domainType, "CancelAuthorization": cancelType},
		PrimaryType: "CancelAuthorization",
		Domain:      domain(d),
		Message: apitypes.TypedDataMessage{
			"authorizer": authorizer.Hex(),
			"nonce":      hexutil.Encode(nonce[:]),
		},
	})
}

// vrs splits a 65-byte signature into v, r, s.
func vrs(sig []byte) (uint8, [32]byte, [32]byte) {
	var r, s [32]byte
	copy(r[:], sig[:32])
	copy(s[:], sig[32:64])
	return sig[64], r, s
}

const (
	twaVRS     = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
	twaBytes   = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
	rwaVRS     = "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
	rwaBytes   = "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
	cancelVRS  = "cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)"
	cancelByts = "cancelAuthorization(address,bytes32,bytes)"
)

// authCallVRS and authCallBytes build calldata for the transfer/receive
// overloads.
func authCallVRS(t *testing.T, sig string, a authorization, signature []byte) []byte {
	v, r, s := vrs(signature)
	return pack(t, sig, a.From, a.To, a.Value, a.ValidAfter, a.ValidBefore, a.Nonce, v, r, s)
}

func authCallBytes(t *testing.T, sig string, a authorization, signature []byte) []byte {
	return pack(t, sig, a.From, a.To, a.Value, a.ValidAfter, a.ValidBefore, a.Nonce, signature)
}
