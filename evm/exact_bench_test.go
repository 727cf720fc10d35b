package evm_test

import (
	"bytes"
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// stubChain answers balanceOf with a large balance, authorizationState with
// false and any other call with success, instantly: it isolates the CPU
// cost of verification from RPC latency. Only for benchmarks.
type stubChain struct {
	evm.ChainBackend // nil: other methods are not used by Verify
	chainID          *big.Int
}

var (
	balanceOfSel = crypto.Keccak256([]byte("balanceOf(address)"))[:4]
	stubBalance  = common.LeftPadBytes(big.NewInt(1e15).Bytes(), 32)
	stubFalse    = make([]byte, 32)
)

func (s stubChain) ChainID(context.Context) (*big.Int, error) { return s.chainID, nil }

func (s stubChain) CallContract(_ context.Context, msg ethereum.CallMsg, _ *big.Int) ([]byte, error) {
	if bytes.HasPrefix(msg.Data, balanceOfSel) {
		return stubBalance, nil
	}
	return stubFalse, nil
}

func benchPayment(b *testing.B) (*evm.ExactFacilitator, *x402.Payment, string) {
	b.Helper()
	ctx := context.Background()
	key, _ := crypto.GenerateKey()
	signer, _ := evm.NewPrivateKeySignerFromECDSA(key)
	client, _ := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	asset := evm.Asset{Address: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"), Symbol: "USDC", Name: "USDC", Version: "2", Decimals: 6}
	nets := &evm.Networks{}
	if err := nets.Add(evm.NetworkConfig{ChainID: 84532, Assets: []evm.Asset{asset}}); err != nil {
		b.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.001")
	req, err := nets.Requirements("eip155:84532", price, common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"), 60)
	if err != nil {
		b.Fatal(err)
	}
	obj, err := client.CreatePayload(ctx, x402.V2, req)
	if err != nil {
		b.Fatal(err)
	}
	payload := &x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj, Resource: &x402.ResourceInfo{URL: "https://api.example.com/weather"}}
	header, err := x402.EncodePaymentSignature(payload)
	if err != nil {
		b.Fatal(err)
	}
	p, err := x402.NewFacilitatorRequest(payload, &req).Payment()
	if err != nil {
		b.Fatal(err)
	}
	fac, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{
		Network: "eip155:84532", Backend: stubChain{chainID: big.NewInt(84532)}, Assets: []evm.Asset{asset},
		Now: func() time.Time { return time.Now() },
	})
	if err != nil {
		b.Fatal(err)
	}
	return fac, p, header
}

// BenchmarkExactVerify is a full "exact" verify (every local check,
// EIP-712 digest with the cached domain separator, secp256k1 recovery, and
// the three chain calls answered by a stub).
func BenchmarkExactVerify(b *testing.B) {
	fac, p, _ := benchPayment(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := fac.Verify(ctx, p)
		if err != nil || !v.IsValid {
			b.Fatalf("%+v %v", v, err)
		}
	}
}

// BenchmarkExactVerifyFromHeader adds decoding the PAYMENT-SIGNATURE header.
func BenchmarkExactVerifyFromHeader(b *testing.B) {
	fac, p, header := benchPayment(b)
	req := p.Requirements
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		payload, err := x402.DecodePaymentSignature(header)
		if err != nil {
			b.Fatal(err)
		}
		q, err := x402.NewFacilitatorRequest(payload, &req).Payment()
		if err != nil {
			b.Fatal(err)
		}
		v, err := fac.Verify(ctx, q)
		if err != nil || !v.IsValid {
			b.Fatalf("%+v %v", v, err)
		}
	}
}
