package devnet_test

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/evm"
)

func TestBatchSettlementGenesis(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	for _, c := range []struct {
		name string
		addr common.Address
		hex  string
		code []byte
	}{
		{"x402BatchSettlement", evm.BatchSettlementAddress(), "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003", contracts.BatchSettlementRuntimeBytecode()},
		{"ERC3009DepositCollector", evm.ERC3009DepositCollectorAddress(), "0x4020806089470a89826cB9fB1f4059150b550004", contracts.ERC3009DepositCollectorRuntimeBytecode()},
	} {
		if c.addr.Hex() != c.hex {
			t.Errorf("%s address %s, want the canonical %s", c.name, c.addr.Hex(), c.hex)
		}
		code, err := e.d.Client().CodeAt(t.Context(), c.addr, nil)
		if err != nil || !bytes.Equal(code, c.code) {
			t.Errorf("code at %s is %d bytes (%v), want the %d bytes of %s's runtime", c.addr, len(code), err, len(c.code), c.name)
		}
	}

	// The constants and the EIP-712 domain.
	for name, s := range map[string]string{
		"CHANNEL_CONFIG_TYPEHASH": "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)",
		"VOUCHER_TYPEHASH":        "Voucher(bytes32 channelId,uint128 maxClaimableAmount)",
		"REFUND_TYPEHASH":         "Refund(bytes32 channelId,uint256 nonce,uint128 amount)",
		"CLAIM_ENTRY_TYPEHASH":    "ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)",
		"CLAIM_BATCH_TYPEHASH":    "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)",
	} {
		if got := e.view(name)[0].([32]byte); got != crypto.Keccak256Hash([]byte(s)) {
			t.Errorf("%s = %x, want keccak256(%q)", name, got, s)
		}
	}
	if got := e.view("MIN_WITHDRAW_DELAY")[0].(*big.Int); got.Int64() != 900 {
		t.Errorf("MIN_WITHDRAW_DELAY = %v, want 900", got)
	}
	if got := e.view("MAX_WITHDRAW_DELAY")[0].(*big.Int); got.Int64() != 30*24*3600 {
		t.Errorf("MAX_WITHDRAW_DELAY = %v, want 30 days", got)
	}
	dom := e.view("eip712Domain")
	if dom[0].([1]byte) != [1]byte{0x0f} || dom[1] != "x402 Batch Settlement" || dom[2] != "1" ||
		dom[3].(*big.Int).Cmp(e.d.ChainID()) != 0 || dom[4] != evm.BatchSettlementAddress() ||
		dom[5].([32]byte) != [32]byte{} || len(dom[6].([]*big.Int)) != 0 {
		t.Errorf("eip712Domain() = %v", dom)
	}

	// The collector serves the canonical settlement contract.
	to := evm.ERC3009DepositCollectorAddress()
	data, _ := collectorABI.Pack("x402BatchSettlement")
	out, err := e.d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil || common.BytesToAddress(out) != evm.BatchSettlementAddress() {
		t.Errorf("collector.x402BatchSettlement() = %x (%v), want %s", out, err, evm.BatchSettlementAddress())
	}
}

// TestBatchSettlementDeposit opens a channel through the ERC-3009 collector,
// tops it up, and checks events, channel state, token movements and that
// the authorization cannot be replayed.
func TestBatchSettlementDeposit(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	c := e.config(1)
	id := e.channelID(c)
	if got := e.view("getChannelId", c)[0].([32]byte); got != id {
		t.Fatalf("getChannelId = %x, want the EIP-712 hash %x", got, id)
	}
	escrow, payer := e.tokenBalance(evm.BatchSettlementAddress()), e.tokenBalance(e.payer.Address)

	r := e.send(e.relayer, e.depositCall(c, e.payer.PrivateKey, 1_000_000, 7))
	t.Logf("deposit (first, through ERC3009DepositCollector): %d gas", r.GasUsed)
	e.wantConfigEvent(r, "ChannelCreated", c)
	wantDeposited(t, r, id, e.relayer.Address, 1_000_000, 1_000_000)
	if b, claimed := e.channel(id); b != 1_000_000 || claimed != 0 {
		t.Errorf("channels = (%d, %d), want (1000000, 0)", b, claimed)
	}
	if got := e.tokenBalance(evm.BatchSettlementAddress()) - escrow; got != 1_000_000 {
		t.Errorf("escrow received %d, want 1000000", got)
	}
	if got := payer - e.tokenBalance(e.payer.Address); got != 1_000_000 {
		t.Errorf("payer paid %d, want 1000000", got)
	}
	if got := e.tokenBalance(evm.ERC3009DepositCollectorAddress()); got != 0 {
		t.Errorf("collector keeps %d, want 0", got)
	}

	// The same authorization again: the token refuses the used nonce.
	e.wantRevert(e.relayer, e.depositCall(c, e.payer.PrivateKey, 1_000_000, 7), "AuthorizationAlreadyUsed(address,bytes32)")

	// A top-up (new salt) adds to the balance without ChannelCreated.
	r = e.send(e.payer, e.depositCall(c, e.payer.PrivateKey, 250_000, 8))
	t.Logf("deposit (top-up): %d gas", r.GasUsed)
	if n := len(events(r, "ChannelCreated")); n != 0 {
		t.Errorf("top-up emitted %d ChannelCreated, want 0", n)
	}
	wantDeposited(t, r, id, e.payer.Address, 250_000, 1_250_000)
	if b, _ := e.channel(id); b != 1_250_000 {
		t.Errorf("balance after top-up %d, want 1250000", b)
	}
}

// wantConfigEvent requires one ChannelCreated or ChannelClosed event for
// config c in r.
func (e *bsEnv) wantConfigEvent(r *types.Receipt, name string, c channelConfig) {
	e.t.Helper()
	l, _ := oneEvent(e.t, r, name)
	if id := e.channelID(c); l.Topics[1] != id {
		e.t.Errorf("%s channelId %x, want %x", name, l.Topics[1], id)
	}
	// The config is the event's only data: its static tuple encoding.
	if want, _ := bsABI.Methods["getChannelId"].Inputs.Pack(c); !bytes.Equal(l.Data, want) {
		e.t.Errorf("%s config %x, want %x", name, l.Data, want)
	}
}

// wantDeposited requires one Deposited event with these fields in r.
func wantDeposited(t *testing.T, r *types.Receipt, id [32]byte, sender common.Address, amount, newBalance int64) {
	t.Helper()
	l, vals := oneEvent(t, r, "Deposited")
	if l.Topics[1] != id || l.Topics[2] != common.BytesToHash(sender.Bytes()) ||
		vals[0].(*big.Int).Int64() != amount || vals[1].(*big.Int).Int64() != newBalance {
		t.Errorf("Deposited(%x, %x, %v, %v), want (%x, %s, %d, %d)", l.Topics[1], l.Topics[2], vals[0], vals[1], id, sender, amount, newBalance)
	}
}
