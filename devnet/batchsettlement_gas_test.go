package devnet_test

import (
	"math/big"
	"testing"
)

// exactSettleGas is the gas of one exact-scheme settlement on the devnet
// (transferWithAuthorization), the per-call cost batch settlement is
// measured against.
const exactSettleGas = 68_574

// TestBatchSettlementGas measures the gas of a deposit, of claimWithSignature
// for 1, 10 and 100 channels, and of settle, and logs what a call costs
// when a channel carries 100 calls. Run with -v to see the figures.
func TestBatchSettlementGas(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	pk := e.payer.PrivateKey
	const channels = 111 // one for the single claim, 10, then 100

	// The very first deposit into the escrow also pays for its token
	// balance going from zero; on a live network the escrow holds funds.
	veryFirst := e.send(e.relayer, e.depositCall(e.config(200), pk, 1_000_000, 200)).GasUsed
	// A new channel's first deposit and a top-up, alone in their
	// transactions.
	first := e.config(0)
	deposit := e.send(e.relayer, e.depositCall(first, pk, 1_000_000, 0)).GasUsed
	topUp := e.send(e.relayer, e.depositCall(first, pk, 1_000_000, 1)).GasUsed

	// The other channels, opened through multicall in a few transactions.
	configs := []channelConfig{first}
	var calls [][]byte
	for i := 1; i < channels; i++ {
		c := e.config(byte(i))
		configs = append(configs, c)
		calls = append(calls, e.depositCall(c, pk, 1_000_000, int64(i)))
	}
	var multicallGas uint64
	for len(calls) > 0 {
		n := min(len(calls), 40)
		r := e.send(e.relayer, e.pack("multicall", calls[:n]))
		if got := len(events(r, "ChannelCreated")); got != n {
			t.Fatalf("multicall of %d deposits created %d channels", n, got)
		}
		multicallGas += r.GasUsed
		calls = calls[n:]
	}

	// claimBatch claims cumulative totals on configs with the authorizer's
	// signature, relayed.
	claimBatch := func(cs []channelConfig, total int64) uint64 {
		batch := make([]voucherClaim, len(cs))
		for i, c := range cs {
			batch[i] = e.claimOf(c, pk, total, total)
		}
		sig := sign(t, e.authorizer.PrivateKey, e.claimBatchDigest(batch))
		r := e.send(e.relayer, e.pack("claimWithSignature", batch, sig))
		if got := len(events(r, "Claimed")); got != len(cs) {
			t.Fatalf("%d Claimed events, want %d", got, len(cs))
		}
		return r.GasUsed
	}
	// The receiver's per-token totals exist from an earlier claim and
	// settlement, as for a receiver in business.
	claimBatch(configs[:1], 1_000)
	e.send(e.relayer, e.pack("settle", e.receiver.Address, e.d.Token().Address))

	claim1 := claimBatch(configs[:1], 100_000) // 100 calls of 0.001 USDC
	claim10 := claimBatch(configs[1:11], 100_000)
	claim100 := claimBatch(configs[11:111], 100_000)
	settle := e.send(e.relayer, e.pack("settle", e.receiver.Address, e.d.Token().Address)).GasUsed
	if got := e.view("receivers", e.receiver.Address, e.d.Token().Address)[1].(*big.Int).Int64(); got != 111*100_000 {
		t.Fatalf("receiver settled %d, want %d", got, 111*100_000)
	}
	// The receiver authorizer claiming one channel directly and settling,
	// in one transaction through multicall.
	r := e.send(e.authorizer, e.pack("multicall", [][]byte{
		e.pack("claim", []voucherClaim{e.claimOf(first, pk, 200_000, 200_000)}),
		e.pack("settle", e.receiver.Address, e.d.Token().Address),
	}))
	if len(events(r, "Claimed")) != 1 || len(events(r, "Settled")) != 1 {
		t.Fatalf("multicall(claim, settle) emitted %d Claimed and %d Settled", len(events(r, "Claimed")), len(events(r, "Settled")))
	}
	claimSettle := r.GasUsed

	t.Logf("deposit into an empty escrow: %d gas; a new channel's first deposit (ERC-3009 collector): %d gas; top-up: %d gas; in multicall: %d gas per deposit",
		veryFirst, deposit, topUp, multicallGas/uint64(channels-1))
	t.Logf("claimWithSignature: 1 channel %d gas; 10 channels %d gas (%d per channel); 100 channels %d gas (%d per channel)",
		claim1, claim10, claim10/10, claim100, claim100/100)
	t.Logf("settle: %d gas; multicall(claim 1 channel, settle) by the receiver authorizer: %d gas", settle, claimSettle)
	perCall := func(label string, total float64) {
		t.Logf("100 calls on one channel, %s: %.0f gas per call = %.2f%% of exact's %d", label, total/100, 100*total/100/exactSettleGas, exactSettleGas)
	}
	perCall("deposit + claim alone + settle alone", float64(deposit+claim1+settle))
	perCall("deposit + multicall(claim, settle)", float64(deposit+claimSettle))
	perCall("deposit + its share of a 100-channel claim + settle alone", float64(deposit)+float64(claim100)/100+float64(settle))
	perCall("deposit + its share of a 100-channel claim and of its settle", float64(deposit)+float64(claim100)/100+float64(settle)/100)
}
