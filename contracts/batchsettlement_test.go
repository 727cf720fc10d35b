package contracts

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/crypto"
)

// The x402 reference contract's interface: every function (with its
// outputs), event and custom error a client, server or facilitator may use.
var (
	batchSettlementFunctions = map[string]string{
		"deposit((address,address,address,address,address,uint40,bytes32),uint128,address,bytes)":                        "",
		"claim((((address,address,address,address,address,uint40,bytes32),uint128),bytes,uint128)[])":                    "",
		"claimWithSignature((((address,address,address,address,address,uint40,bytes32),uint128),bytes,uint128)[],bytes)": "",
		"settle(address,address)": "",
		"initiateWithdraw((address,address,address,address,address,uint40,bytes32),uint128)":                        "",
		"finalizeWithdraw((address,address,address,address,address,uint40,bytes32))":                                "",
		"refund((address,address,address,address,address,uint40,bytes32),uint128)":                                  "",
		"refundWithSignature((address,address,address,address,address,uint40,bytes32),uint128,uint256,bytes)":       "",
		"getChannelId((address,address,address,address,address,uint40,bytes32))":                                    "bytes32",
		"getVoucherDigest(bytes32,uint128)":                                                                         "bytes32",
		"getRefundDigest(bytes32,uint256,uint128)":                                                                  "bytes32",
		"getClaimBatchDigest((((address,address,address,address,address,uint40,bytes32),uint128),bytes,uint128)[])": "bytes32",
		"channels(bytes32)":           "balance:uint128,totalClaimed:uint128",
		"pendingWithdrawals(bytes32)": "amount:uint128,initiatedAt:uint40",
		"receivers(address,address)":  "totalClaimed:uint128,totalSettled:uint128",
		"refundNonce(bytes32)":        "uint256",
		"multicall(bytes[])":          "results:bytes[]",
		"eip712Domain()":              "fields:bytes1,name:string,version:string,chainId:uint256,verifyingContract:address,salt:bytes32,extensions:uint256[]",
		"MIN_WITHDRAW_DELAY()":        "uint40",
		"MAX_WITHDRAW_DELAY()":        "uint40",
		"CHANNEL_CONFIG_TYPEHASH()":   "bytes32",
		"VOUCHER_TYPEHASH()":          "bytes32",
		"REFUND_TYPEHASH()":           "bytes32",
		"CLAIM_ENTRY_TYPEHASH()":      "bytes32",
		"CLAIM_BATCH_TYPEHASH()":      "bytes32",
	}
	batchSettlementEvents = []string{
		"ChannelCreated(bytes32,(address,address,address,address,address,uint40,bytes32))",
		"ChannelClosed(bytes32,(address,address,address,address,address,uint40,bytes32))",
		"Deposited(bytes32,address,uint128,uint128)",
		"Claimed(bytes32,address,uint128,uint128)",
		"Settled(address,address,address,uint128)",
		"Refunded(bytes32,address,uint128)",
		"WithdrawInitiated(bytes32,uint128,uint40)",
		"WithdrawFinalized(bytes32,address,uint128)",
	}
	batchSettlementErrors = []string{
		"InvalidChannel", "ZeroDeposit", "DepositOverflow", "InvalidSignature", "NotReceiverAuthorizer",
		"NotAuthorizedToClaim", "NotAuthorizedToRefund", "ClaimExceedsCeiling", "ClaimExceedsBalance",
		"WithdrawalAlreadyPending", "WithdrawalNotPending", "NotAuthorizedToFinalizeWithdraw",
		"WithdrawDelayNotElapsed", "NothingToWithdraw", "WithdrawAmountExceedsAvailable",
		"WithdrawDelayOutOfRange", "EmptyBatch", "DepositCollectionFailed", "InvalidCollector",
		"InvalidRefundNonce", "ZeroRefund",
	}
)

func TestEmbeddedBatchSettlement(t *testing.T) {
	code := BatchSettlementRuntimeBytecode()
	if len(code) < 1000 || len(code) > 24576 {
		t.Fatalf("runtime bytecode is %d bytes", len(code))
	}
	if !bytes.HasPrefix(code, []byte{0x60, 0x80, 0x60, 0x40, 0x52}) {
		t.Errorf("runtime bytecode starts with %x, not the free memory pointer set-up", code[:5])
	}
	code[0] ^= 0xff
	if BatchSettlementRuntimeBytecode()[0] == code[0] {
		t.Fatal("BatchSettlementRuntimeBytecode returned shared memory")
	}

	a := BatchSettlementParsedABI()
	for sig, outputs := range batchSettlementFunctions {
		m, err := a.MethodById(crypto.Keccak256([]byte(sig))[:4])
		if err != nil {
			t.Errorf("ABI lacks %s: %v", sig, err)
			continue
		}
		if got := outputsOf(m); got != outputs {
			t.Errorf("%s outputs (%s), want (%s)", sig, got, outputs)
		}
	}
	if n := len(a.Methods); n != len(batchSettlementFunctions) {
		t.Errorf("ABI has %d functions, want the reference's %d", n, len(batchSettlementFunctions))
	}
	for _, sig := range batchSettlementEvents {
		if _, err := a.EventByID(crypto.Keccak256Hash([]byte(sig))); err != nil {
			t.Errorf("ABI lacks event %s: %v", sig, err)
		}
	}
	for _, name := range batchSettlementErrors {
		e, ok := a.Errors[name]
		if !ok || len(e.Inputs) != 0 {
			t.Errorf("ABI lacks error %s() (found %v)", name, ok)
		}
	}
}

func TestEmbeddedERC3009DepositCollector(t *testing.T) {
	code := ERC3009DepositCollectorRuntimeBytecode()
	if !bytes.HasPrefix(code, []byte{0x60, 0x80, 0x60, 0x40, 0x52}) {
		t.Errorf("runtime bytecode starts with %x", code[:5])
	}
	// The settlement contract it serves is a constant in the code.
	settlement := []byte{0x40, 0x20, 0x07, 0x4e, 0x9d, 0xf2, 0xce, 0x1d, 0xee, 0x5a, 0x9c, 0x1b, 0x5c, 0x3f, 0x54, 0x1d, 0x02, 0xa1, 0x00, 0x03}
	if !bytes.Contains(code, append([]byte{0x73}, settlement...)) {
		t.Error("runtime bytecode does not PUSH20 the canonical x402BatchSettlement address")
	}
	a := ERC3009DepositCollectorParsedABI()
	for sig, outputs := range map[string]string{
		"collect(address,address,uint256,bytes32,bytes)": "",
		"x402BatchSettlement()":                          "address",
	} {
		m, err := a.MethodById(crypto.Keccak256([]byte(sig))[:4])
		if err != nil {
			t.Errorf("ABI lacks %s: %v", sig, err)
			continue
		}
		if got := outputsOf(m); got != outputs {
			t.Errorf("%s outputs (%s), want (%s)", sig, got, outputs)
		}
	}
	if _, ok := a.Errors["OnlyX402BatchSettlement"]; !ok {
		t.Error("ABI lacks error OnlyX402BatchSettlement")
	}
}

// outputsOf renders a method's outputs as name:type (type alone when
// unnamed), comma-separated.
func outputsOf(m *abi.Method) string {
	var outs []string
	for _, o := range m.Outputs {
		if o.Name == "" {
			outs = append(outs, o.Type.String())
		} else {
			outs = append(outs, o.Name+":"+o.Type.String())
		}
	}
	return strings.Join(outs, ",")
}
