package devnet_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm/permit2"
)

var (
	permit2ABI     = contracts.Permit2ParsedABI()
	exactProxyABI  = contracts.ExactPermit2ProxyParsedABI()
	uptoProxyABI   = contracts.UptoPermit2ProxyParsedABI()
	permitTokenABI = contracts.TestPermitTokenParsedABI()
)

// Mirrors of the Permit2 and proxy structs for the ABI encoder.
type (
	tokenPermissions struct {
		Token  common.Address
		Amount *big.Int
	}
	permitTransferFrom struct {
		Permitted tokenPermissions
		Nonce     *big.Int
		Deadline  *big.Int
	}
	transferDetails struct {
		To              common.Address
		RequestedAmount *big.Int
	}
	exactWitness struct {
		To         common.Address
		ValidAfter *big.Int
	}
	uptoWitness struct {
		To          common.Address
		Facilitator common.Address
		ValidAfter  *big.Int
	}
	eip2612Permit struct {
		Value    *big.Int
		Deadline *big.Int
		R        [32]byte
		S        [32]byte
		V        uint8
	}
)

// EIP-712 types of the Permit2 messages, written from the specification
// (PermitWitnessTransferFrom with the exact and upto witnesses) and of
// EIP-2612.
var (
	permit2DomainType = []apitypes.Type{
		{Name: "name", Type: "string"},
		{Name: "chainId", Type: "uint256"},
		{Name: "verifyingContract", Type: "address"},
	}
	tokenPermissionsType = []apitypes.Type{{Name: "token", Type: "address"}, {Name: "amount", Type: "uint256"}}
	permitWitnessType    = []apitypes.Type{
		{Name: "permitted", Type: "TokenPermissions"},
		{Name: "spender", Type: "address"},
		{Name: "nonce", Type: "uint256"},
		{Name: "deadline", Type: "uint256"},
		{Name: "witness", Type: "Witness"},
	}
	permitNoWitnessType = permitWitnessType[:4]
	exactWitnessType    = []apitypes.Type{{Name: "to", Type: "address"}, {Name: "validAfter", Type: "uint256"}}
	uptoWitnessType     = []apitypes.Type{
		{Name: "to", Type: "address"}, {Name: "facilitator", Type: "address"}, {Name: "validAfter", Type: "uint256"},
	}
	eip2612PermitType = []apitypes.Type{
		{Name: "owner", Type: "address"},
		{Name: "spender", Type: "address"},
		{Name: "value", Type: "uint256"},
		{Name: "nonce", Type: "uint256"},
		{Name: "deadline", Type: "uint256"},
	}
)

// p2Env is a devnet with a payer holding the Permit2 test token, a payee and
// a facilitator that submits what the payer signed.
type p2Env struct {
	t                         *testing.T
	d                         *devnet.Devnet
	token                     common.Address
	payer, payee, facilitator devnet.Account
	other                     devnet.Account // a fourth funded account
	permit2, exactProxy, upto common.Address
}

func newP2Env(t *testing.T) *p2Env {
	t.Helper()
	d := start(t, devnet.Config{Accounts: 4})
	a := d.Accounts()
	return &p2Env{
		t: t, d: d, token: d.PermitToken().Address,
		payer: a[0], payee: a[1], facilitator: a[2], other: a[3],
		permit2: permit2.Address(), exactProxy: permit2.ExactProxy(), upto: permit2.UptoProxy(),
	}
}

// at returns a copy of the env reporting to t, for use in a subtest.
func (e *p2Env) at(t *testing.T) *p2Env {
	c := *e
	c.t = t
	return &c
}

// headTime is the latest block's timestamp.
func (e *p2Env) headTime() int64 {
	e.t.Helper()
	h, err := e.d.Client().HeaderByNumber(e.t.Context(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return int64(h.Time)
}

// permit returns a permit for amount of the env's token with a random
// nonce and a deadline an hour after the head.
func (e *p2Env) permit(amount int64) permitTransferFrom {
	var n [31]byte
	if _, err := rand.Read(n[:]); err != nil {
		e.t.Fatal(err)
	}
	return permitTransferFrom{
		Permitted: tokenPermissions{Token: e.token, Amount: big.NewInt(amount)},
		Nonce:     new(big.Int).SetBytes(n[:]),
		Deadline:  big.NewInt(e.headTime() + 3600),
	}
}

func (e *p2Env) permit2Domain() apitypes.TypedDataDomain {
	return apitypes.TypedDataDomain{
		Name:              "Permit2",
		ChainId:           math.NewHexOrDecimal256(e.d.ChainID().Int64()),
		VerifyingContract: e.permit2.Hex(),
	}
}

// permit2Digest is the EIP-712 digest Permit2 verifies for a
// PermitWitnessTransferFrom (witness non-nil: an exactWitness or
// uptoWitness) or a PermitTransferFrom (witness nil) naming spender.
func (e *p2Env) permit2Digest(p permitTransferFrom, spender common.Address, witness any) []byte {
	e.t.Helper()
	msg := apitypes.TypedDataMessage{
		"permitted": map[string]any{"token": p.Permitted.Token.Hex(), "amount": p.Permitted.Amount.String()},
		"spender":   spender.Hex(),
		"nonce":     p.Nonce.String(),
		"deadline":  p.Deadline.String(),
	}
	types := apitypes.Types{"EIP712Domain": permit2DomainType, "TokenPermissions": tokenPermissionsType}
	primary := "PermitWitnessTransferFrom"
	switch w := witness.(type) {
	case exactWitness:
		types[primary], types["Witness"] = permitWitnessType, exactWitnessType
		msg["witness"] = map[string]any{"to": w.To.Hex(), "validAfter": w.ValidAfter.String()}
	case uptoWitness:
		types[primary], types["Witness"] = permitWitnessType, uptoWitnessType
		msg["witness"] = map[string]any{"to": w.To.Hex(), "facilitator": w.Facilitator.Hex(), "validAfter": w.ValidAfter.String()}
	case nil:
		primary = "PermitTransferFrom"
		types[primary] = permitNoWitnessType
	default:
		e.t.Fatalf("witness of type %T", witness)
	}
	hash, _, err := apitypes.TypedDataAndHash(apitypes.TypedData{Types: types, PrimaryType: primary, Domain: e.permit2Domain(), Message: msg})
	if err != nil {
		e.t.Fatalf("EIP-712 hash: %v", err)
	}
	return hash
}

// signPermit2 signs the Permit2 message with key (65-byte r || s || v).
func (e *p2Env) signPermit2(key *ecdsa.PrivateKey, p permitTransferFrom, spender common.Address, witness any) []byte {
	e.t.Helper()
	return sign(e.t, key, [32]byte(e.permit2Digest(p, spender, witness)))
}

// sign2612 signs an EIP-2612 permit of the env's token from key's owner to
// spender, with the owner's current token nonce plus nonceOffset.
func (e *p2Env) sign2612(key *ecdsa.PrivateKey, spender common.Address, value int64, nonceOffset int64) eip2612Permit {
	e.t.Helper()
	owner := addrOf(key)
	nonce := new(big.Int).Add(e.tokenView("nonces", owner)[0].(*big.Int), big.NewInt(nonceOffset))
	deadline := big.NewInt(e.headTime() + 3600)
	hash, _, err := apitypes.TypedDataAndHash(apitypes.TypedData{
		Types:       apitypes.Types{"EIP712Domain": domainType, "Permit": eip2612PermitType},
		PrimaryType: "Permit",
		Domain: apitypes.TypedDataDomain{
			Name: devnet.PermitTokenName, Version: devnet.PermitTokenVersion,
			ChainId: math.NewHexOrDecimal256(e.d.ChainID().Int64()), VerifyingContract: e.token.Hex(),
		},
		Message: apitypes.TypedDataMessage{
			"owner": owner.Hex(), "spender": spender.Hex(), "value": big.NewInt(value).String(),
			"nonce": nonce.String(), "deadline": deadline.String(),
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sig := sign(e.t, key, [32]byte(hash))
	v, r, s := vrs(sig)
	return eip2612Permit{Value: big.NewInt(value), Deadline: deadline, R: r, S: s, V: v}
}

// packABI packs a call of a go402 contract.
func packABI(t *testing.T, a abi.ABI, name string, args ...any) []byte {
	t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		t.Fatalf("pack %s: %v", name, err)
	}
	return data
}

// tokenView calls a view of the env's token.
func (e *p2Env) tokenView(name string, args ...any) []any {
	return viewOf(e.t, e.d, e.token, permitTokenABI, name, args...)
}

// viewOf calls a view of contract `to` and unpacks its outputs.
func viewOf(t *testing.T, d *devnet.Devnet, to common.Address, a abi.ABI, name string, args ...any) []any {
	t.Helper()
	out, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: packABI(t, a, name, args...)}, nil)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	vals, err := a.Unpack(name, out)
	if err != nil {
		t.Fatalf("unpack %s: %v", name, err)
	}
	return vals
}

// tokenBalance is the env token's balance of addr.
func (e *p2Env) tokenBalance(addr common.Address) int64 {
	e.t.Helper()
	return e.tokenView("balanceOf", addr)[0].(*big.Int).Int64()
}

// approvePermit2 has acct approve Permit2 for the env's token, without limit.
func (e *p2Env) approvePermit2(acct devnet.Account) {
	e.t.Helper()
	if err := e.d.ApprovePermit2(e.t.Context(), acct, e.token, math.MaxBig256); err != nil {
		e.t.Fatal(err)
	}
	if got := e.tokenView("allowance", acct.Address, e.permit2)[0].(*big.Int); got.Cmp(math.MaxBig256) != 0 {
		e.t.Fatalf("Permit2 allowance %v after ApprovePermit2", got)
	}
}

// mustSend sends calldata to `to` from acct and requires success.
func (e *p2Env) mustSend(acct devnet.Account, to common.Address, data []byte) *types.Receipt {
	e.t.Helper()
	r := sendTx(e.t, e.d, acct.PrivateKey, to, data, 0)
	if r.Status != types.ReceiptStatusSuccessful {
		e.t.Fatalf("transaction %s reverted", r.TxHash)
	}
	return r
}

// wantRevertAt requires that calldata to `to` from acct reverts (in gas
// estimation) with revert data starting with the selector of errSig, e.g.
// "InvalidNonce()", or, for errSig "Error(string)", with that reason.
func (e *p2Env) wantRevertAt(acct devnet.Account, to common.Address, data []byte, errSig string) []byte {
	e.t.Helper()
	_, err := e.d.Client().EstimateGas(e.t.Context(), ethereum.CallMsg{From: acct.Address, To: &to, Data: data})
	if err == nil {
		e.t.Fatalf("call succeeded, want revert %s", errSig)
	}
	got := revertData(err)
	if len(got) < 4 {
		e.t.Fatalf("error %v carries no revert selector, want %s", err, errSig)
	}
	if want := selector(errSig); [4]byte(got[:4]) != [4]byte(want) {
		e.t.Fatalf("reverted with selector %x (%s), want %x (%s)", got[:4], p2ErrName(got), want, errSig)
	}
	return got
}

// p2ErrName names a custom error of Permit2 or a proxy from revert data.
func p2ErrName(data []byte) string {
	for _, a := range []abi.ABI{permit2ABI, exactProxyABI, uptoProxyABI, permitTokenABI} {
		for name, e := range a.Errors {
			if [4]byte(e.ID[:4]) == [4]byte(data[:4]) {
				return name
			}
		}
	}
	return "unknown"
}

// logsOf returns the logs of the named event of contract `from` in r.
func logsOf(r *types.Receipt, from common.Address, a abi.ABI, name string) []*types.Log {
	id := a.Events[name].ID
	var out []*types.Log
	for _, l := range r.Logs {
		if l.Address == from && len(l.Topics) > 0 && l.Topics[0] == id {
			out = append(out, l)
		}
	}
	return out
}

func addrOf(key *ecdsa.PrivateKey) common.Address {
	return common.Address(crypto.PubkeyToAddress(key.PublicKey))
}
