package upto_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// TestGasSponsoring: a payer without a Permit2 allowance pays when the 402
// declares eip2612GasSponsoring: its client signs an EIP-2612 permit of
// Permit2 and the facilitator settles with settleWithPermit.
func TestGasSponsoring(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	signer, err := evm.NewPrivateKeySignerFromECDSA(e.other.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := upto.NewClient(upto.ClientConfig{Signer: signer, RPCURLs: map[x402.Network]string{e.network: e.net.RPCURL()}})
	if err != nil {
		t.Fatal(err)
	}
	req := e.requirements(t, "0.05 TPD")
	if _, _, err := c.CreatePayloadExtensions(ctx, x402.V2, req, nil); !errors.Is(err, upto.ErrPermit2AllowanceRequired) {
		t.Fatalf("without the extension declared: %v, want ErrPermit2AllowanceRequired", err)
	}
	declared := x402.Object(`{"eip2612GasSponsoring":{"info":{"description":"sponsored"}}}`)
	payload, ext, err := c.CreatePayloadExtensions(ctx, x402.V2, req, declared)
	if err != nil {
		t.Fatal(err)
	}
	if ext.IsNull() {
		t.Fatal("no extension signed")
	}
	p := &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: payload, Extensions: ext}

	t.Run("tampered value", func(t *testing.T) {
		bad := *p
		bad.Extensions = x402.Object(strings.Replace(string(ext), `"amount":"50000"`, `"amount":"40000"`, 1))
		if string(bad.Extensions) == string(ext) {
			t.Fatalf("no amount in %s", ext)
		}
		if v := e.verify(t, &bad, req); v.IsValid || v.InvalidReason != x402.ReasonPermit2EIP2612AmountMismatch {
			t.Errorf("verify: %s (%s)", v.InvalidReason, v.InvalidMessage)
		}
	})
	if v := e.verify(t, p, req); !v.IsValid {
		t.Fatalf("verify: %s: %s", v.InvalidReason, v.InvalidMessage)
	}
	before := e.balance(t, e.other.Address)
	s := e.settle(t, p, 3_000)
	if !s.Success {
		t.Fatalf("settle: %+v", s)
	}
	t.Logf("gas of the sponsored settlement (settleWithPermit: EIP-2612 permit, then the transfer): %d", e.gasUsed(t, s.Transaction))
	if d := new(big.Int).Sub(before, e.balance(t, e.other.Address)); d.Int64() != 3_000 {
		t.Errorf("payer paid %s, want 3000", d)
	}
	// The permit is spent; the allowance left is the maximum less the charge.
	_, ext2, err := c.CreatePayloadExtensions(ctx, x402.V2, e.requirements(t, "0.01 TPD"), declared)
	if err != nil || !ext2.IsNull() {
		t.Errorf("with the allowance left (47000 ≥ 10000) no extension is needed: %s, %v", ext2, err)
	}
}
