package batchsettlement

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// samplePayloads returns one valid payload of each type, signed.
func samplePayloads(t testing.TB) map[string]Payload {
	t.Helper()
	payer := mustSigner(t, payerKey)
	cfg := xcheckConfig(payer.Address())
	id := ChannelID(cfg, 84532)
	vo := mustVoucher(t, payer, 84532, id, 1010)
	token := evm.Domain{Name: "USDC", Version: "2", ChainID: 84532, VerifyingContract: cfg.Token}
	dep, err := SignERC3009Deposit(context.Background(), payer, token, cfg, DepositTerms{Amount: x402.NewAmount(100000), ValidBefore: 1_900_000_000, Salt: common.HexToHash("0x0102")})
	if err != nil {
		t.Fatal(err)
	}
	amt, nonce := x402.NewAmount(5), x402.NewAmount(1)
	claim := VoucherClaim{Channel: cfg, MaxClaimableAmount: vo.MaxClaimableAmount, Signature: vo.Signature, TotalClaimed: vo.MaxClaimableAmount}
	return map[string]Payload{
		TypeVoucher: &VoucherPayload{ChannelConfig: cfg, Voucher: vo},
		TypeDeposit: &DepositPayload{ChannelConfig: cfg, Voucher: vo, Deposit: Deposit{Amount: x402.NewAmount(100000), Authorization: DepositAuthorization{ERC3009Authorization: dep}}},
		TypeRefund: &RefundPayload{ChannelConfig: cfg, Voucher: vo, Amount: &amt, RefundNonce: &nonce, Claims: []VoucherClaim{claim},
			RefundAuthorizerSignature: vo.Signature, ClaimAuthorizerSignature: vo.Signature},
		TypeClaim:  &ClaimPayload{Claims: []VoucherClaim{claim, claim}, ClaimAuthorizerSignature: vo.Signature},
		TypeSettle: &SettlePayload{Receiver: cfg.Receiver, Token: cfg.Token},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for typ, p := range samplePayloads(t) {
		t.Run(typ, func(t *testing.T) {
			o, err := Object(p)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := o.StringField("type"); got != typ {
				t.Fatalf("type %q in %s", got, o)
			}
			back, err := ParsePayload(o)
			if err != nil {
				t.Fatalf("%v\n%s", err, o)
			}
			if !reflect.DeepEqual(back, p) {
				t.Fatalf("round trip:\n got  %+v\n want %+v", back, p)
			}
		})
	}
	// A payer's minimal refund: no amount, no server fields.
	p := samplePayloads(t)[TypeRefund].(*RefundPayload)
	minimal := &RefundPayload{ChannelConfig: p.ChannelConfig, Voucher: p.Voucher}
	o, _ := Object(minimal)
	if strings.Contains(string(o), "amount\"") || strings.Contains(string(o), "claims") {
		t.Fatalf("minimal refund carries server fields: %s", o)
	}
	back, err := ParsePayload(o)
	if err != nil || back.(*RefundPayload).Completed() {
		t.Fatalf("minimal refund: %v %+v", err, back)
	}
}

// mutate returns the JSON of p with the value at path (dot-separated keys)
// replaced by v, or deleted when v is deleteKey.
func mutate(t *testing.T, p Payload, path string, v any) x402.Object {
	t.Helper()
	o, err := Object(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(o, &m); err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(path, ".")
	cur := m
	for _, k := range keys[:len(keys)-1] {
		switch next := cur[k].(type) {
		case map[string]any:
			cur = next
		case []any:
			cur = next[0].(map[string]any)
		default:
			t.Fatalf("path %s: %s is %T", path, k, cur[k])
		}
	}
	if v == deleteKey {
		delete(cur, keys[len(keys)-1])
	} else {
		cur[keys[len(keys)-1]] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return x402.Object(b)
}

type deleteMarker struct{}

var deleteKey any = deleteMarker{}

func TestParsePayloadErrors(t *testing.T) {
	ps := samplePayloads(t)
	longHex := "0x" + strings.Repeat("ab", 33)
	tests := []struct {
		name string
		typ  string
		path string
		v    any
		want x402.Reason
	}{
		{"unknown type", TypeVoucher, "type", "voucherz", x402.ReasonBatchPayloadType},
		{"type missing", TypeVoucher, "type", deleteKey, x402.ReasonBatchPayloadType},
		{"type a number", TypeVoucher, "type", 3, x402.ReasonBatchPayloadType},
		{"channelConfig missing", TypeVoucher, "channelConfig", deleteKey, x402.ReasonBatchVoucherPayload},
		{"channelConfig an array", TypeVoucher, "channelConfig", []int{1}, x402.ReasonBatchVoucherPayload},
		{"payer missing", TypeVoucher, "channelConfig.payer", deleteKey, x402.ReasonBatchVoucherPayload},
		{"payer short", TypeVoucher, "channelConfig.payer", "0x1234", x402.ReasonBatchVoucherPayload},
		{"payer without 0x", TypeVoucher, "channelConfig.payer", strings.Repeat("a", 40), x402.ReasonBatchVoucherPayload},
		{"token not hex", TypeVoucher, "channelConfig.token", "0x" + strings.Repeat("g", 40), x402.ReasonBatchVoucherPayload},
		{"withdrawDelay a string", TypeVoucher, "channelConfig.withdrawDelay", "900", x402.ReasonBatchVoucherPayload},
		{"withdrawDelay fractional", TypeVoucher, "channelConfig.withdrawDelay", 900.5, x402.ReasonBatchVoucherPayload},
		{"withdrawDelay negative", TypeVoucher, "channelConfig.withdrawDelay", -1, x402.ReasonBatchVoucherPayload},
		{"withdrawDelay above uint40", TypeVoucher, "channelConfig.withdrawDelay", float64(1 << 41), x402.ReasonBatchVoucherPayload},
		{"salt short", TypeVoucher, "channelConfig.salt", "0x01", x402.ReasonBatchVoucherPayload},
		{"voucher missing", TypeVoucher, "voucher", deleteKey, x402.ReasonBatchVoucherPayload},
		{"channelId malformed", TypeVoucher, "voucher.channelId", "0xabc", x402.ReasonBatchChannelIDInvalid},
		{"channelId too long", TypeVoucher, "voucher.channelId", longHex, x402.ReasonBatchChannelIDInvalid},
		{"amount a number", TypeVoucher, "voucher.maxClaimableAmount", 1010, x402.ReasonBatchVoucherPayload},
		{"amount negative", TypeVoucher, "voucher.maxClaimableAmount", "-1", x402.ReasonBatchVoucherPayload},
		{"amount hex", TypeVoucher, "voucher.maxClaimableAmount", "0x10", x402.ReasonBatchVoucherPayload},
		{"amount above uint128", TypeVoucher, "voucher.maxClaimableAmount", "340282366920938463463374607431768211456", x402.ReasonBatchVoucherPayload},
		{"signature missing", TypeVoucher, "voucher.signature", deleteKey, x402.ReasonBatchVoucherPayload},
		{"signature empty", TypeVoucher, "voucher.signature", "0x", x402.ReasonBatchVoucherPayload},
		{"signature odd", TypeVoucher, "voucher.signature", "0xabc", x402.ReasonBatchVoucherPayload},
		{"deposit missing", TypeDeposit, "deposit", deleteKey, x402.ReasonBatchDepositPayload},
		{"deposit amount zero", TypeDeposit, "deposit.amount", "0", x402.ReasonBatchDepositPayload},
		{"deposit amount a number", TypeDeposit, "deposit.amount", 5, x402.ReasonBatchDepositPayload},
		{"authorization missing", TypeDeposit, "deposit.authorization", deleteKey, x402.ReasonBatchDepositPayload},
		{"erc3009 missing", TypeDeposit, "deposit.authorization.erc3009Authorization", deleteKey, x402.ReasonBatchERC3009AuthorizationNeeded},
		{"permit2 instead", TypeDeposit, "deposit.authorization", map[string]any{"permit2Authorization": map[string]any{"nonce": "1"}}, x402.ReasonBatchERC3009AuthorizationNeeded},
		{"both authorizations", TypeDeposit, "deposit.authorization.permit2Authorization", map[string]any{"nonce": "1"}, x402.ReasonBatchDepositPayload},
		{"validBefore a number", TypeDeposit, "deposit.authorization.erc3009Authorization.validBefore", 1900000000, x402.ReasonBatchDepositPayload},
		{"deposit salt short", TypeDeposit, "deposit.authorization.erc3009Authorization.salt", "0x01", x402.ReasonBatchDepositPayload},
		{"refund amount zero", TypeRefund, "amount", "0", x402.ReasonBatchRefundAmountInvalid},
		{"refund amount not digits", TypeRefund, "amount", "1e3", x402.ReasonBatchRefundAmountInvalid},
		{"refund amount a number", TypeRefund, "amount", 5, x402.ReasonBatchRefundAmountInvalid},
		{"refund nonce negative", TypeRefund, "refundNonce", -1, x402.ReasonBatchRefundPayload},
		{"refund claims an object", TypeRefund, "claims", map[string]any{}, x402.ReasonBatchRefundPayload},
		{"refund signature not hex", TypeRefund, "refundAuthorizerSignature", "zz", x402.ReasonBatchRefundPayload},
		{"claims missing", TypeClaim, "claims", deleteKey, x402.ReasonBatchClaimPayload},
		{"claims empty", TypeClaim, "claims", []any{}, x402.ReasonBatchClaimPayload},
		{"claims null row", TypeClaim, "claims", []any{nil}, x402.ReasonBatchClaimPayload},
		{"claim channel missing", TypeClaim, "claims.voucher.channel", deleteKey, x402.ReasonBatchClaimPayload},
		{"claim totalClaimed missing", TypeClaim, "claims.totalClaimed", deleteKey, x402.ReasonBatchClaimPayload},
		{"claim amount above uint128", TypeClaim, "claims.voucher.maxClaimableAmount", "340282366920938463463374607431768211456", x402.ReasonBatchClaimPayload},
		{"settle receiver missing", TypeSettle, "receiver", deleteKey, x402.ReasonBatchSettlePayload},
		{"settle token bad", TypeSettle, "token", "0x12", x402.ReasonBatchSettlePayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := mutate(t, ps[tc.typ], tc.path, tc.v)
			p, err := ParsePayload(o)
			if err == nil {
				t.Fatalf("accepted %s as %+v", o, p)
			}
			if got := x402.ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}

func TestParsePayloadNotObjects(t *testing.T) {
	for _, raw := range []string{"", "null", "[]", `"x"`, "1", `{"type":"voucher"`, `{"type":"voucher","Type":"deposit"}`} {
		p, err := ParsePayload(x402.Object(raw))
		if err == nil || x402.ReasonOf(err) == "" {
			t.Errorf("%q: got %+v, %v; want a typed error", raw, p, err)
		}
	}
	// Keys differing only in case are refused at any depth.
	o := mutate(t, samplePayloads(t)[TypeVoucher], "voucher.ChannelId", "0x00")
	if _, err := ParsePayload(o); x402.ReasonOf(err) == "" {
		t.Errorf("case-twin keys accepted: %s", o)
	}
}

func TestParseChannelPayload(t *testing.T) {
	ps := samplePayloads(t)
	for _, typ := range []string{TypeClaim, TypeSettle} {
		o, _ := Object(ps[typ])
		if _, err := ParseChannelPayload(o); x402.ReasonOf(err) != x402.ReasonBatchPayloadType {
			t.Errorf("%s: %v", typ, err)
		}
	}
	o, _ := Object(ps[TypeDeposit])
	cp, err := ParseChannelPayload(o)
	if err != nil || cp.Channel().Payer != ps[TypeDeposit].(*DepositPayload).ChannelConfig.Payer {
		t.Fatalf("%v %+v", err, cp)
	}
}

func TestExtras(t *testing.T) {
	ra := common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	md := x402.NewAmount(100)
	st := NewChannelState(common.HexToHash("0x05"), x402.NewAmount(1000), x402.NewAmount(10), 0, x402.NewAmount(2), x402.NewAmount(30))
	e := RequirementsExtra{ReceiverAuthorizer: ra, WithdrawDelay: 900, Name: "USDC", Version: "2", MinDeposit: &md,
		ChannelState: &st, VoucherState: &VoucherState{SignedMaxClaimable: x402.NewAmount(30), Signature: []byte{1, 2}}}
	o, err := e.Object()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"receiverAuthorizer":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","withdrawDelay":900,"name":"USDC","version":"2","minDeposit":"100","channelState":{"channelId":"0x0000000000000000000000000000000000000000000000000000000000000005","balance":"1000","totalClaimed":"10","withdrawRequestedAt":0,"refundNonce":"2","chargedCumulativeAmount":"30"},"voucherState":{"signedMaxClaimable":"30","signature":"0x0102"}}`
	if string(o) != want {
		t.Fatalf("extra:\n got  %s\n want %s", o, want)
	}
	back, err := ParseRequirementsExtra(o)
	if err != nil || !reflect.DeepEqual(*back, e) {
		t.Fatalf("%v\n%+v", err, back)
	}
	// The official client's and facilitator's variants: refundNonce as a
	// number, withdrawRequestedAt as a string, fields missing.
	var cs ChannelState
	if err := json.Unmarshal([]byte(`{"refundNonce":3,"withdrawRequestedAt":"17","chargedCumulativeAmount":"9"}`), &cs); err != nil {
		t.Fatal(err)
	}
	if cs.RefundNonce != x402.NewAmount(3) || cs.WithdrawRequestedAt != 17 || !cs.HasCharged || cs.HasBalance {
		t.Fatalf("%+v", cs)
	}
	for _, bad := range []string{`{}`, `{"receiverAuthorizer":"0x0000000000000000000000000000000000000000"}`, `{"receiverAuthorizer":"x"}`,
		`{"receiverAuthorizer":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","withdrawDelay":"900"}`,
		`{"receiverAuthorizer":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","minDeposit":7}`} {
		if _, err := ParseRequirementsExtra(x402.Object(bad)); x402.ReasonOf(err) != x402.ReasonInvalidPaymentRequirements {
			t.Errorf("%s: %v", bad, err)
		}
	}
	re, err := ParseResponseExtra(x402.Object(`{"chargedAmount":"10","channelState":{"chargedCumulativeAmount":"40"}}`))
	if err != nil || *re.ChargedAmount != x402.NewAmount(10) || re.ChannelState.ChargedCumulativeAmount != x402.NewAmount(40) {
		t.Fatalf("%v %+v", err, re)
	}
	if _, err := ParseResponseExtra(x402.Object(`{"chargedAmount":10}`)); x402.ReasonOf(err) == "" {
		t.Fatal("numeric chargedAmount accepted")
	}
}
