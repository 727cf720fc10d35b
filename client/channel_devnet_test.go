package client_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// relay submits calldata to `to` from acct on d and waits for a successful
// receipt: the test's relayer of deposits (the part a facilitator plays).
func relay(ctx context.Context, d *devnet.Devnet, acct devnet.Account, to common.Address, data []byte) error {
	ec := d.Client()
	nonce, err := ec.PendingNonceAt(ctx, acct.Address)
	if err != nil {
		return err
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		return err
	}
	tip := big.NewInt(1_000_000_000)
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignNewTx(acct.PrivateKey, types.LatestSignerForChainID(d.ChainID()), &types.DynamicFeeTx{
		ChainID: d.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: 600_000, To: &to, Data: data,
	})
	if err != nil {
		return err
	}
	if err := ec.SendTransaction(ctx, tx); err != nil {
		return err
	}
	r, err := d.WaitMined(ctx, tx.Hash())
	if err != nil {
		return err
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return fmt.Errorf("deposit transaction %s reverted", tx.Hash().Hex())
	}
	return nil
}

// On the devnet, with go402's batch-settlement contracts: the client's
// deposit is submitted (by the peer, as a facilitator would) and the
// channel read back from the chain; a payer that lost its state starts
// cold from the chain and recovers the server's charged total through a
// corrective 402 checked against the chain.
func TestChannelDevnetDepositAndColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet")
	}
	ctx := context.Background()
	d, err := devnet.Start(ctx, devnet.Config{ChainID: 84532, Accounts: 3, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	nets := new(evm.Networks)
	if err := d.Register(nets); err != nil {
		t.Fatal(err)
	}
	accts := d.Accounts()
	tok := d.Token()
	peer := newChannelPeerOn(t, "$0.001", nets, evm.Domain{Name: tok.Name, Version: tok.Version, ChainID: 84532, VerifyingContract: tok.Address}, accts[1].Address)
	peer.onDeposit = func(dp *batchsettlement.DepositPayload) error {
		data, err := batchsettlement.EncodeDeposit(dp)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return relay(cctx, d, accts[2], batchsettlement.SettlementContract(), data)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(accts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	reader := batchsettlement.NewRPCChannelReader(map[x402.Network]string{"eip155:84532": d.RPCURL()})
	mk := func() (*batchsettlement.Payer, *client.Client) {
		p, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: signer, Reader: reader})
		if err != nil {
			t.Fatal(err)
		}
		assets, err := client.AssetsFromNetworks(nets)
		if err != nil {
			t.Fatal(err)
		}
		reg := new(x402.Registry[x402.SchemeClient])
		if err := reg.Register(x402.V2, batchsettlement.Scheme, "eip155:*", p); err != nil {
			t.Fatal(err)
		}
		c, err := client.New(client.Config{Schemes: reg, Assets: assets, Policy: client.Policy{Budget: "$1"}})
		if err != nil {
			t.Fatal(err)
		}
		return p, c
	}
	p1, c1 := mk()
	// A deposit the server refuses (its submission fails) is proven unused
	// on chain: the payment error says so, and the budget does not count
	// it as spent.
	relayDeposit := peer.onDeposit
	peer.onDeposit = func(*batchsettlement.DepositPayload) error { return errors.New("relayer down") }
	err = get(t, c1, peer.url())
	var pe *client.PaymentError
	if !errors.As(err, &pe) || !pe.Unspent {
		t.Fatalf("refused deposit: %v, want a PaymentError proven unspent", err)
	}
	if sp, _ := c1.Spending(ctx); sp.Spent != "0" {
		t.Fatalf("spent %s after a refused deposit", sp.Spent)
	}
	peer.onDeposit = relayDeposit
	for range 3 {
		if err := get(t, c1, peer.url()); err != nil {
			t.Fatal(err)
		}
	}
	id, err := p1.Channel(peer.req)
	if err != nil {
		t.Fatal(err)
	}
	bal, claimed, err := reader.ReadChannel(ctx, "eip155:84532", id)
	if err != nil {
		t.Fatal(err)
	}
	if bal != x402.NewAmount(10_000) || !claimed.IsZero() {
		t.Fatalf("channels(%s) = (%s, %s), want (10000, 0)", id.Hex(), bal, claimed)
	}
	// A second payer instance with the same key and no state.
	p2, c2 := mk()
	if err := get(t, c2, peer.url()); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := p2.Store().Get(ctx, "eip155:84532", id)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if rec.Charged != x402.NewAmount(4000) || rec.Balance != x402.NewAmount(10_000) || peer.paid != 4 {
		t.Fatalf("cold start: charged %s balance %s, peer paid %d", rec.Charged, rec.Balance, peer.paid)
	}
}
