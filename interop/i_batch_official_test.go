package interop

import (
	"fmt"
	"math/big"
	"testing"
)

// TestOfficialBatchTrioOnGoDevnet: the official batch-settlement client,
// server and facilitator together on go402's devnet, so go402's contracts
// at the canonical addresses are what the official packages expect: one
// deposit, vouchers, claim + settle to the payee.
func TestOfficialBatchTrioOnGoDevnet(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	srv := w.officialBatchServer(w.officialBatchFacilitator(), t.TempDir())
	const n = 10
	before, escrow := w.balance(w.addr(acctPayee)), w.escrowBalance()
	r := w.batchClient(acctNodePayer, srv.url("/paid"), t.TempDir(), n, nil)
	r.checkAllPaid(t, n, 0)
	if r.Deposits != 1 || r.Vouchers != n-1 {
		t.Fatalf("client sent %d deposits and %d vouchers, want 1 and %d", r.Deposits, r.Vouchers, n-1)
	}
	if d := new(big.Int).Sub(w.escrowBalance(), escrow); d.Int64() != batchDeposit {
		t.Fatalf("escrow rose by %s, want one deposit of %d", d, batchDeposit)
	}
	t.Logf("claim-settle: %s", w.claimSettle(srv))
	if g := w.payeeGain(before); g.Int64() != n*priceAtoms {
		t.Fatalf("payee gained %s, want %d", g, n*priceAtoms)
	}
	_, claimed := w.channelOnChain(r.channelID(t))
	if claimed.String() != fmt.Sprint(n*priceAtoms) {
		t.Fatalf("totalClaimed %s, want %d", claimed, n*priceAtoms)
	}
}
