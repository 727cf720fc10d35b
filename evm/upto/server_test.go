package upto_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

var facAddr = common.HexToAddress("0x1111111111111111111111111111111111111111")

func baseServer() *upto.Server {
	return &upto.Server{Facilitators: map[x402.Network]common.Address{"eip155:84532": facAddr}}
}

func TestServerRequirements(t *testing.T) {
	price, _ := x402.ParsePrice("$0.05")
	r, err := baseServer().Requirements("eip155:84532", price, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheme != "upto" || r.Amount != x402.NewAmount(50_000) || r.MaxTimeoutSeconds != evm.DefaultMaxTimeoutSeconds ||
		r.Asset != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" {
		t.Errorf("requirements %+v", r)
	}
	var extra upto.Extra
	if err := r.Extra.Decode(&extra); err != nil {
		t.Fatal(err)
	}
	if extra.Name != "USDC" || extra.Version != "2" || extra.FacilitatorAddress != facAddr.Hex() || extra.AssetTransferMethod != "permit2" {
		t.Errorf("extra %+v", extra)
	}
	// The payer's client accepts what the server offers.
	c, err := upto.NewClient(upto.ClientConfig{Signer: mustSigner(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CanPay(x402.V2, r); err != nil {
		t.Errorf("CanPay: %v", err)
	}
	if err := c.CanPay(x402.V1, r); err == nil {
		t.Error("CanPay accepted x402 v1")
	}
	if _, err := baseServer().Requirements("eip155:8453", price, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", 0); err == nil {
		t.Error("requirements on a network without a facilitator address")
	}
	if _, err := baseServer().Requirements("eip155:84532", price, "0x00", 0); err == nil {
		t.Error("requirements with a bad payTo")
	}
}

func mustSigner(t *testing.T) evm.Signer {
	t.Helper()
	s, err := evm.NewPrivateKeySigner("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUsageRequirements(t *testing.T) {
	accepted := x402.PaymentRequirements{Scheme: "upto", Network: "eip155:84532", Amount: x402.NewAmount(50_000), Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PayTo: facAddr.Hex(), MaxTimeoutSeconds: 60}
	cases := []struct {
		name string
		req  x402.PaymentRequirements
		used uint64
		want x402.Reason // "" for success
	}{
		{"less", accepted, 1234, ""},
		{"all", accepted, 50_000, ""},
		{"nothing", accepted, 0, ""},
		{"more", accepted, 50_001, x402.ReasonUptoSettlementExceedsAmount},
		{"not upto", func() x402.PaymentRequirements { r := accepted; r.Scheme = "exact"; return r }(), 1, x402.ReasonUptoScheme},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := baseServer().UsageRequirements(c.req, x402.NewAmount(c.used))
			if c.want != "" {
				if !isReason(err, c.want) {
					t.Errorf("error %v, want %s", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.req
			want.Amount = x402.NewAmount(c.used)
			if out.Amount != want.Amount || out.PayTo != want.PayTo || out.Asset != want.Asset || out.Scheme != want.Scheme {
				t.Errorf("got %+v, want %+v", out, want)
			}
		})
	}
}

func TestServerIdentify(t *testing.T) {
	req := x402.PaymentRequirements{Scheme: "upto", Network: "eip155:84532", Amount: x402.NewAmount(5_000_000), Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", MaxTimeoutSeconds: 60}
	p := mustPayment(t, &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: x402.Object(official)}, req)
	id, err := baseServer().Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	if id.Key.Payer != "0x857b06519e91e3a54538791bdbb0e22373e36b66" || id.Key.Nonce != "110089576396426557312346513786423213813839453066640102346013541474064093164672" ||
		id.Expires.Unix() != 1740672154 || !id.Pays(&req) {
		t.Errorf("id %+v", id)
	}
	bad := mustPayment(t, &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: x402.Object(`{"signature":"0x01"}`)}, req)
	if _, err := baseServer().Identify(bad); !isReason(err, x402.ReasonInvalidPayload) {
		t.Errorf("identify of a bad payload: %v", err)
	}
}

func mustSignerForExample() evm.Signer {
	s, err := evm.NewPrivateKeySigner("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	if err != nil {
		panic(err)
	}
	return s
}

func isReason(err error, r x402.Reason) bool {
	xe, ok := err.(*x402.Error)
	return ok && xe.Reason == r
}

func mustPayment(t *testing.T, p *x402.PaymentPayload, req x402.PaymentRequirements) *x402.Payment {
	t.Helper()
	pay, err := x402.NewFacilitatorRequest(p, &req).Payment()
	if err != nil {
		t.Fatal(err)
	}
	return pay
}
