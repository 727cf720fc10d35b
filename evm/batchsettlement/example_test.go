package batchsettlement_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// A well-known test key (never use it for real funds).
const exampleKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

func exampleChannel(payer common.Address) batchsettlement.ChannelConfig {
	return batchsettlement.ChannelConfig{
		Payer:              payer,
		PayerAuthorizer:    payer,
		Receiver:           common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
		ReceiverAuthorizer: common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
		Token:              common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
		WithdrawDelay:      batchsettlement.DefaultWithdrawDelay,
	}
}

// The payer signs a voucher for its new cumulative total; the server,
// which trusts the channel config from its store, verifies it locally.
func ExampleChannelVerifier_Verify() {
	ctx := context.Background()
	payer, _ := evm.NewPrivateKeySigner(exampleKey)
	cfg := exampleChannel(payer.Address())
	const chainID = 84532 // Base Sepolia

	// Payer: 3 calls at 1,000 units were charged; the 4th costs 1,000 more.
	id := batchsettlement.ChannelID(cfg, chainID)
	voucher, _ := batchsettlement.SignVoucher(ctx, payer, chainID, id, x402.NewAmount(4000))

	// Server: one verifier per channel, cached.
	v := batchsettlement.NewChannelVerifier(cfg, chainID)
	err := v.Verify(&voucher, &batchsettlement.Expectation{
		Charged:      x402.NewAmount(3000),
		Price:        x402.NewAmount(1000),
		Balance:      x402.NewAmount(10000),
		TotalClaimed: x402.NewAmount(2000),
	})
	fmt.Println("valid:", err == nil)

	// The same voucher again, after the charge was committed: its total is
	// no longer charged + price, and the payer gets a corrective 402.
	err = v.Verify(&voucher, &batchsettlement.Expectation{
		Charged: x402.NewAmount(4000), Price: x402.NewAmount(1000), Balance: x402.NewAmount(10000),
	})
	fmt.Println("replayed:", x402.ReasonOf(err))
	// Output:
	// valid: true
	// replayed: invalid_batch_settlement_evm_cumulative_amount_mismatch
}

// A payload from the PAYMENT-SIGNATURE header's payload object parses to a
// typed payload, or to an *x402.Error carrying the scheme's reason.
func ExampleParsePayload() {
	payer, _ := evm.NewPrivateKeySigner(exampleKey)
	cfg := exampleChannel(payer.Address())
	id := batchsettlement.ChannelID(cfg, 84532)
	voucher, _ := batchsettlement.SignVoucher(context.Background(), payer, 84532, id, x402.NewAmount(1000))
	obj, _ := batchsettlement.Object(&batchsettlement.VoucherPayload{ChannelConfig: cfg, Voucher: voucher})

	p, err := batchsettlement.ParsePayload(obj)
	if err != nil {
		fmt.Println(err)
		return
	}
	switch p := p.(type) {
	case *batchsettlement.VoucherPayload:
		fmt.Println(p.Type(), p.Voucher.MaxClaimableAmount)
	case *batchsettlement.DepositPayload:
		fmt.Println(p.Type(), p.Deposit.Amount)
	}

	_, err = batchsettlement.ParsePayload(x402.Object(`{"type":"voucher","channelConfig":{}}`))
	var xe *x402.Error
	fmt.Println(errors.As(err, &xe), xe.Reason)
	// Output:
	// voucher 1000
	// true invalid_batch_settlement_evm_voucher_payload
}

// Channel ids, the digests the contract checks and the ERC-3009 deposit
// nonce are pure functions of their inputs.
func ExampleChannelID() {
	cfg := exampleChannel(common.HexToAddress("0x90F79bf6EB2c4f870365E785982E1f101E93b906"))
	id := batchsettlement.ChannelID(cfg, 84532)
	sep := batchsettlement.DomainSeparator(84532)
	fmt.Println(len(id.Hex()))
	fmt.Println(batchsettlement.VoucherDigest(sep, id, x402.NewAmount(1)) != batchsettlement.VoucherDigest(sep, id, x402.NewAmount(2)))
	fmt.Println(batchsettlement.ERC3009DepositNonce(id, common.Hash{1}) != batchsettlement.ERC3009DepositNonce(id, common.Hash{2}))
	// Output:
	// 66
	// true
	// true
}

// The resource server announces batch-settlement requirements.
func ExampleServer_Requirements() {
	s := &batchsettlement.Server{ReceiverAuthorizer: common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")}
	price, _ := x402.ParsePrice("$0.001")
	req, err := s.Requirements("eip155:84532", price, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 60)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Scheme, req.Amount)
	fmt.Println(string(req.Extra))
	// Output:
	// batch-settlement 1000
	// {"receiverAuthorizer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","withdrawDelay":900,"name":"USDC","version":"2","minDeposit":"10000"}
}

// A receiver authorizer signs the claim of collected vouchers, and the
// facilitator submits claimWithSignature with it.
func ExampleSignClaimBatch() {
	ctx := context.Background()
	payer, _ := evm.NewPrivateKeySigner(exampleKey)
	authorizer, _ := evm.NewPrivateKeySigner("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
	cfg := exampleChannel(payer.Address())
	cfg.ReceiverAuthorizer = authorizer.Address()
	id := batchsettlement.ChannelID(cfg, 84532)
	v, _ := batchsettlement.SignVoucher(ctx, payer, 84532, id, x402.NewAmount(5000))

	claims := []batchsettlement.VoucherClaim{{Channel: cfg, MaxClaimableAmount: v.MaxClaimableAmount, Signature: v.Signature, TotalClaimed: x402.NewAmount(5000)}}
	sig, err := batchsettlement.SignClaimBatch(ctx, authorizer, 84532, claims)
	if err != nil {
		fmt.Println(err)
		return
	}
	calldata, err := batchsettlement.EncodeClaimWithSignature(claims, sig[:])
	fmt.Println(err == nil, len(calldata) > 4)
	// Output: true true
}
