package evm_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// BenchmarkVerifySignatureKind is the facilitator's Verify of one "exact"
// EIP-3009 payment per signature kind, one at a time, against the devnet
// over loopback JSON-RPC (the node's CPU included in cpu-µs/verify): an
// EOA (ecrecover, then the state reads and simulation), a deployed
// EIP-1271 wallet (one more eth_call, isValidSignature) and an undeployed
// ERC-6492 wallet (isValidSignature, then the deployment and
// isValidSignature simulated in one aggregate3 eth_call, and the transfer
// simulated after the deployment).
//
//	go test -run '^$' -bench VerifySignatureKind -benchmem ./evm/
func BenchmarkVerifySignatureKind(b *testing.B) {
	ctx := b.Context()
	net, err := devnet.Start(ctx, devnet.Config{Accounts: 2, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	rpcClient, err := ethclient.DialContext(ctx, net.RPCURL())
	if err != nil {
		b.Fatal(err)
	}
	defer rpcClient.Close()
	tok := net.Token()
	asset := evm.Asset{Address: tok.Address, Symbol: tok.Symbol, Name: tok.Name, Version: tok.Version, Decimals: tok.Decimals}
	fac, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: x402.Network(net.Network()), Backend: rpcClient,
		Assets: []evm.Asset{asset}, ERC6492Factories: []common.Address{evm.DevnetWalletFactoryAddress()}})
	if err != nil {
		b.Fatal(err)
	}
	nets := &evm.Networks{}
	if err := net.Register(nets); err != nil {
		b.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.001")
	accts := net.Accounts()
	req, err := nets.Requirements(x402.Network(net.Network()), price, accts[1].Address, 300)
	if err != nil {
		b.Fatal(err)
	}
	owner, err := evm.NewPrivateKeySignerFromECDSA(accts[0].PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := net.DeploySmartWallet(ctx, owner.Address(), big.NewInt(1)); err != nil {
		b.Fatal(err)
	}
	signers := map[string]evm.Signer{
		"eoa":     owner,
		"eip1271": net.SmartWalletSigner(owner, big.NewInt(1)),
		"erc6492": net.SmartWalletSigner(owner, big.NewInt(2)),
	}
	for _, kind := range []string{"eoa", "eip1271", "erc6492"} {
		b.Run(kind, func(b *testing.B) {
			s := signers[kind]
			if err := net.Mint(ctx, s.Address(), big.NewInt(1_000_000)); err != nil {
				b.Fatal(err)
			}
			c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s})
			if err != nil {
				b.Fatal(err)
			}
			obj, err := c.CreatePayload(ctx, x402.V2, req)
			if err != nil {
				b.Fatal(err)
			}
			p, err := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}, &req).Payment()
			if err != nil {
				b.Fatal(err)
			}
			cpu0 := processCPU(b)
			b.ResetTimer()
			for b.Loop() {
				if v, err := fac.Verify(ctx, p); err != nil || !v.IsValid {
					b.Fatalf("verify: %+v %v", v, err)
				}
			}
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/verify")
		})
	}
}
