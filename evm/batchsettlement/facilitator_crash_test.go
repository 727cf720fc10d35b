package batchsettlement_test

import (
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	bs "github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

// TestFacilitatorDepositCrash: a facilitator crashed between broadcast and
// receipt of one deposit, and after recording the hash of another it never
// sent. Restarted on the same ledger under the same name, it reconciles
// both from the chain: the first is answered with its transaction and not
// deposited again, the second is settled anew.
func TestFacilitatorDepositCrash(t *testing.T) {
	f := newFixture(t, false)
	ra := f.serverRA.Address()
	req := f.requirements(ra, 10)
	sent := f.request(f.deposit(f.channel(ra), 700, 10), req)
	unsent := f.request(f.deposit(f.channel(ra), 300, 10), req)

	scheme, err := bs.NewFacilitator(f.ctx, bs.FacilitatorConfig{Network: req.Network, Backend: f.client})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	store, err := sqlite.Open(f.ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	const instance = "crashed-facilitator"
	crashed := func(r *x402.FacilitatorRequest, tx string) {
		t.Helper()
		p, err := r.Payment()
		if err != nil {
			t.Fatal(err)
		}
		key, fp, err := scheme.Identify(p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(r)
		if _, ok, err := store.Claim(f.ctx, &ledger.Settlement{Key: key, Fingerprint: fp, Request: body, Scheme: bs.Scheme, Version: 2, Owner: instance}); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if err := store.Update(f.ctx, key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: tx}); err != nil {
			t.Fatal(err)
		}
	}
	// The deposit went out (from another key, as any relayer could) and
	// was mined; the facilitator died before recording the receipt.
	tx := f.sendDeposit(sent, 5)
	crashed(sent, tx.Hex())
	crashed(unsent, common.HexToHash("0xdead").Hex())
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	svc := stacktest.FacilitatorOn(t, f.st.Devnet, f.st.Signer, stacktest.Options{SQLitePath: path, Instance: instance})
	fac, err := remote.New(remote.Config{URL: httpURL(t, svc)})
	if err != nil {
		t.Fatal(err)
	}
	escrow := f.balanceOf(bs.SettlementContract())
	s, err := fac.Settle(f.ctx, sent)
	if err != nil || !s.Success || s.Transaction != tx.Hex() || !amountIs(s.Amount, 700) {
		t.Fatalf("settle of the reconciled deposit: %+v %v (sent %s)", s, err, tx.Hex())
	}
	if got := f.balanceOf(bs.SettlementContract()); got.Cmp(escrow) != 0 {
		t.Fatalf("deposited again: escrow %s → %s", escrow, got)
	}
	s, err = fac.Settle(f.ctx, unsent)
	if err != nil || !s.Success || s.Transaction == common.HexToHash("0xdead").Hex() {
		t.Fatalf("settle of the released deposit: %+v %v", s, err)
	}
	if d := new(big.Int).Sub(f.balanceOf(bs.SettlementContract()), escrow); d.Int64() != 300 {
		t.Fatalf("escrow got %s, want 300", d)
	}
}

// sendDeposit sends a deposit payload's transaction from devnet account
// i, outside any facilitator, and waits until it is mined.
func (f *fixture) sendDeposit(r *x402.FacilitatorRequest, i int) common.Hash {
	f.t.Helper()
	p, err := r.Payment()
	if err != nil {
		f.t.Fatal(err)
	}
	pl, err := bs.Decode(p)
	if err != nil {
		f.t.Fatal(err)
	}
	data, err := bs.EncodeDeposit(pl.(*bs.DepositPayload))
	if err != nil {
		f.t.Fatal(err)
	}
	sender, err := evm.NewSender(f.ctx, evm.SenderConfig{Backend: f.client, Key: f.st.Accounts[i].PrivateKey, PollInterval: 20 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	tx, err := sender.Send(f.ctx, bs.SettlementContract(), data)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := sender.WaitReceipt(f.ctx, tx.Hash()); err != nil {
		f.t.Fatal(err)
	}
	return tx.Hash()
}

// httpURL serves svc over HTTP on loopback until the test ends.
func httpURL(t *testing.T, svc *service.Service) string {
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
