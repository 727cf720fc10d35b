package upto_test

import (
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// TestGasPerPayment measures the gas of one settlement on the devnet: an
// upto settlement (Permit2 through the upto proxy) of the test USDC and of
// the plain ERC-20 test token, against an exact EIP-3009
// transferWithAuthorization of the test USDC. Each is measured on the
// second payment to a payee (whose balance is then not zero), with a fresh
// random nonce (a fresh Permit2 bitmap word, or EIP-3009 state slot).
// Run with -v for the numbers (BENCHMARKS.md).
func TestGasPerPayment(t *testing.T) {
	e := newEnv(t)
	usdc := e.net.Token()
	e.approve(t, e.payer, usdc.Address)

	exactFac, err := evm.NewExactFacilitator(t.Context(), evm.ExactFacilitatorConfig{Network: e.network, Backend: e.net.Client(), Sender: e.sender, Assets: e.net.NetworkConfig().Assets})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(e.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	exactClient, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.01")
	nets := new(evm.Networks)
	if err := nets.Add(e.net.NetworkConfig()); err != nil {
		t.Fatal(err)
	}
	ereq, err := nets.Requirements(e.network, price, e.payee, 60)
	if err != nil {
		t.Fatal(err)
	}
	var exactGas, uptoUSDCGas, uptoTPDGas uint64
	for range 2 {
		obj, err := exactClient.CreatePayload(t.Context(), x402.V2, ereq)
		if err != nil {
			t.Fatal(err)
		}
		p := mustPayment(t, &x402.PaymentPayload{X402Version: x402.V2, Accepted: ereq, Payload: obj}, ereq)
		s, err := exactFac.Settle(t.Context(), p, x402.SettleHooks{})
		if err != nil || !s.Success {
			t.Fatalf("exact settle: %+v %v", s, err)
		}
		exactGas = e.gasUsed(t, s.Transaction)

		for _, c := range []struct {
			price string
			gas   *uint64
		}{{"0.01 USDC", &uptoUSDCGas}, {"0.01 TPD", &uptoTPDGas}} {
			req := e.requirements(t, c.price)
			s := e.settle(t, e.pay(t, e.client, req), 7_000)
			if !s.Success {
				t.Fatalf("upto settle %s: %+v", c.price, s)
			}
			*c.gas = e.gasUsed(t, s.Transaction)
		}
	}
	t.Logf("gas per settlement: exact EIP-3009 (TestUSDC) %d; upto via Permit2: TestUSDC %d, plain ERC-20 (TPD) %d; upto with amount 0: no transaction",
		exactGas, uptoUSDCGas, uptoTPDGas)
	for _, g := range []uint64{exactGas, uptoUSDCGas, uptoTPDGas} {
		if g <= 21_000 || g > 300_000 {
			t.Errorf("implausible gas %d", g)
		}
	}
}
