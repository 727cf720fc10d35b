package devnet_test

import (
	"crypto/ecdsa"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/go402/go402/devnet"
)

// secp256k1N is the order of the secp256k1 group.
var secp256k1N = crypto.S256().Params().N

func TestTokenDomain(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]devnet.Config{
		"defaults":          {},
		"base-mainnet-like": {ChainID: 84532, Name: "USD Coin", Version: "2", Symbol: "USDC"},
		"custom":            {ChainID: 1337, Name: "Test Dollar", Version: "7", Symbol: "TD"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := start(t, cfg)
			tok := d.Token()
			if got := call(t, d, "name()").(string); got != tok.Name {
				t.Errorf("name() = %q, want %q", got, tok.Name)
			}
			if got := call(t, d, "version()").(string); got != tok.Version {
				t.Errorf("version() = %q, want %q", got, tok.Version)
			}
			if got := call(t, d, "symbol()").(string); got != tok.Symbol {
				t.Errorf("symbol() = %q, want %q", got, tok.Symbol)
			}
			if got := call(t, d, "decimals()").(uint8); got != 6 || tok.Decimals != 6 {
				t.Errorf("decimals() = %d, Token().Decimals = %d, want 6", got, tok.Decimals)
			}
			td := apitypes.TypedData{Types: apitypes.Types{"EIP712Domain": domainType}, Domain: domain(d)}
			want, err := td.HashStruct("EIP712Domain", td.Domain.Map())
			if err != nil {
				t.Fatal(err)
			}
			got := call(t, d, "DOMAIN_SEPARATOR()").([32]byte)
			if !slices.Equal(got[:], want) {
				t.Fatalf("DOMAIN_SEPARATOR() = %x, EIP-712 domain hash computed in Go = %x", got, want)
			}
			// The type hashes are exactly USDC's.
			for sig, typ := range map[string]string{
				"TRANSFER_WITH_AUTHORIZATION_TYPEHASH()": "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)",
				"RECEIVE_WITH_AUTHORIZATION_TYPEHASH()":  "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)",
				"CANCEL_AUTHORIZATION_TYPEHASH()":        "CancelAuthorization(address authorizer,bytes32 nonce)",
			} {
				got := call(t, d, sig).([32]byte)
				if !slices.Equal(got[:], crypto.Keccak256([]byte(typ))) {
					t.Errorf("%s is not keccak256(%q)", sig, typ)
				}
			}
		})
	}
}

func TestTransferWithAuthorization(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{ChainID: 84532, RPCAddr: "127.0.0.1:0"})
	accts := d.Accounts()
	payer, payee, relayer := accts[0], accts[1], accts[2]

	for _, overload := range []string{twaVRS, twaBytes} {
		t.Run(overloadName(overload), func(t *testing.T) {
			a := newAuth(payer.Address, payee.Address, 1_234_567)
			sig := signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", a)
			var data []byte
			if overload == twaVRS {
				data = authCallVRS(t, overload, a, sig)
			} else {
				data = authCallBytes(t, overload, a, sig)
			}
			if used := call(t, d, "authorizationState(address,bytes32)", a.From, a.Nonce).(bool); used {
				t.Fatal("fresh nonce reported as used")
			}
			payerBefore, payeeBefore := balance(t, d, payer.Address), balance(t, d, payee.Address)

			r := mustTransact(t, d, relayer.PrivateKey, data)

			if got := new(big.Int).Sub(payerBefore, balance(t, d, payer.Address)); got.Cmp(a.Value) != 0 {
				t.Errorf("payer balance fell by %v, want %v", got, a.Value)
			}
			if got := new(big.Int).Sub(balance(t, d, payee.Address), payeeBefore); got.Cmp(a.Value) != 0 {
				t.Errorf("payee balance rose by %v, want %v", got, a.Value)
			}
			if used := call(t, d, "authorizationState(address,bytes32)", a.From, a.Nonce).(bool); !used {
				t.Error("authorizationState is false after use")
			}
			wantEvent(t, r, "AuthorizationUsed", payer.Address, a.Nonce)
			wantEvent(t, r, "Transfer", payer.Address, payee.Address)

			// Replaying the same authorization fails, both in estimation and
			// on chain.
			wantRevert(t, d, relayer.PrivateKey, data, "AuthorizationAlreadyUsed")
			r, err := transact(t, d, relayer.PrivateKey, data, 200_000)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != types.ReceiptStatusFailed {
				t.Fatal("replayed authorization was executed on chain")
			}
		})
	}

	t.Run("payer submits its own authorization", func(t *testing.T) {
		a := newAuth(payer.Address, payee.Address, 1)
		mustTransact(t, d, payer.PrivateKey, authCallBytes(t, twaBytes, a, signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", a)))
	})

	t.Run("high s", func(t *testing.T) {
		a := newAuth(payer.Address, payee.Address, 1)
		sig := signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", a)
		// (r, N-s, v^1) recovers the same signer through plain ecrecover
		// (EIP-2 malleability) and must be refused.
		s := new(big.Int).SetBytes(sig[32:64])
		mall := slices.Clone(sig)
		new(big.Int).Sub(secp256k1N, s).FillBytes(mall[32:64])
		mall[64] = 27 + 28 - mall[64] // 27 <-> 28
		if pub, err := crypto.Ecrecover(hashOf(t, d, "TransferWithAuthorization", a), unV(mall)); err != nil || common.BytesToAddress(crypto.Keccak256(pub[1:])[12:]) != payer.Address {
			t.Fatalf("test setup: malleated signature does not recover to the payer (%v)", err)
		}
		wantRevert(t, d, relayer.PrivateKey, authCallVRS(t, twaVRS, a, mall), "InvalidSignature")
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, mall), "InvalidSignature")
		// The original signature still works afterwards.
		mustTransact(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, sig))
	})

	t.Run("bad signatures", func(t *testing.T) {
		a := newAuth(payer.Address, payee.Address, 1)
		sig := signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", a)
		badV := slices.Clone(sig)
		badV[64] = 29
		wantRevert(t, d, relayer.PrivateKey, authCallVRS(t, twaVRS, a, badV), "InvalidSignature")
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, badV), "InvalidSignature")
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, sig[:64]), "InvalidSignature")
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, append(slices.Clone(sig), 0)), "InvalidSignature")

		// Signed by someone else.
		other := signAuth(t, d, relayer.PrivateKey, "TransferWithAuthorization", a)
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, other), "InvalidSignature")

		// Any field changed after signing.
		tampered := a
		tampered.Value = big.NewInt(2)
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, tampered, sig), "InvalidSignature")
		tampered = a
		tampered.To = relayer.Address
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, tampered, sig), "InvalidSignature")

		// A receive authorization is not a transfer authorization.
		recv := signAuth(t, d, payer.PrivateKey, "ReceiveWithAuthorization", a)
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, recv), "InvalidSignature")

		// Signed for another chain's domain.
		foreign := start(t, devnet.Config{ChainID: 1})
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, signAuth(t, foreign, payer.PrivateKey, "TransferWithAuthorization", a)), "InvalidSignature")
	})

	t.Run("time window", func(t *testing.T) {
		now := time.Now().Unix()
		expired := newAuth(payer.Address, payee.Address, 1)
		expired.ValidAfter, expired.ValidBefore = big.NewInt(now-1200), big.NewInt(now-600)
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, expired, signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", expired)), "AuthorizationExpired")

		early := newAuth(payer.Address, payee.Address, 1)
		early.ValidAfter, early.ValidBefore = big.NewInt(now+3600), big.NewInt(now+7200)
		wantRevert(t, d, relayer.PrivateKey, authCallVRS(t, twaVRS, early, signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", early)), "AuthorizationNotYetValid")

		// The bounds are strict, like USDC: validBefore equal to the block
		// timestamp is already expired. Mined on chain with a fixed gas limit
		// so the real block timestamp is what is compared.
		head, err := d.Client().HeaderByNumber(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		edge := newAuth(payer.Address, payee.Address, 1)
		edge.ValidAfter, edge.ValidBefore = big.NewInt(0), new(big.Int).SetUint64(head.Time+1)
		r, err := transact(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, edge, signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", edge)), 200_000)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := d.Client().HeaderByNumber(t.Context(), r.BlockNumber)
		if err != nil {
			t.Fatal(err)
		}
		if wantOK := blk.Time < head.Time+1; (r.Status == types.ReceiptStatusSuccessful) != wantOK {
			t.Fatalf("validBefore %d at block time %d: status %d", head.Time+1, blk.Time, r.Status)
		}
	})

	t.Run("insufficient balance", func(t *testing.T) {
		a := newAuth(payer.Address, payee.Address, 0)
		a.Value = new(big.Int).Add(balance(t, d, payer.Address), big.NewInt(1))
		wantRevert(t, d, relayer.PrivateKey, authCallBytes(t, twaBytes, a, signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", a)), "ERC20InsufficientBalance")
	})
}

func TestReceiveWithAuthorization(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{})
	accts := d.Accounts()
	payer, payee, other := accts[0], accts[1], accts[2]

	for _, overload := range []string{rwaVRS, rwaBytes} {
		t.Run(overloadName(overload), func(t *testing.T) {
			a := newAuth(payer.Address, payee.Address, 777)
			sig := signAuth(t, d, payer.PrivateKey, "ReceiveWithAuthorization", a)
			var data []byte
			if overload == rwaVRS {
				data = authCallVRS(t, overload, a, sig)
			} else {
				data = authCallBytes(t, overload, a, sig)
			}
			// Only the payee may submit it (front-running protection).
			wantRevert(t, d, other.PrivateKey, data, "CallerNotPayee")
			wantRevert(t, d, payer.PrivateKey, data, "CallerNotPayee")

			before := balance(t, d, payee.Address)
			r := mustTransact(t, d, payee.PrivateKey, data)
			wantEvent(t, r, "AuthorizationUsed", payer.Address, a.Nonce)
			if got := new(big.Int).Sub(balance(t, d, payee.Address), before); got.Int64() != 777 {
				t.Errorf("payee received %v, want 777", got)
			}
			wantRevert(t, d, payee.PrivateKey, data, "AuthorizationAlreadyUsed")

			// A transfer authorization cannot be used as a receive one.
			b := newAuth(payer.Address, payee.Address, 1)
			twa := signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", b)
			wantRevert(t, d, payee.PrivateKey, authCallBytes(t, rwaBytes, b, twa), "InvalidSignature")
		})
	}
}

func TestCancelAuthorization(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{})
	accts := d.Accounts()
	payer, payee, relayer := accts[0], accts[1], accts[2]

	for _, overload := range []string{cancelVRS, cancelByts} {
		t.Run(overloadName(overload), func(t *testing.T) {
			a := newAuth(payer.Address, payee.Address, 5)
			sig := signCancel(t, d, payer.PrivateKey, payer.Address, a.Nonce)
			var data []byte
			if overload == cancelVRS {
				v, r, s := vrs(sig)
				data = pack(t, overload, payer.Address, a.Nonce, v, r, s)
			} else {
				data = pack(t, overload, payer.Address, a.Nonce, sig)
			}
			// Only the authorizer's signature cancels.
			forged := signCancel(t, d, relayer.PrivateKey, payer.Address, a.Nonce)
			wantRevert(t, d, relayer.PrivateKey, pack(t, cancelByts, payer.Address, a.Nonce, forged), "InvalidSignature")

			r := mustTransact(t, d, relayer.PrivateKey, data)
			wantEvent(t, r, "AuthorizationCanceled", payer.Address, a.Nonce)
			if used := call(t, d, "authorizationState(address,bytes32)", payer.Address, a.Nonce).(bool); !used {
				t.Error("authorizationState is false after cancel")
			}
			// The canceled nonce can no longer be used or canceled again.
			twa := authCallBytes(t, twaBytes, a, signAuth(t, d, payer.PrivateKey, "TransferWithAuthorization", a))
			wantRevert(t, d, relayer.PrivateKey, twa, "AuthorizationAlreadyUsed")
			wantRevert(t, d, relayer.PrivateKey, data, "AuthorizationAlreadyUsed")
		})
	}
}

func TestMintOnlyOwner(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{Accounts: 1})
	acct := d.Accounts()[0]
	wantRevert(t, d, acct.PrivateKey, pack(t, "mint(address,uint256)", acct.Address, big.NewInt(1)), "OwnableUnauthorizedAccount")
	before := balance(t, d, acct.Address)
	mustTransact(t, d, d.Deployer().PrivateKey, pack(t, "mint(address,uint256)", acct.Address, big.NewInt(9)))
	if got := new(big.Int).Sub(balance(t, d, acct.Address), before); got.Int64() != 9 {
		t.Fatalf("owner mint added %v, want 9", got)
	}
}

// TestERC1271Signer checks that the bytes overloads accept a contract
// signer's ERC-1271 verdict, as FiatToken v2.2 does.
func TestERC1271Signer(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{Accounts: 2})
	accts := d.Accounts()
	approve := deployWallet(t, d, accts[0].PrivateKey, true)
	reject := deployWallet(t, d, accts[0].PrivateKey, false)
	for _, w := range []common.Address{approve, reject} {
		if err := d.Mint(t.Context(), w, big.NewInt(1000)); err != nil {
			t.Fatal(err)
		}
	}
	a := newAuth(approve, accts[1].Address, 400)
	mustTransact(t, d, accts[1].PrivateKey, authCallBytes(t, twaBytes, a, []byte("any signature the wallet accepts")))
	if got := balance(t, d, approve); got.Int64() != 600 {
		t.Fatalf("wallet balance %v, want 600", got)
	}
	b := newAuth(reject, accts[1].Address, 400)
	wantRevert(t, d, accts[1].PrivateKey, authCallBytes(t, twaBytes, b, []byte{1, 2, 3}), "InvalidSignature")
}

// deployWallet deploys a minimal ERC-1271 wallet whose isValidSignature
// accepts every signature (approve) or none. Hand-assembled runtime code:
//
//	PUSH4 0x1626ba7e (or 0) PUSH1 0xe0 SHL PUSH0 MSTORE PUSH1 0x20 PUSH0 RETURN
func deployWallet(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, approve bool) common.Address {
	t.Helper()
	magic := []byte{0x16, 0x26, 0xba, 0x7e}
	if !approve {
		magic = []byte{0, 0, 0, 0}
	}
	runtime := append(append([]byte{0x63}, magic...), 0x60, 0xe0, 0x1b, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3)
	// Init code: CODECOPY(0, 10, len) RETURN(0, len), then the runtime.
	n := byte(len(runtime))
	initCode := append([]byte{0x60, n, 0x60, 0x0a, 0x5f, 0x39, 0x60, n, 0x5f, 0xf3}, runtime...)
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := d.Client().PendingNonceAt(t.Context(), from)
	if err != nil {
		t.Fatal(err)
	}
	tip, feeCap := big.NewInt(1e9), big.NewInt(100e9)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(d.ChainID()), &types.DynamicFeeTx{
		ChainID: d.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: 100_000, Data: initCode,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Client().SendTransaction(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	r, err := d.WaitMined(t.Context(), tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("deploy wallet: %+v %v", r, err)
	}
	code, err := d.Client().CodeAt(t.Context(), r.ContractAddress, nil)
	if err != nil || !slices.Equal(code, runtime) {
		t.Fatalf("wallet code %x (%v), want %x", code, err, runtime)
	}
	return r.ContractAddress
}

// wantEvent asserts that the receipt has a token log of the named event
// whose indexed topics start with the given values.
func wantEvent(t *testing.T, r *types.Receipt, name string, indexed ...any) {
	t.Helper()
	ev, ok := tokenABI.Events[name]
	if !ok {
		t.Fatalf("no event %s in ABI", name)
	}
	var want []common.Hash
	for _, v := range indexed {
		switch v := v.(type) {
		case common.Address:
			want = append(want, common.BytesToHash(v.Bytes()))
		case [32]byte:
			want = append(want, common.Hash(v))
		default:
			t.Fatalf("unsupported topic %T", v)
		}
	}
	for _, l := range r.Logs {
		if len(l.Topics) > len(want) && l.Topics[0] == ev.ID && slices.Equal(l.Topics[1:1+len(want)], want) {
			return
		}
	}
	t.Errorf("receipt %s has no %s event with topics %v", r.TxHash, name, want)
}

// hashOf returns the EIP-712 digest of an authorization.
func hashOf(t *testing.T, d *devnet.Devnet, primaryType string, a authorization) []byte {
	t.Helper()
	hash, _, err := apitypes.TypedDataAndHash(apitypes.TypedData{
		Types:       apitypes.Types{"EIP712Domain": domainType, primaryType: authorizationType},
		PrimaryType: primaryType,
		Domain:      domain(d),
		Message: apitypes.TypedDataMessage{
			"from": a.From.Hex(), "to": a.To.Hex(), "value": a.Value.String(),
			"validAfter": a.ValidAfter.String(), "validBefore": a.ValidBefore.String(),
			"nonce": common.Hash(a.Nonce).Hex(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

// unV converts a 27/28 signature to the 0/1 form crypto.Ecrecover wants.
func unV(sig []byte) []byte {
	out := slices.Clone(sig)
	out[64] -= 27
	return out
}

// overloadName names a test after the signature form of an overload.
func overloadName(sig string) string {
	if strings.HasSuffix(sig, ",bytes)") {
		return "bytes signature"
	}
	return "v r s"
}
