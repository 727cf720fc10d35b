package devnet_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common/math"

	"github.com/go402/go402/contracts"
)

// Gas ceilings of the Permit2 settlements on the devnet, well above the
// measured figures (logged by TestPermit2Gas), so that a change making the
// contracts much costlier fails.
const (
	maxExactPermit2Gas       = 110_000
	maxUptoPermit2Gas        = 110_000
	maxSettleWithPermit2612G = 160_000
)

// TestPermit2Gas measures one payment of each kind between two funded
// accounts, each with a fresh random nonce (as x402 clients sign them):
// exact over EIP-3009 (transferWithAuthorization on the test USDC), exact
// and upto over Permit2 (the payer has approved Permit2 without limit, as
// an approve or an erc20ApprovalGasSponsoring transaction does), and
// settleWithPermit (the payer has no allowance and signed an EIP-2612
// permit for the permitted amount, as eip2612GasSponsoring does). Run with
// -v to see the figures.
func TestPermit2Gas(t *testing.T) {
	t.Parallel()
	e := newP2Env(t)
	payer, payee := e.payer, e.payee.Address

	// Exact over EIP-3009, the reference.
	a := newAuth(payer.Address, payee, 1000)
	a.ValidAfter, a.ValidBefore = big.NewInt(0), big.NewInt(e.headTime()+3600)
	eip3009 := mustTransact(t, e.d, e.facilitator.PrivateKey, authCallVRS(t, twaVRS, a, signAuth(t, e.d, payer.PrivateKey, "TransferWithAuthorization", a))).GasUsed

	approve := e.mustSend(payer, e.token, packABI(t, permitTokenABI, "approve", e.permit2, math.MaxBig256)).GasUsed

	exact, upto := proxyKinds[0], proxyKinds[1]
	settle := func(k proxyKind, permitted, amount int64) uint64 {
		p := e.permit(permitted)
		w := k.witness(e, payee, 0)
		return e.mustSend(e.facilitator, k.addr(e), k.settle(t, p, amount, payer.Address, w, e.signPermit2(payer.PrivateKey, p, k.addr(e), w))).GasUsed
	}
	exactGas := settle(exact, 1000, 1000)
	uptoGas := settle(upto, 1000, 600)

	// The same, with nonces in an already used bitmap word (a client that
	// numbers its nonces sequentially).
	sameWord := func(k proxyKind, amount int64) uint64 {
		var gas uint64
		for i := range 2 {
			p := e.permit(1000)
			p.Nonce = big.NewInt(int64(k.name[0])<<8 | int64(i))
			w := k.witness(e, payee, 0)
			gas = e.mustSend(e.facilitator, k.addr(e), k.settle(t, p, amount, payer.Address, w, e.signPermit2(payer.PrivateKey, p, k.addr(e), w))).GasUsed
		}
		return gas
	}
	exactWarm, uptoWarm := sameWord(exact, 1000), sameWord(upto, 600)

	// settleWithPermit for a payer without allowance.
	fresh := e.other
	withPermit := func(k proxyKind, amount int64) uint64 {
		p := e.permit(1000)
		w := k.witness(e, payee, 0)
		p2612 := e.sign2612(fresh.PrivateKey, e.permit2, 1000, 0)
		return e.mustSend(e.facilitator, k.addr(e), k.settleWithPermit(t, p2612, p, amount, fresh.Address, w, e.signPermit2(fresh.PrivateKey, p, k.addr(e), w))).GasUsed
	}
	exactWithPermit := withPermit(exact, 1000)
	uptoWithPermit := withPermit(upto, 600)

	// exact over Permit2 from the devnet's EIP-1271 SmartWallet (deployed,
	// Permit2 approved through execute).
	wallet, err := e.d.DeploySmartWallet(t.Context(), fresh.Address, big.NewInt(7))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.d.MintToken(t.Context(), e.token, wallet, big.NewInt(10_000)); err != nil {
		t.Fatal(err)
	}
	e.mustSend(fresh, wallet, packABI(t, contracts.SmartWalletParsedABI(), "execute", e.token, big.NewInt(0),
		packABI(t, permitTokenABI, "approve", e.permit2, math.MaxBig256)))
	p := e.permit(1000)
	w := exact.witness(e, payee, 0)
	walletGas := e.mustSend(e.facilitator, e.exactProxy, exact.settle(t, p, 1000, wallet, w, e.signPermit2(fresh.PrivateKey, p, e.exactProxy, w))).GasUsed

	pct := func(g uint64) float64 { return 100 * float64(g) / float64(eip3009) }
	t.Logf("exact, EIP-3009 transferWithAuthorization:          %6d gas", eip3009)
	t.Logf("exact, Permit2 settle (fresh nonce word):           %6d gas (%.0f%% of EIP-3009)", exactGas, pct(exactGas))
	t.Logf("upto, Permit2 settle 600 of 1000 (fresh word):      %6d gas (%.0f%%)", uptoGas, pct(uptoGas))
	t.Logf("exact, Permit2 settle (nonce word already used):    %6d gas (%.0f%%)", exactWarm, pct(exactWarm))
	t.Logf("upto, Permit2 settle (nonce word already used):     %6d gas (%.0f%%)", uptoWarm, pct(uptoWarm))
	t.Logf("exact, settleWithPermit (EIP-2612, no allowance):   %6d gas (%.0f%%)", exactWithPermit, pct(exactWithPermit))
	t.Logf("upto, settleWithPermit 600 of 1000:                 %6d gas (%.0f%%)", uptoWithPermit, pct(uptoWithPermit))
	t.Logf("exact, Permit2 settle from an EIP-1271 wallet:      %6d gas (%.0f%%)", walletGas, pct(walletGas))
	t.Logf("one-time approve(Permit2, max) by the payer:        %6d gas", approve)

	for _, c := range []struct {
		name     string
		gas, max uint64
	}{
		{"exact Permit2 settle", exactGas, maxExactPermit2Gas},
		{"exact Permit2 settle from a wallet", walletGas, maxSettleWithPermit2612G},
		{"upto Permit2 settle", uptoGas, maxUptoPermit2Gas},
		{"exact settleWithPermit", exactWithPermit, maxSettleWithPermit2612G},
		{"upto settleWithPermit", uptoWithPermit, maxSettleWithPermit2612G},
	} {
		if c.gas > c.max {
			t.Errorf("%s used %d gas, above the %d ceiling", c.name, c.gas, c.max)
		}
	}
	// A fresh bitmap word costs a zero-to-non-zero SSTORE that a used word
	// does not.
	if exactWarm >= exactGas || uptoWarm >= uptoGas {
		t.Errorf("settling in a used nonce word (%d, %d) is not cheaper than in a fresh one (%d, %d)", exactWarm, uptoWarm, exactGas, uptoGas)
	}
}
