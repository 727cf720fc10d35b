package batchsettlement_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	bs "github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
)

// fixture is a devnet with go402's facilitator served over HTTP on
// loopback, reached through the remote client, and a payer, a receiver
// and receiver-authorizer keys.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	st      *stacktest.Stack
	fac     *remote.Client
	client  *ethclient.Client
	chainID uint64
	token   devnet.TokenInfo

	payer    *evm.PrivateKeySigner
	receiver common.Address
	// serverRA is a receiver authorizer held by the server (the test);
	// facRA the one the facilitator holds (nil when not delegated).
	serverRA, facRA *evm.PrivateKeySigner
}

// newFixture starts the stack; delegated gives the facilitator a
// receiver-authorizer key. It skips when the devnet has no
// x402BatchSettlement at the canonical address.
func newFixture(t *testing.T, delegated bool) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("devnet test")
	}
	accts := mustAccounts(t)
	opts := stacktest.Options{}
	var facRA *evm.PrivateKeySigner
	if delegated {
		opts.ReceiverAuthorizer = accts[3].PrivateKey
		facRA = mustSigner(t, accts[3])
	}
	st := stacktest.New(t, stacktest.Config{Facilitator: opts})
	code, err := st.Devnet.Client().CodeAt(t.Context(), bs.SettlementContract(), nil)
	if err != nil || len(code) == 0 {
		t.Skip("the devnet has no x402BatchSettlement contract")
	}
	fac, err := remote.New(remote.Config{URL: st.FacilitatorURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t: t, ctx: t.Context(), st: st, fac: fac, client: st.Devnet.Client(), chainID: st.Devnet.ChainID().Uint64(),
		token: st.Devnet.Token(), payer: mustSigner(t, st.Accounts[0]), receiver: st.Accounts[1].Address,
		serverRA: mustSigner(t, st.Accounts[2]), facRA: facRA,
	}
}

func mustAccounts(t *testing.T) []devnet.Account {
	t.Helper()
	var out []devnet.Account
	for i := range 4 {
		a, err := devnet.DevAccount(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func mustSigner(t *testing.T, a devnet.Account) *evm.PrivateKeySigner {
	t.Helper()
	s, err := evm.NewPrivateKeySignerFromECDSA(a.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomHash(t *testing.T) common.Hash {
	var h common.Hash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

// channel returns a new channel config of the fixture's payer and
// receiver, authorized by ra.
func (f *fixture) channel(ra common.Address) bs.ChannelConfig {
	return bs.ChannelConfig{
		Payer: f.payer.Address(), PayerAuthorizer: f.payer.Address(), Receiver: f.receiver,
		ReceiverAuthorizer: ra, Token: f.token.Address, WithdrawDelay: bs.MinWithdrawDelay, Salt: randomHash(f.t),
	}
}

func (f *fixture) id(cfg bs.ChannelConfig) common.Hash { return bs.ChannelID(cfg, f.chainID) }

// requirements are the route's requirements for channels authorized by ra.
func (f *fixture) requirements(ra common.Address, price uint64) x402.PaymentRequirements {
	extra, err := x402.NewObject(map[string]any{
		"receiverAuthorizer": ra.Hex(), "withdrawDelay": bs.MinWithdrawDelay, "name": f.token.Name, "version": f.token.Version,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return x402.PaymentRequirements{
		Scheme: bs.Scheme, Network: x402.Network(f.st.Devnet.Network()), Amount: x402.NewAmount(price),
		Asset: f.token.Address.Hex(), PayTo: f.receiver.Hex(), MaxTimeoutSeconds: 300, Extra: extra,
	}
}

// request wraps a payload into a facilitator request paying req.
func (f *fixture) request(pl bs.Payload, req x402.PaymentRequirements) *x402.FacilitatorRequest {
	f.t.Helper()
	obj, err := bs.Object(pl)
	if err != nil {
		f.t.Fatal(err)
	}
	return x402.NewFacilitatorRequest(&x402.PaymentPayload{
		X402Version: x402.V2, Resource: &x402.ResourceInfo{URL: "http://127.0.0.1/paid"}, Accepted: req, Payload: obj,
	}, &req)
}

// voucher signs a voucher of cfg for max with the payer's key.
func (f *fixture) voucher(cfg bs.ChannelConfig, max uint64) bs.Voucher {
	f.t.Helper()
	v, err := bs.SignVoucher(f.ctx, f.payer, f.chainID, f.id(cfg), x402.NewAmount(max))
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// deposit builds a deposit of amount into cfg, paying a first voucher of
// max.
func (f *fixture) deposit(cfg bs.ChannelConfig, amount, max uint64) *bs.DepositPayload {
	f.t.Helper()
	tok := evm.Domain{Name: f.token.Name, Version: f.token.Version, ChainID: f.chainID, VerifyingContract: f.token.Address}
	auth, err := bs.SignERC3009Deposit(f.ctx, f.payer, tok, cfg, bs.DepositTerms{
		Amount: x402.NewAmount(amount), ValidBefore: uint64(time.Now().Add(5 * time.Minute).Unix()), Salt: randomHash(f.t),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	d := &bs.DepositPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, max)}
	d.Deposit.Amount = x402.NewAmount(amount)
	d.Deposit.Authorization.ERC3009Authorization = auth
	return d
}

// fund deposits amount into a new channel authorized by ra and returns it.
func (f *fixture) fund(ra common.Address, amount uint64) bs.ChannelConfig {
	f.t.Helper()
	cfg := f.channel(ra)
	resp := f.settle(f.request(f.deposit(cfg, amount, 1), f.requirements(ra, 1)))
	if !resp.Success {
		f.t.Fatalf("deposit: %s %s", resp.ErrorReason, resp.ErrorMessage)
	}
	return cfg
}

func (f *fixture) verify(req *x402.FacilitatorRequest) *x402.VerifyResponse {
	f.t.Helper()
	resp, err := f.fac.Verify(f.ctx, req)
	if err != nil {
		f.t.Fatalf("verify: %v", err)
	}
	return resp
}

func (f *fixture) settle(req *x402.FacilitatorRequest) *x402.SettleResponse {
	f.t.Helper()
	resp, err := f.fac.Settle(f.ctx, req)
	if err != nil {
		f.t.Fatalf("settle: %v", err)
	}
	return resp
}

// balanceOf reads who's token balance.
func (f *fixture) balanceOf(who common.Address) *big.Int {
	f.t.Helper()
	data := append(crypto.Keccak256([]byte("balanceOf(address)"))[:4], common.LeftPadBytes(who[:], 32)...)
	tok := f.token.Address
	out, err := f.client.CallContract(f.ctx, ethereum.CallMsg{To: &tok, Data: data}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

// channelOnChain reads channels(id).
func (f *fixture) channelOnChain(cfg bs.ChannelConfig) (balance, claimed x402.Amount) {
	f.t.Helper()
	data, err := bs.EncodeChannels(f.id(cfg))
	if err != nil {
		f.t.Fatal(err)
	}
	to := bs.SettlementContract()
	out, err := f.client.CallContract(f.ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if balance, claimed, err = bs.DecodeChannels(out); err != nil {
		f.t.Fatal(err)
	}
	return balance, claimed
}

// gasUsed is the gas of a mined transaction.
func (f *fixture) gasUsed(tx string) uint64 {
	f.t.Helper()
	r, err := f.client.TransactionReceipt(f.ctx, common.HexToHash(tx))
	if err != nil {
		f.t.Fatal(err)
	}
	return r.GasUsed
}

// channelState decodes the channelState of a settle answer's extra.
func channelState(t *testing.T, extra x402.Object) bs.ChannelState {
	t.Helper()
	e, err := bs.ParseResponseExtra(extra)
	if err != nil || e.ChannelState == nil {
		t.Fatalf("response extra %s: %v", extra, err)
	}
	return *e.ChannelState
}

// verifyState decodes a verify answer's extra.
func verifyState(t *testing.T, extra x402.Object) bs.ChannelState {
	t.Helper()
	var st bs.ChannelState
	if err := json.Unmarshal(extra, &st); err != nil {
		t.Fatalf("verify extra %s: %v", extra, err)
	}
	return st
}

// claim is a claim row of cfg: voucher of max, claimed up to total.
func (f *fixture) claim(cfg bs.ChannelConfig, max, total uint64) bs.VoucherClaim {
	v := f.voucher(cfg, max)
	return bs.VoucherClaim{Channel: cfg, MaxClaimableAmount: v.MaxClaimableAmount, Signature: v.Signature, TotalClaimed: x402.NewAmount(total)}
}

func amountIs(a *x402.Amount, want uint64) bool { return a != nil && *a == x402.NewAmount(want) }
