package devnet_test

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/go402/go402/devnet"
)

// proxyKind abstracts over the exact and upto proxies, so that the checks
// they share run against both.
type proxyKind struct {
	name string
	addr func(e *p2Env) common.Address
	abi  abi.ABI
	// witness is the proxy's witness for destination `to` and validAfter,
	// naming the env's facilitator for upto.
	witness func(e *p2Env, to common.Address, validAfter int64) any
	// settle and settleWithPermit pack the calls; exact ignores amount
	// (it always moves the permitted amount).
	settle           func(t *testing.T, p permitTransferFrom, amount int64, owner common.Address, w any, sig []byte) []byte
	settleWithPermit func(t *testing.T, p2612 eip2612Permit, p permitTransferFrom, amount int64, owner common.Address, w any, sig []byte) []byte
}

var proxyKinds = []proxyKind{
	{
		name: "exact",
		addr: func(e *p2Env) common.Address { return e.exactProxy },
		abi:  exactProxyABI,
		witness: func(e *p2Env, to common.Address, validAfter int64) any {
			return exactWitness{To: to, ValidAfter: big.NewInt(validAfter)}
		},
		settle: func(t *testing.T, p permitTransferFrom, _ int64, owner common.Address, w any, sig []byte) []byte {
			return packABI(t, exactProxyABI, "settle", p, owner, w, sig)
		},
		settleWithPermit: func(t *testing.T, p2612 eip2612Permit, p permitTransferFrom, _ int64, owner common.Address, w any, sig []byte) []byte {
			return packABI(t, exactProxyABI, "settleWithPermit", p2612, p, owner, w, sig)
		},
	},
	{
		name: "upto",
		addr: func(e *p2Env) common.Address { return e.upto },
		abi:  uptoProxyABI,
		witness: func(e *p2Env, to common.Address, validAfter int64) any {
			return uptoWitness{To: to, Facilitator: e.facilitator.Address, ValidAfter: big.NewInt(validAfter)}
		},
		settle: func(t *testing.T, p permitTransferFrom, amount int64, owner common.Address, w any, sig []byte) []byte {
			return packABI(t, uptoProxyABI, "settle", p, big.NewInt(amount), owner, w, sig)
		},
		settleWithPermit: func(t *testing.T, p2612 eip2612Permit, p permitTransferFrom, amount int64, owner common.Address, w any, sig []byte) []byte {
			return packABI(t, uptoProxyABI, "settleWithPermit", p2612, p, big.NewInt(amount), owner, w, sig)
		},
	},
}

// withTo and withValidAfter return a copy of a witness with one field
// changed.
func withTo(w any, to common.Address) any {
	switch w := w.(type) {
	case exactWitness:
		w.To = to
		return w
	case uptoWitness:
		w.To = to
		return w
	}
	panic("unknown witness")
}

func withValidAfter(w any, v int64) any {
	switch w := w.(type) {
	case exactWitness:
		w.ValidAfter = big.NewInt(v)
		return w
	case uptoWitness:
		w.ValidAfter = big.NewInt(v)
		return w
	}
	panic("unknown witness")
}

// TestPermit2ProxySettle: through each proxy, a settle moves the amount to
// the witness destination with one Settled event, and every check the
// proxy and Permit2 make refuses its bad input with its custom error.
func TestPermit2ProxySettle(t *testing.T) {
	t.Parallel()
	for _, k := range proxyKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newP2Env(t)
			e.approvePermit2(e.payer)
			proxy := k.addr(e)
			payer := e.payer.Address
			// sign signs p with the witness for the payee.
			sign := func(p permitTransferFrom, w any) []byte { return e.signPermit2(e.payer.PrivateKey, p, proxy, w) }

			p := e.permit(1000)
			w := k.witness(e, e.payee.Address, 0)
			sig := sign(p, w)
			before := e.tokenBalance(e.payee.Address)
			r := e.mustSend(e.facilitator, proxy, k.settle(t, p, 1000, payer, w, sig))
			if got := e.tokenBalance(e.payee.Address) - before; got != 1000 {
				t.Errorf("payee received %d, want 1000", got)
			}
			if n := len(logsOf(r, proxy, k.abi, "Settled")); n != 1 {
				t.Errorf("%d Settled events, want 1", n)
			}
			wantTransferLog(t, r, e.token, payer, e.payee.Address, 1000)
			if n := len(logsOf(r, proxy, k.abi, "SettledWithPermit")); n != 0 {
				t.Errorf("%d SettledWithPermit events from settle", n)
			}

			// Each case: the permit, the witness signed, the witness and
			// owner submitted, and the expected revert.
			for _, tc := range []struct {
				name      string
				amount    int64 // signed permitted amount
				settleAmt int64 // upto's amount argument
				signedW   any
				sentW     any
				owner     common.Address
				deadline  int64 // relative to the head; 0 for an hour
				want      string
			}{
				{name: "replayed nonce", want: "InvalidNonce()"}, // uses p and sig from above
				{name: "destination changed", amount: 1000, settleAmt: 1000, signedW: w, sentW: withTo(w, e.other.Address), owner: payer, want: "InvalidSigner()"},
				{name: "validAfter changed", amount: 1000, settleAmt: 1000, signedW: w, sentW: withValidAfter(w, 1), owner: payer, want: "InvalidSigner()"},
				{name: "zero destination", amount: 1000, settleAmt: 1000, signedW: withTo(w, common.Address{}), sentW: withTo(w, common.Address{}), owner: payer, want: "InvalidDestination()"},
				{name: "zero owner", amount: 1000, settleAmt: 1000, signedW: w, sentW: w, owner: common.Address{}, want: "InvalidOwner()"},
				{name: "not yet valid", amount: 1000, settleAmt: 1000, signedW: withValidAfter(w, e.headTime()+3600), sentW: withValidAfter(w, e.headTime()+3600), owner: payer, want: "PaymentTooEarly()"},
				{name: "expired", amount: 1000, settleAmt: 1000, signedW: w, sentW: w, owner: payer, deadline: -1, want: "SignatureExpired(uint256)"},
				{name: "zero amount", amount: 0, settleAmt: 0, signedW: w, sentW: w, owner: payer, want: "InvalidAmount()"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := e.at(t)
					if tc.signedW == nil { // the replay
						e.wantRevertAt(e.facilitator, proxy, k.settle(t, p, 1000, payer, w, sig), tc.want)
						return
					}
					p := e.permit(tc.amount)
					if tc.deadline != 0 {
						p.Deadline = big.NewInt(e.headTime() + tc.deadline)
					}
					e.wantRevertAt(e.facilitator, proxy, k.settle(t, p, tc.settleAmt, tc.owner, tc.sentW, sign(p, tc.signedW)), tc.want)
				})
			}
			t.Run("signed for another spender", func(t *testing.T) {
				e := e.at(t)
				p := e.permit(1000)
				sig := e.signPermit2(e.payer.PrivateKey, p, e.other.Address, w)
				e.wantRevertAt(e.facilitator, proxy, k.settle(t, p, 1000, payer, w, sig), "InvalidSigner()")
			})
			t.Run("reentrant token", func(t *testing.T) {
				e := e.at(t)
				reenter := k.settle(t, e.permit(1), 1, payer, w, []byte{1})
				tok := deployReentrantToken(t, e.d, e.other.PrivateKey, proxy, reenter)
				p := e.permit(500)
				p.Permitted.Token = tok
				e.mustSend(e.facilitator, proxy, k.settle(t, p, 500, payer, w, sign(p, w)))
				slot, err := e.d.Client().StorageAt(t.Context(), tok, common.Hash{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if want := selector("ReentrancyGuardReentrantCall()"); !bytes.Equal(slot[:4], want) {
					t.Errorf("the re-entering call reverted with %x, want ReentrancyGuardReentrantCall (%x)", slot[:4], want)
				}
			})
		})
	}
}

// TestPermit2ProxySettleWithPermit: settleWithPermit submits the payer's
// EIP-2612 permit for Permit2 before the transfer; a permit that fails
// (already used by a front-runner, or reverting in any way) is reported by
// an event and the settlement goes on; a permit whose value is not the
// permitted amount is refused.
func TestPermit2ProxySettleWithPermit(t *testing.T) {
	t.Parallel()
	for _, k := range proxyKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			e := newP2Env(t)
			proxy := k.addr(e)
			payer := e.payer
			w := k.witness(e, e.payee.Address, 0)
			settle := func(p2612 eip2612Permit, p permitTransferFrom, amount int64) []byte {
				return k.settleWithPermit(t, p2612, p, amount, payer.Address, w, e.signPermit2(payer.PrivateKey, p, proxy, w))
			}
			allowance := func() int64 { return e.tokenView("allowance", payer.Address, e.permit2)[0].(*big.Int).Int64() }

			t.Run("amount mismatch", func(t *testing.T) {
				e := e.at(t)
				p := e.permit(1000)
				e.wantRevertAt(e.facilitator, proxy, settle(e.sign2612(payer.PrivateKey, e.permit2, 1001, 0), p, 1000), "Permit2612AmountMismatch()")
			})

			// A fresh permit: no allowance before, the permitted amount
			// approved and (exact: all of it) spent.
			p := e.permit(1000)
			before := e.tokenBalance(e.payee.Address)
			r := e.mustSend(e.facilitator, proxy, settle(e.sign2612(payer.PrivateKey, e.permit2, 1000, 0), p, 1000))
			if got := e.tokenBalance(e.payee.Address) - before; got != 1000 {
				t.Errorf("payee received %d, want 1000", got)
			}
			if n := len(logsOf(r, proxy, k.abi, "SettledWithPermit")); n != 1 {
				t.Errorf("%d SettledWithPermit events, want 1", n)
			}
			for _, ev := range []string{"Settled", "EIP2612PermitFailedWithReason", "EIP2612PermitFailedWithPanic", "EIP2612PermitFailedWithData"} {
				if n := len(logsOf(r, proxy, k.abi, ev)); n != 0 {
					t.Errorf("%d %s events, want none", n, ev)
				}
			}
			if got := allowance(); got != 0 {
				t.Errorf("allowance after settling the whole permit: %d", got)
			}

			// A front-run permit: someone submits it to the token first;
			// settleWithPermit still settles, reporting the permit's revert.
			t.Run("front-run permit", func(t *testing.T) {
				e := e.at(t)
				p := e.permit(700)
				p2612 := e.sign2612(payer.PrivateKey, e.permit2, 700, 0)
				e.mustSend(e.other, e.token, packABI(t, permitTokenABI, "permit", payer.Address, e.permit2, p2612.Value, p2612.Deadline, p2612.V, p2612.R, p2612.S))
				before := e.tokenBalance(e.payee.Address)
				r := e.mustSend(e.facilitator, proxy, settle(p2612, p, 700))
				if got := e.tokenBalance(e.payee.Address) - before; got != 700 {
					t.Errorf("payee received %d, want 700", got)
				}
				data := permitFailure(t, r, proxy, k.abi, "EIP2612PermitFailedWithData", e.token, payer.Address)[0].([]byte)
				if want := selector("ERC2612InvalidSigner(address,address)"); len(data) < 4 || !bytes.Equal(data[:4], want) {
					t.Errorf("EIP2612PermitFailedWithData(%x), want ERC2612InvalidSigner", data)
				}
			})
			t.Run("failing permit without allowance", func(t *testing.T) {
				e := e.at(t)
				p := e.permit(300)
				stale := e.sign2612(payer.PrivateKey, e.permit2, 300, 1) // a nonce ahead: invalid
				data := e.wantRevertAt(e.facilitator, proxy, settle(stale, p, 300), "Error(string)")
				if msg := errorString(t, data); msg != "TRANSFER_FROM_FAILED" {
					t.Errorf("reason %q, want TRANSFER_FROM_FAILED", msg)
				}
			})

			// Tokens whose permit reverts in each way Solidity can catch.
			errData := packRevert(t, "Error", "permits are off")
			panicData := packRevert(t, "Panic", big.NewInt(0x11))
			custom := append(selector("PermitsDisabled(uint256)"), common.LeftPadBytes([]byte{7}, 32)...)
			for _, tc := range []struct {
				name, event string
				revert      []byte
				want        any
			}{
				{"Error(string)", "EIP2612PermitFailedWithReason", errData, "permits are off"},
				{"Panic(uint256)", "EIP2612PermitFailedWithPanic", panicData, big.NewInt(0x11)},
				{"custom error", "EIP2612PermitFailedWithData", custom, custom},
				{"empty revert", "EIP2612PermitFailedWithData", nil, []byte{}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := e.at(t)
					tok := deployFakeToken(t, e.d, e.other.PrivateKey, tc.revert)
					p := e.permit(50)
					p.Permitted.Token = tok
					p2612 := eip2612Permit{Value: big.NewInt(50), Deadline: big.NewInt(e.headTime() + 60)}
					r := e.mustSend(e.facilitator, proxy, settle(p2612, p, 50))
					got := permitFailure(t, r, proxy, k.abi, tc.event, tok, payer.Address)
					switch want := tc.want.(type) {
					case *big.Int:
						if got[0].(*big.Int).Cmp(want) != 0 {
							t.Errorf("%s(%v), want %v", tc.event, got[0], want)
						}
					case []byte:
						if !bytes.Equal(got[0].([]byte), want) {
							t.Errorf("%s(%x), want %x", tc.event, got[0], want)
						}
					default:
						if got[0] != want {
							t.Errorf("%s(%v), want %v", tc.event, got[0], want)
						}
					}
					if n := len(logsOf(r, proxy, k.abi, "SettledWithPermit")); n != 1 {
						t.Errorf("%d SettledWithPermit events, want 1", n)
					}
				})
			}
		})
	}
}

// TestUptoProxy: the upto proxy settles any non-zero amount up to the
// permitted one, only for the witness's facilitator, checking the amount
// first (as the reference does).
func TestUptoProxy(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	e.approvePermit2(e.payer)
	k := proxyKinds[1]
	payer := e.payer.Address
	w := k.witness(e, e.payee.Address, 0).(uptoWitness)
	signed := func(p permitTransferFrom, w uptoWitness) []byte {
		return e.signPermit2(e.payer.PrivateKey, p, e.upto, w)
	}

	p := e.permit(1000)
	sig := signed(p, w)
	for _, tc := range []struct {
		name   string
		from   devnet.Account
		amount int64
		w      uptoWitness
		want   string
	}{
		{"amount above permitted", e.facilitator, 1001, w, "AmountExceedsPermitted()"},
		{"caller is not the facilitator", e.other, 1000, w, "UnauthorizedFacilitator()"},
		{"both: the amount is checked first", e.other, 1001, w, "AmountExceedsPermitted()"},
		{"zero amount", e.facilitator, 0, w, "InvalidAmount()"},
		{"facilitator swapped in the witness", e.other, 1000, uptoWitness{To: w.To, Facilitator: e.other.Address, ValidAfter: w.ValidAfter}, "InvalidSigner()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.at(t)
			e.wantRevertAt(tc.from, e.upto, k.settle(t, p, tc.amount, payer, tc.w, sig), tc.want)
			// settleWithPermit checks amount and caller before the permit.
			if tc.want == "AmountExceedsPermitted()" || tc.want == "UnauthorizedFacilitator()" {
				bad := eip2612Permit{Value: big.NewInt(1), Deadline: big.NewInt(0)} // would be Permit2612AmountMismatch
				e.wantRevertAt(tc.from, e.upto, k.settleWithPermit(t, bad, p, tc.amount, payer, tc.w, sig), tc.want)
			}
		})
	}

	// A partial settlement spends the nonce: the rest of the maximum cannot
	// be settled later.
	before := e.tokenBalance(e.payee.Address)
	e.mustSend(e.facilitator, e.upto, k.settle(t, p, 1, payer, w, sig))
	if got := e.tokenBalance(e.payee.Address) - before; got != 1 {
		t.Errorf("payee received %d, want 1", got)
	}
	e.wantRevertAt(e.facilitator, e.upto, k.settle(t, p, 999, payer, w, sig), "InvalidNonce()")

	// The whole maximum.
	p2 := e.permit(1000)
	e.mustSend(e.facilitator, e.upto, k.settle(t, p2, 1000, payer, w, signed(p2, w)))
	if got := e.tokenBalance(e.payee.Address) - before; got != 1001 {
		t.Errorf("payee received %d in all, want 1001", got)
	}
}

// wantTransferLog requires one ERC-20 Transfer(from, to, amount) log of
// token in r.
func wantTransferLog(t *testing.T, r *types.Receipt, token, from, to common.Address, amount int64) {
	t.Helper()
	ls := logsOf(r, token, permitTokenABI, "Transfer")
	if len(ls) != 1 || ls[0].Topics[1] != common.BytesToHash(from.Bytes()) || ls[0].Topics[2] != common.BytesToHash(to.Bytes()) ||
		new(big.Int).SetBytes(ls[0].Data).Int64() != amount {
		t.Errorf("Transfer logs %+v, want one Transfer(%s, %s, %d)", ls, from, to, amount)
	}
}

// permitFailure requires exactly one EIP2612PermitFailedWith* event of the
// given name in r, indexed by token and owner, and returns its data fields.
func permitFailure(t *testing.T, r *types.Receipt, proxy common.Address, a abi.ABI, event string, token, owner common.Address) []any {
	t.Helper()
	ls := logsOf(r, proxy, a, event)
	if len(ls) != 1 {
		t.Fatalf("%d %s events, want 1", len(ls), event)
	}
	if ls[0].Topics[1] != common.BytesToHash(token.Bytes()) || ls[0].Topics[2] != common.BytesToHash(owner.Bytes()) {
		t.Errorf("%s topics %v, want token %s and owner %s", event, ls[0].Topics, token, owner)
	}
	vals, err := a.Unpack(event, ls[0].Data)
	if err != nil || len(vals) != 1 {
		t.Fatalf("unpack %s: %v", event, err)
	}
	return vals
}

// packRevert builds Error(string) or Panic(uint256) revert data.
func packRevert(t *testing.T, kind string, arg any) []byte {
	t.Helper()
	typ := map[string]string{"Error": "string", "Panic": "uint256"}[kind]
	args := abi.Arguments{{Type: abiType(t, typ)}}
	enc, err := args.Pack(arg)
	if err != nil {
		t.Fatal(err)
	}
	return append(selector(kind+"("+typ+")"), enc...)
}
