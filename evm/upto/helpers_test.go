package upto_test

import (
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

// env is a devnet with a payer (account 0) who approved Permit2 for the
// Permit2 test token, a payee (account 1), a second payer without an
// approval (account 2) and a facilitator key (account 3), and go402's
// facilitator (ledger in a temporary SQLite file) serving "upto" with it.
type env struct {
	net     *devnet.Devnet
	network x402.Network
	asset   evm.Asset
	payer   devnet.Account
	payee   common.Address
	other   devnet.Account
	sender  *evm.Sender
	scheme  *upto.Facilitator
	fac     *facilitator.Facilitator
	store   *sqlite.Store
	client  *upto.Client
	server  *upto.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	net, err := devnet.Start(ctx, devnet.Config{Accounts: 4, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = net.Close() })
	accts := net.Accounts()
	e := &env{net: net, network: x402.Network(net.Network()), asset: net.PermitTokenAsset(), payer: accts[0], payee: accts[1].Address, other: accts[2]}
	e.sender, err = evm.NewSender(ctx, evm.SenderConfig{Backend: net.Client(), Key: accts[3].PrivateKey, ChainID: net.ChainID(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.scheme, err = upto.NewFacilitator(ctx, upto.FacilitatorConfig{Network: e.network, Backend: net.Client(), Sender: e.sender})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e.store = store
	if e.fac, err = facilitator.New(facilitator.Config{Store: store, Instance: "upto-test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.fac.Register(x402.V2, e.network, e.scheme); err != nil {
		t.Fatal(err)
	}
	e.client = e.newClient(t, e.payer)
	nc := net.NetworkConfig()
	nc.Assets = append(nc.Assets, e.asset)
	nets := new(evm.Networks)
	if err := nets.Add(nc); err != nil {
		t.Fatal(err)
	}
	fa, err := upto.FacilitatorAddress(ctx, e.fac, e.network)
	if err != nil {
		t.Fatal(err)
	}
	e.server = &upto.Server{Networks: nets, Facilitators: map[x402.Network]common.Address{e.network: fa}}
	e.approve(t, e.payer, e.asset.Address)
	return e
}

func (e *env) newClient(t *testing.T, a devnet.Account) *upto.Client {
	t.Helper()
	s, err := evm.NewPrivateKeySignerFromECDSA(a.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return e.newClientFor(t, s)
}

func (e *env) newClientFor(t *testing.T, s evm.Signer) *upto.Client {
	t.Helper()
	c, err := upto.NewClient(upto.ClientConfig{Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// approve gives Permit2 an unlimited allowance of token from a.
func (e *env) approve(t *testing.T, a devnet.Account, token common.Address) {
	t.Helper()
	data := crypto.Keccak256([]byte("approve(address,uint256)"))[:4]
	data = append(data, common.LeftPadBytes(upto.Permit2Address().Bytes(), 32)...)
	data = append(data, common.LeftPadBytes(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)).Bytes(), 32)...)
	s, err := evm.NewSender(t.Context(), evm.SenderConfig{Backend: e.net.Client(), Key: a.PrivateKey, ChainID: e.net.ChainID(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Send(t.Context(), token, data)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitReceipt(t.Context(), tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("approve: %v", err)
	}
}

// requirements prices the route at max (a price like "$0.05 TPD").
func (e *env) requirements(t *testing.T, price string) x402.PaymentRequirements {
	t.Helper()
	p, err := x402.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.server.Requirements(e.network, p, e.payee.Hex(), 60)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pay signs req with c and returns the v2 payment payload.
func (e *env) pay(t *testing.T, c *upto.Client, req x402.PaymentRequirements) *x402.PaymentPayload {
	t.Helper()
	obj, err := c.CreatePayload(t.Context(), x402.V2, req)
	if err != nil {
		t.Fatal(err)
	}
	return &x402.PaymentPayload{X402Version: x402.V2, Resource: &x402.ResourceInfo{URL: "http://example.test/llm"}, Accepted: req, Payload: obj}
}

func (e *env) verify(t *testing.T, p *x402.PaymentPayload, req x402.PaymentRequirements) *x402.VerifyResponse {
	t.Helper()
	resp, err := e.fac.Verify(t.Context(), x402.NewFacilitatorRequest(p, &req))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// settle settles p for used (the server's UsageRequirements).
func (e *env) settle(t *testing.T, p *x402.PaymentPayload, used uint64) *x402.SettleResponse {
	t.Helper()
	req, err := e.server.UsageRequirements(p.Accepted, x402.NewAmount(used))
	if err != nil {
		// Sent as is: the test checks what the facilitator answers.
		req = p.Accepted
		req.Amount = x402.NewAmount(used)
	}
	resp, err := e.fac.Settle(t.Context(), x402.NewFacilitatorRequest(p, &req))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (e *env) balance(t *testing.T, a common.Address) *big.Int {
	t.Helper()
	b, err := e.net.TokenBalanceOf(t.Context(), e.asset.Address, a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gasUsed is the gas of the transaction h.
func (e *env) gasUsed(t *testing.T, h string) uint64 {
	t.Helper()
	r, err := e.net.Client().TransactionReceipt(t.Context(), common.HexToHash(h))
	if err != nil {
		t.Fatal(err)
	}
	return r.GasUsed
}

func evmPermit2() common.Address { return upto.Permit2Address() }
