package batchsettlement

import (
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

const testPayTo = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

func TestServerRequirements(t *testing.T) {
	ra := common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
	price, _ := x402.ParsePrice("$0.01")
	tests := []struct {
		name    string
		s       Server
		network x402.Network
		payTo   string
		extra   string // expected extra, or "" when an error is expected
	}{
		{"defaults", Server{ReceiverAuthorizer: ra}, "eip155:8453", testPayTo,
			`{"receiverAuthorizer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","withdrawDelay":900,"name":"USD Coin","version":"2","minDeposit":"100000"}`},
		{"custom delay and min deposit", Server{ReceiverAuthorizer: ra, WithdrawDelay: 86400, MinDeposit: x402.NewAmount(5_000_000)}, "eip155:84532", strings.ToLower(testPayTo),
			`{"receiverAuthorizer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","withdrawDelay":86400,"name":"USDC","version":"2","minDeposit":"5000000"}`},
		{"min deposit below price is the price", Server{ReceiverAuthorizer: ra, MinDeposit: x402.NewAmount(1)}, "eip155:84532", testPayTo,
			`{"receiverAuthorizer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","withdrawDelay":900,"name":"USDC","version":"2","minDeposit":"10000"}`},
		{"no min deposit", Server{ReceiverAuthorizer: ra, NoMinDeposit: true, WithdrawDelay: MaxWithdrawDelay}, "eip155:84532", testPayTo,
			`{"receiverAuthorizer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","withdrawDelay":2592000,"name":"USDC","version":"2"}`},
		{"zero receiver authorizer", Server{}, "eip155:84532", testPayTo, ""},
		{"delay too short", Server{ReceiverAuthorizer: ra, WithdrawDelay: 899}, "eip155:84532", testPayTo, ""},
		{"delay too long", Server{ReceiverAuthorizer: ra, WithdrawDelay: MaxWithdrawDelay + 1}, "eip155:84532", testPayTo, ""},
		{"bad payTo", Server{ReceiverAuthorizer: ra}, "eip155:84532", "0x1234", ""},
		{"zero payTo", Server{ReceiverAuthorizer: ra}, "eip155:84532", "0x0000000000000000000000000000000000000000", ""},
		{"unknown network", Server{ReceiverAuthorizer: ra}, "eip155:999999", testPayTo, ""},
		{"Permit2-only asset", Server{ReceiverAuthorizer: ra}, "eip155:4326", testPayTo, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := tc.s.Requirements(tc.network, price, tc.payTo, 0)
			if tc.extra == "" {
				if err == nil {
					t.Fatalf("accepted: %+v", req)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Scheme != Scheme || req.PayTo != testPayTo || req.MaxTimeoutSeconds != evm.DefaultMaxTimeoutSeconds {
				t.Fatalf("%+v", req)
			}
			if string(req.Extra) != tc.extra {
				t.Fatalf("extra\n got  %s\n want %s", req.Extra, tc.extra)
			}
			if err := req.Validate(); err != nil {
				t.Fatal(err)
			}
			e, err := ParseRequirementsExtra(req.Extra)
			if err != nil || e.ReceiverAuthorizer != ra {
				t.Fatalf("%v %+v", err, e)
			}
		})
	}
}

func TestServerIdentify(t *testing.T) {
	s := &Server{ReceiverAuthorizer: common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")}
	ps := samplePayloads(t)
	ids := map[string]x402.PaymentID{}
	for _, typ := range []string{TypeVoucher, TypeDeposit, TypeRefund} {
		o, _ := Object(ps[typ])
		id, err := s.Identify(&x402.Payment{Version: 2, Requirements: x402.PaymentRequirements{Network: "eip155:84532"}, Payload: o})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		ids[typ] = id
	}
	cfg := ps[TypeVoucher].(*VoucherPayload).ChannelConfig
	v := ids[TypeVoucher]
	if v.Key.Payer != lowerHex(cfg.Payer[:]) || v.Key.Asset != lowerHex(cfg.Token[:]) || v.PayTo != lowerHex(cfg.Receiver[:]) || v.Amount != "" || !v.Expires.IsZero() {
		t.Fatalf("voucher id %+v", v)
	}
	if !strings.HasSuffix(v.Key.Nonce, "/1010") {
		t.Fatalf("voucher nonce %q", v.Key.Nonce)
	}
	// A deposit and a voucher for the same ceiling are the same payment;
	// the refund's zero-charge voucher is not.
	if ids[TypeDeposit].Key != v.Key || ids[TypeRefund].Key == v.Key {
		t.Fatalf("keys: %+v", ids)
	}
	if want := time.Unix(1_900_000_000, 0); !ids[TypeDeposit].Expires.Equal(want) {
		t.Fatalf("deposit expires %v", ids[TypeDeposit].Expires)
	}
	for _, typ := range []string{TypeClaim, TypeSettle} {
		o, _ := Object(ps[typ])
		if _, err := s.Identify(&x402.Payment{Version: 2, Payload: o}); x402.ReasonOf(err) != x402.ReasonBatchPayloadType {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	if _, err := s.Identify(&x402.Payment{Version: 2, Payload: x402.Object(`{"type":"voucher"}`)}); x402.ReasonOf(err) != x402.ReasonBatchVoucherPayload {
		t.Fatalf("malformed: %v", err)
	}
}

func TestRegisterServer(t *testing.T) {
	reg := new(x402.Registry[x402.SchemeServer])
	if err := RegisterServer(reg, &Server{}); err == nil {
		t.Fatal("registered a server without a receiver authorizer")
	}
	s := &Server{ReceiverAuthorizer: common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")}
	if err := RegisterServer(reg, s); err != nil {
		t.Fatal(err)
	}
}
