package devnet_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/go402/go402/evm"
)

// wantClaimed requires the Claimed events of r, in order, to carry these
// (claimAmount, newTotalClaimed) pairs, all sent by sender.
func wantClaimed(t *testing.T, r *types.Receipt, sender common.Address, pairs ...[2]int64) {
	t.Helper()
	ls := events(r, "Claimed")
	if len(ls) != len(pairs) {
		t.Fatalf("%d Claimed events, want %d", len(ls), len(pairs))
	}
	for i, l := range ls {
		vals, err := bsABI.Unpack("Claimed", l.Data)
		if err != nil {
			t.Fatal(err)
		}
		if l.Topics[2] != common.BytesToHash(sender.Bytes()) ||
			vals[0].(*big.Int).Int64() != pairs[i][0] || vals[1].(*big.Int).Int64() != pairs[i][1] {
			t.Errorf("Claimed #%d = (%x, %v, %v), want (%s, %d, %d)", i, l.Topics[2], vals[0], vals[1], sender, pairs[i][0], pairs[i][1])
		}
	}
}

// TestBatchSettlementClaimAndSettle claims vouchers by the receiver and by a
// relayer with the receiver authorizer's ClaimBatch signature, replays them,
// and settles to the receiver.
func TestBatchSettlementClaimAndSettle(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	c1, c2 := e.config(1), e.config(2)
	c2.PayerAuthorizer = e.relayer.Address // vouchers of c2 are signed by a delegate
	id1, id2 := e.channelID(c1), e.channelID(c2)
	e.send(e.payer, e.depositCall(c1, e.payer.PrivateKey, 1000, 1))
	e.send(e.payer, e.depositCall(c2, e.payer.PrivateKey, 1000, 2))

	// The receiver claims directly.
	r := e.send(e.receiver, e.pack("claim", []voucherClaim{e.claimOf(c1, e.payer.PrivateKey, 300, 300)}))
	wantClaimed(t, r, e.receiver.Address, [2]int64{300, 300})

	// A relayer claims both channels with the authorizer's batch signature;
	// the digest matches the contract's getClaimBatchDigest.
	batch := []voucherClaim{
		e.claimOf(c1, e.payer.PrivateKey, 500, 450),
		e.claimOf(c2, e.relayer.PrivateKey, 200, 200),
	}
	digest := e.claimBatchDigest(batch)
	if got := e.view("getClaimBatchDigest", batch)[0].([32]byte); got != digest {
		t.Fatalf("getClaimBatchDigest = %x, want the EIP-712 hash %x", got, digest)
	}
	if got := e.view("getVoucherDigest", id1, big.NewInt(500))[0].([32]byte); got != e.voucherDigest(id1, big.NewInt(500)) {
		t.Fatalf("getVoucherDigest = %x, want the EIP-712 hash", got)
	}
	r = e.send(e.relayer, e.pack("claimWithSignature", batch, sign(t, e.authorizer.PrivateKey, digest)))
	wantClaimed(t, r, e.relayer.Address, [2]int64{150, 450}, [2]int64{200, 200})
	if b, cl := e.channel(id1); b != 1000 || cl != 450 {
		t.Errorf("channel 1 = (%d, %d), want (1000, 450)", b, cl)
	}
	if b, cl := e.channel(id2); b != 1000 || cl != 200 {
		t.Errorf("channel 2 = (%d, %d), want (1000, 200)", b, cl)
	}

	// Replays, and claims at or below the recorded total, change nothing
	// and are not even signature-checked.
	r = e.send(e.relayer, e.pack("claimWithSignature", batch, sign(t, e.authorizer.PrivateKey, digest)))
	wantClaimed(t, r, e.relayer.Address)
	stale := e.claimOf(c1, e.payer.PrivateKey, 500, 100)
	stale.Signature = []byte{1}
	r = e.send(e.receiver, e.pack("claim", []voucherClaim{stale}))
	wantClaimed(t, r, e.receiver.Address)

	recv := e.view("receivers", e.receiver.Address, e.d.Token().Address)
	if recv[0].(*big.Int).Int64() != 650 || recv[1].(*big.Int).Int64() != 0 {
		t.Errorf("receivers = %v, want (650, 0)", recv)
	}

	// Anybody may settle; the receiver is paid what was claimed.
	before := e.tokenBalance(e.receiver.Address)
	r = e.send(e.relayer, e.pack("settle", e.receiver.Address, e.d.Token().Address))
	l, vals := oneEvent(t, r, "Settled")
	if l.Topics[1] != common.BytesToHash(e.receiver.Address.Bytes()) || l.Topics[2] != common.BytesToHash(e.d.Token().Address.Bytes()) ||
		l.Topics[3] != common.BytesToHash(e.relayer.Address.Bytes()) || vals[0].(*big.Int).Int64() != 650 {
		t.Errorf("Settled topics %v amount %v", l.Topics, vals[0])
	}
	if got := e.tokenBalance(e.receiver.Address) - before; got != 650 {
		t.Errorf("receiver got %d, want 650", got)
	}
	// Nothing more is due: settling again does nothing.
	r = e.send(e.relayer, e.pack("settle", e.receiver.Address, e.d.Token().Address))
	if len(r.Logs) != 0 {
		t.Errorf("second settle emitted %d logs, want 0", len(r.Logs))
	}
	if b, cl := e.channel(id1); b != 1000 || cl != 450 {
		t.Errorf("settle changed channel 1 to (%d, %d)", b, cl)
	}
}

// TestBatchSettlementERC1271Payer opens a channel for a contract-wallet
// payer (no payer authorizer) and claims a voucher the wallet approves
// through ERC-1271.
func TestBatchSettlementERC1271Payer(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	wallet := deployWallet(t, e.d, e.relayer.PrivateKey, true) // accepts every signature
	if err := e.d.Mint(t.Context(), wallet, big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	c := e.config(1)
	c.Payer = wallet
	e.send(e.relayer, e.depositCallSigned(c, 1000, 1, func(authorization) []byte { return []byte("wallet-approved") }))
	cl := voucherClaim{
		Voucher:      voucher{Channel: c, MaxClaimableAmount: big.NewInt(100)},
		Signature:    []byte("wallet-approved"),
		TotalClaimed: big.NewInt(100),
	}
	r := e.send(e.receiver, e.pack("claim", []voucherClaim{cl}))
	wantClaimed(t, r, e.receiver.Address, [2]int64{100, 100})
}

// TestBatchSettlementWithdraw runs a timed withdrawal: too early, a claim
// during the delay that wins, then finalisation after AdvanceTime.
func TestBatchSettlementWithdraw(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	c := e.config(1)
	id := e.channelID(c)
	e.send(e.payer, e.depositCall(c, e.payer.PrivateKey, 1000, 1))
	e.send(e.receiver, e.pack("claim", []voucherClaim{e.claimOf(c, e.payer.PrivateKey, 100, 100)}))

	e.wantRevert(e.payer, e.pack("initiateWithdraw", c, big.NewInt(901)), "WithdrawAmountExceedsAvailable()")
	r := e.send(e.payer, e.pack("initiateWithdraw", c, big.NewInt(900)))
	l, vals := oneEvent(t, r, "WithdrawInitiated")
	head := e.headTime()
	if l.Topics[1] != id || vals[0].(*big.Int).Int64() != 900 || vals[1].(*big.Int).Int64() != head+900 {
		t.Errorf("WithdrawInitiated(%x, %v, %v), want (%x, 900, %d)", l.Topics[1], vals[0], vals[1], id, head+900)
	}
	pw := e.view("pendingWithdrawals", id)
	if pw[0].(*big.Int).Int64() != 900 || pw[1].(*big.Int).Int64() != head {
		t.Errorf("pendingWithdrawals = %v, want (900, %d)", pw, head)
	}
	e.wantRevert(e.payer, e.pack("initiateWithdraw", c, big.NewInt(1)), "WithdrawalAlreadyPending()")
	e.wantRevert(e.payer, e.pack("finalizeWithdraw", c), "WithdrawDelayNotElapsed()")

	// The receiver claims during the delay (the payer's vouchers reach 400).
	e.send(e.receiver, e.pack("claim", []voucherClaim{e.claimOf(c, e.payer.PrivateKey, 400, 400)}))

	// Two seconds short of the delay (the call may run in the next block,
	// a second later): still too early.
	if err := e.d.AdvanceTime(time.Duration(head+898-e.headTime()) * time.Second); err != nil {
		t.Fatal(err)
	}
	e.wantRevert(e.payer, e.pack("finalizeWithdraw", c), "WithdrawDelayNotElapsed()")
	if err := e.d.AdvanceTime(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := e.tokenBalance(e.payer.Address)
	r = e.send(e.payer, e.pack("finalizeWithdraw", c))
	l, vals = oneEvent(t, r, "WithdrawFinalized")
	// 900 requested, but only 1000 - 400 is unclaimed.
	if l.Topics[1] != id || l.Topics[2] != common.BytesToHash(e.payer.Address.Bytes()) || vals[0].(*big.Int).Int64() != 600 {
		t.Errorf("WithdrawFinalized(%x, %x, %v), want 600 to the payer", l.Topics[1], l.Topics[2], vals[0])
	}
	if got := e.tokenBalance(e.payer.Address) - before; got != 600 {
		t.Errorf("payer got %d, want 600", got)
	}
	if n := len(events(r, "ChannelClosed")); n != 0 {
		t.Errorf("ChannelClosed emitted with claims recorded")
	}
	if b, cl := e.channel(id); b != 400 || cl != 400 {
		t.Errorf("channel = (%d, %d), want (400, 400)", b, cl)
	}
	if pw := e.view("pendingWithdrawals", id); pw[1].(*big.Int).Sign() != 0 {
		t.Errorf("withdrawal still pending: %v", pw)
	}
	e.wantRevert(e.payer, e.pack("finalizeWithdraw", c), "WithdrawalNotPending()")
	// The claimed 400 is still the receiver's.
	e.send(e.receiver, e.pack("settle", e.receiver.Address, e.d.Token().Address))
	if got := e.tokenBalance(evm.BatchSettlementAddress()); got != 0 {
		t.Errorf("escrow holds %d after withdraw and settle, want 0", got)
	}

	// A channel withdrawn in full, with nothing claimed, closes; the payer
	// authorizer may act for the payer.
	c2 := e.config(2)
	c2.PayerAuthorizer = e.relayer.Address
	e.send(e.payer, e.depositCall(c2, e.payer.PrivateKey, 500, 2))
	e.send(e.relayer, e.pack("initiateWithdraw", c2, big.NewInt(500)))
	if err := e.d.AdvanceTime(900 * time.Second); err != nil {
		t.Fatal(err)
	}
	r = e.send(e.relayer, e.pack("finalizeWithdraw", c2))
	e.wantConfigEvent(r, "ChannelClosed", c2)
	if b, _ := e.channel(e.channelID(c2)); b != 0 {
		t.Errorf("closed channel balance %d", b)
	}
}

// TestBatchSettlementRefund refunds cooperatively, directly and with the
// receiver authorizer's signature, and checks the refund nonce.
func TestBatchSettlementRefund(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	c := e.config(1)
	id := e.channelID(c)
	e.send(e.payer, e.depositCall(c, e.payer.PrivateKey, 1000, 1))
	e.send(e.receiver, e.pack("claim", []voucherClaim{e.claimOf(c, e.payer.PrivateKey, 300, 300)}))
	e.send(e.payer, e.pack("initiateWithdraw", c, big.NewInt(500)))
	nonce := func() int64 { return e.view("refundNonce", id)[0].(*big.Int).Int64() }

	// Direct refund by the receiver: 200 back, the pending withdrawal
	// shrinks to 300.
	before := e.tokenBalance(e.payer.Address)
	r := e.send(e.receiver, e.pack("refund", c, big.NewInt(200)))
	l, vals := oneEvent(t, r, "Refunded")
	if l.Topics[1] != id || l.Topics[2] != common.BytesToHash(e.receiver.Address.Bytes()) || vals[0].(*big.Int).Int64() != 200 {
		t.Errorf("Refunded(%x, %x, %v), want 200 by the receiver", l.Topics[1], l.Topics[2], vals[0])
	}
	if got := e.tokenBalance(e.payer.Address) - before; got != 200 {
		t.Errorf("payer got %d, want 200", got)
	}
	if pw := e.view("pendingWithdrawals", id); pw[0].(*big.Int).Int64() != 300 || pw[1].(*big.Int).Sign() == 0 {
		t.Errorf("pendingWithdrawals = %v, want 300 still pending", pw)
	}
	if n := nonce(); n != 1 {
		t.Fatalf("refundNonce = %d, want 1", n)
	}

	// Signed refund relayed by anybody, capped at the unclaimed 500 (asked:
	// 10000); it clears the pending withdrawal and the channel keeps only
	// the claimed 300.
	digest := e.refundDigest(id, big.NewInt(1), big.NewInt(10_000))
	if got := e.view("getRefundDigest", id, big.NewInt(1), big.NewInt(10_000))[0].([32]byte); got != digest {
		t.Fatalf("getRefundDigest = %x, want the EIP-712 hash %x", got, digest)
	}
	sig := sign(t, e.authorizer.PrivateKey, digest)
	r = e.send(e.relayer, e.pack("refundWithSignature", c, big.NewInt(10_000), big.NewInt(1), sig))
	if _, vals := oneEvent(t, r, "Refunded"); vals[0].(*big.Int).Int64() != 500 {
		t.Errorf("Refunded %v, want 500", vals[0])
	}
	if pw := e.view("pendingWithdrawals", id); pw[1].(*big.Int).Sign() != 0 {
		t.Errorf("withdrawal still pending: %v", pw)
	}
	if b, cl := e.channel(id); b != 300 || cl != 300 {
		t.Errorf("channel = (%d, %d), want (300, 300)", b, cl)
	}
	// The same signature again: its nonce is spent.
	e.wantRevert(e.relayer, e.pack("refundWithSignature", c, big.NewInt(10_000), big.NewInt(1), sig), "InvalidRefundNonce()")

	// Nothing left to refund: the call succeeds, moves nothing, emits
	// nothing, and still advances the nonce.
	sig = sign(t, e.authorizer.PrivateKey, e.refundDigest(id, big.NewInt(2), big.NewInt(1)))
	r = e.send(e.relayer, e.pack("refundWithSignature", c, big.NewInt(1), big.NewInt(2), sig))
	if len(r.Logs) != 0 {
		t.Errorf("no-op refund emitted %d logs", len(r.Logs))
	}
	if n := nonce(); n != 3 {
		t.Errorf("refundNonce = %d after a no-op refund, want 3", n)
	}
	r = e.send(e.authorizer, e.pack("refund", c, big.NewInt(1)))
	if len(r.Logs) != 0 || nonce() != 4 {
		t.Errorf("no-op direct refund: %d logs, nonce %d, want 0 and 4", len(r.Logs), nonce())
	}

	// A full refund of a channel with no claims closes it.
	c2 := e.config(2)
	e.send(e.payer, e.depositCall(c2, e.payer.PrivateKey, 700, 2))
	r = e.send(e.authorizer, e.pack("refund", c2, big.NewInt(700)))
	e.wantConfigEvent(r, "ChannelClosed", c2)
}

// TestDevnetAdvanceTime moves the chain's clock and checks that blocks keep
// coming promptly afterwards.
func TestDevnetAdvanceTime(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	before := e.headTime()
	if err := e.d.AdvanceTime(3600 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := e.headTime(); got < before+3600 || got > before+3600+5 {
		t.Fatalf("head time %d after advancing 1h from %d", got, before)
	}
	began := time.Now()
	e.send(e.payer, e.depositCall(e.config(1), e.payer.PrivateKey, 1, 1))
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("a transaction after AdvanceTime took %v to mine", took)
	}
	if err := e.d.AdvanceTime(500 * time.Millisecond); err == nil {
		t.Error("AdvanceTime(500ms) succeeded, want an error (whole seconds only)")
	}
}
