package devnet_test

import (
	"math/big"
	"testing"

	"github.com/go402/go402/devnet"
)

// TestPermit2ExactSmoke: a payer approves Permit2 once, signs a
// PermitWitnessTransferFrom naming the exact proxy as spender and the payee
// as witness destination, and the facilitator's settle moves exactly the
// permitted amount.
func TestPermit2ExactSmoke(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	e.approvePermit2(e.payer)
	before := e.tokenBalance(e.payer.Address)
	p := e.permit(1234)
	w := exactWitness{To: e.payee.Address, ValidAfter: big.NewInt(0)}
	sig := e.signPermit2(e.payer.PrivateKey, p, e.exactProxy, w)
	r := e.mustSend(e.facilitator, e.exactProxy, packABI(t, exactProxyABI, "settle", p, e.payer.Address, w, sig))
	if got := e.tokenBalance(e.payee.Address); got != devnet.DefaultTokenBalance().Int64()+1234 {
		t.Errorf("payee balance %d, want %d", got, devnet.DefaultTokenBalance().Int64()+1234)
	}
	if got := e.tokenBalance(e.payer.Address); got != before-1234 {
		t.Errorf("payer balance %d, want %d", got, before-1234)
	}
	if n := len(logsOf(r, e.exactProxy, exactProxyABI, "Settled")); n != 1 {
		t.Errorf("%d Settled events, want 1", n)
	}
	t.Logf("exact Permit2 settle: %d gas", r.GasUsed)
}

// TestPermit2UptoSmoke: a payer without any Permit2 allowance signs an
// EIP-2612 permit for Permit2 and an upto PermitWitnessTransferFrom for a
// maximum; the witness's facilitator settles less than the maximum with
// settleWithPermit, and a replay of the same Permit2 nonce is refused.
func TestPermit2UptoSmoke(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	p := e.permit(5000)
	w := uptoWitness{To: e.payee.Address, Facilitator: e.facilitator.Address, ValidAfter: big.NewInt(0)}
	sig := e.signPermit2(e.payer.PrivateKey, p, e.upto, w)
	p2612 := e.sign2612(e.payer.PrivateKey, e.permit2, 5000, 0)
	r := e.mustSend(e.facilitator, e.upto, packABI(t, uptoProxyABI, "settleWithPermit", p2612, p, big.NewInt(1700), e.payer.Address, w, sig))
	if got, want := e.tokenBalance(e.payee.Address), devnet.DefaultTokenBalance().Int64()+1700; got != want {
		t.Errorf("payee balance %d, want %d", got, want)
	}
	if n := len(logsOf(r, e.upto, uptoProxyABI, "SettledWithPermit")); n != 1 {
		t.Errorf("%d SettledWithPermit events, want 1", n)
	}
	if got := e.tokenView("allowance", e.payer.Address, e.permit2)[0].(*big.Int).Int64(); got != 5000-1700 {
		t.Errorf("Permit2 allowance %d after the settlement, want %d", got, 5000-1700)
	}
	t.Logf("upto Permit2 settleWithPermit: %d gas", r.GasUsed)
	e.wantRevertAt(e.facilitator, e.upto, packABI(t, uptoProxyABI, "settle", p, big.NewInt(1), e.payer.Address, w, sig), "InvalidNonce()")
	if name := p2ErrName(selector("InvalidNonce()")); name != "InvalidNonce" {
		t.Errorf("p2ErrName = %s", name)
	}
	if addrOf(e.payer.PrivateKey) != e.payer.Address {
		t.Error("addrOf")
	}
}
