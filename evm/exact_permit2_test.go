package evm_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// p2world is a devnet world paying the Permit2 test token (no EIP-3009,
// with EIP-2612) through the exact proxy.
type p2world struct {
	*world
	token  evm.Asset
	rpcURL string
}

func newP2World(t *testing.T) *p2world {
	t.Helper()
	// The facilitator accepts any asset: the Permit2 token's address is
	// known once the devnet is up.
	w := newWorldWith(t, devnet.Config{Accounts: 5, RPCAddr: "127.0.0.1:0"}, func(c *evm.ExactFacilitatorConfig) { c.Assets = nil })
	return &p2world{world: w, token: w.net.PermitTokenAsset(), rpcURL: w.net.RPCURL()}
}

// req returns exact requirements for amount units of the Permit2 token.
func (w *p2world) req(t *testing.T, amount uint64) x402.PaymentRequirements {
	t.Helper()
	nets := &evm.Networks{}
	id, _ := w.network.ChainID()
	if err := nets.Add(evm.NetworkConfig{ChainID: id, Assets: []evm.Asset{w.token}}); err != nil {
		t.Fatal(err)
	}
	p, _ := x402.ParsePrice("0.01 TPD")
	req, err := nets.Requirements(w.network, p, w.payee, 60)
	if err != nil {
		t.Fatal(err)
	}
	req.Amount = x402.NewAmount(amount)
	return req
}

// rpcClient is a go402 exact client of key that reads the chain.
func (w *p2world) rpcClient(t *testing.T, key *ecdsa.PrivateKey) *evm.ExactClient {
	t.Helper()
	s, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s, RPCURLs: map[x402.Network]string{w.network: w.rpcURL}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// approve makes owner approve Permit2 for amount of the token.
func (w *p2world) approve(t *testing.T, owner devnet.Account, amount *big.Int) {
	t.Helper()
	s, err := evm.NewSender(t.Context(), evm.SenderConfig{Backend: w.net.Client(), Key: owner.PrivateKey, ChainID: w.net.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	data := append(crypto.Keccak256([]byte("approve(address,uint256)"))[:4], common.LeftPadBytes(permit2.Address().Bytes(), 32)...)
	data = append(data, common.LeftPadBytes(amount.Bytes(), 32)...)
	tx, err := s.Send(t.Context(), w.token.Address, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitReceipt(t.Context(), tx.Hash()); err != nil {
		t.Fatal(err)
	}
}

func (w *p2world) tokenWord(t *testing.T, sig string, args ...common.Address) *big.Int {
	t.Helper()
	data := crypto.Keccak256([]byte(sig))[:4]
	for _, a := range args {
		data = append(data, common.LeftPadBytes(a[:], 32)...)
	}
	out, err := w.net.Client().CallContract(t.Context(), ethereum.CallMsg{To: &w.token.Address, Data: data}, nil)
	if err != nil || len(out) != 32 {
		t.Fatalf("%s: %x %v", sig, out, err)
	}
	return new(big.Int).SetBytes(out)
}

func (w *p2world) tokenBalance(t *testing.T, who common.Address) *big.Int {
	return w.tokenWord(t, "balanceOf(address)", who)
}

// payExt signs a v2 payment for req with c given the 402's declared
// extensions and returns the facilitator's view, through the wire.
func payExt(t *testing.T, c *evm.ExactClient, req x402.PaymentRequirements, declared x402.Object) *x402.Payment {
	t.Helper()
	obj, ext, err := c.CreatePayloadExtensions(t.Context(), x402.V2, req, declared)
	if err != nil {
		t.Fatal(err)
	}
	return wirePayment(t, req, obj, ext)
}

func wirePayment(t *testing.T, req x402.PaymentRequirements, obj, ext x402.Object) *x402.Payment {
	t.Helper()
	payload := &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj, Extensions: ext}
	h, err := x402.EncodePaymentSignature(payload)
	if err != nil {
		t.Fatal(err)
	}
	if payload, err = x402.DecodePaymentSignature(h); err != nil {
		t.Fatal(err)
	}
	p, err := x402.NewFacilitatorRequest(payload, &req).Payment()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func key2nonce(t *testing.T, k x402.SettlementKey) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(k.Nonce, 10)
	if !ok {
		t.Fatalf("key nonce %q", k.Nonce)
	}
	return n
}

func TestPermit2PayVerifySettleReplay(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	w.approve(t, w.payer, big.NewInt(1_000_000))
	req := w.req(t, 2500)
	p := payExt(t, w.rpcClient(t, w.payer.PrivateKey), req, nil)
	if len(p.Extensions) != 0 {
		t.Fatalf("extensions without need: %s", p.Extensions)
	}
	v, err := w.fac.Verify(ctx, p)
	if err != nil || !v.IsValid || v.Payer != w.payer.Address.Hex() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	// Nothing sent yet: reconciling finds the permit unused.
	key0, _, err := w.fac.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.fac.Reconcile(ctx, p, key0, ""); !errors.Is(err, x402.ErrNotSettled) {
		t.Fatalf("reconcile before settling: %+v %v", r, err)
	}
	before := w.tokenBalance(t, w.payee)
	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || !s.Success || s.Transaction == "" {
		t.Fatalf("settle: %+v %v", s, err)
	}
	if got := new(big.Int).Sub(w.tokenBalance(t, w.payee), before); got.Int64() != 2500 {
		t.Fatalf("payee received %s", got)
	}
	// Replay: the Permit2 nonce is spent.
	for name, f := range map[string]func() (x402.Reason, error){
		"verify": func() (x402.Reason, error) { v, err := w.fac.Verify(ctx, p); return v.InvalidReason, err },
		"settle": func() (x402.Reason, error) {
			s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
			return s.ErrorReason, err
		},
	} {
		if r, err := f(); err != nil || r != x402.ReasonPermit2InvalidNonce {
			t.Errorf("replayed %s: %s %v", name, r, err)
		}
	}
	// The key is (network, asset, owner, Permit2 nonce), as the server's.
	key, _, err := w.fac.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	id, err := (&evm.ExactServer{}).Identify(p)
	if err != nil || id.Key != key || !id.Pays(&req) {
		t.Fatalf("server key %+v %v, facilitator %+v", id.Key, err, key)
	}
	// Reconcile: the recorded transaction shows the payment.
	r, err := w.fac.Reconcile(ctx, p, key, s.Transaction)
	if err != nil || !r.Success || r.Transaction != s.Transaction {
		t.Fatalf("reconcile: %+v %v", r, err)
	}
	// Another payment reusing the nonce, with no transaction of its own,
	// is not paid by the nonce's use.
	other := wirePayment(t, req, w.signedPermit(t, w.payer.PrivateKey, req, func(q *permit2.Permit, _ *permit2.ExactWitness) {
		q.Nonce = key2nonce(t, key)
	}), nil)
	if r, err := w.fac.Reconcile(ctx, other, key, ""); err != nil || r.Success || r.ErrorReason != x402.ReasonPermit2InvalidNonce {
		t.Fatalf("reconcile of another payment with the used nonce: %+v %v", r, err)
	}
}

// TestPermit2GasSponsoring: a payer that never approved Permit2 pays when
// the 402 declares eip2612GasSponsoring: its EIP-2612 permit is submitted
// with the transfer (settleWithPermit), consumed, and the funds move.
func TestPermit2GasSponsoring(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	payer := w.net.Accounts()[2]
	c := w.rpcClient(t, payer.PrivateKey)
	req := w.req(t, 4000)
	if w.tokenWord(t, "allowance(address,address)", payer.Address, permit2.Address()).Sign() != 0 {
		t.Fatal("payer starts with an allowance")
	}
	// Without the declaration the client refuses, with a typed error.
	if _, _, err := c.CreatePayloadExtensions(ctx, x402.V2, req, nil); !errors.Is(err, evm.ErrPermit2AllowanceRequired) {
		t.Fatalf("undeclared: %v", err)
	}
	p := payExt(t, c, req, permit2.DeclareGasSponsoring())
	g, err := permit2.ParseGasSponsoring(p.Extensions)
	if err != nil || g == nil || g.Permit.Value.Int64() != 4000 || g.Permit.Spender != permit2.Address() || g.Permit.Owner != payer.Address {
		t.Fatalf("extension %s: %+v %v", p.Extensions, g, err)
	}
	if v, err := w.fac.Verify(ctx, p); err != nil || !v.IsValid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	nonceBefore := w.tokenWord(t, "nonces(address)", payer.Address)
	before := w.tokenBalance(t, w.payee)
	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	if got := new(big.Int).Sub(w.tokenBalance(t, w.payee), before); got.Int64() != 4000 {
		t.Fatalf("payee received %s", got)
	}
	if n := w.tokenWord(t, "nonces(address)", payer.Address); n.Cmp(new(big.Int).Add(nonceBefore, big.NewInt(1))) != 0 {
		t.Errorf("EIP-2612 nonce %s after settlement, was %s: the permit was not consumed", n, nonceBefore)
	}
	receipt, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(s.Transaction))
	if err != nil {
		t.Fatal(err)
	}
	withPermit := crypto.Keccak256Hash([]byte("SettledWithPermit()"))
	found := false
	for _, l := range receipt.Logs {
		found = found || (l.Address == permit2.ExactProxy() && len(l.Topics) == 1 && l.Topics[0] == withPermit)
	}
	if !found {
		t.Error("no SettledWithPermit event: settle was used")
	}
}

// TestPermit2AllowanceRequired: without an allowance and without a permit,
// the facilitator refuses with permit2_allowance_required.
func TestPermit2AllowanceRequired(t *testing.T) {
	w := newP2World(t)
	payer := w.net.Accounts()[3]
	// A client without an RPC endpoint cannot read the allowance: it signs.
	p := pay(t, newClient(t, payer.PrivateKey), w.req(t, 100))
	v, err := w.fac.Verify(t.Context(), p)
	if err != nil || v.IsValid || v.InvalidReason != x402.ReasonPermit2AllowanceRequired {
		t.Fatalf("verify: %+v %v", v, err)
	}
	s, err := w.fac.Settle(t.Context(), p, x402.SettleHooks{})
	if err != nil || s.Success || s.ErrorReason != x402.ReasonPermit2AllowanceRequired || s.Transaction != "" {
		t.Fatalf("settle: %+v %v", s, err)
	}
}

func TestPermit2ConcurrentSettleOfOnePayment(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	w.approve(t, w.payer, big.NewInt(1_000_000))
	req := w.req(t, 700)
	p := pay(t, w.client, req)
	before := w.tokenBalance(t, w.payee)
	const n = 5
	results := make([]*x402.SettleResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = w.fac.Settle(ctx, p, x402.SettleHooks{}) })
	}
	wg.Wait()
	successes := 0
	for i, r := range results {
		if errs[i] == nil && r.Success {
			successes++
		} else if errs[i] == nil && r.ErrorReason == x402.ReasonSettlementPending {
			t.Errorf("settlement %d pending on a live devnet: %+v", i, r)
		}
	}
	if successes != 1 {
		t.Errorf("%d successful settlements of one permit, want 1: %+v %v", successes, results, errs)
	}
	if got := new(big.Int).Sub(w.tokenBalance(t, w.payee), before); got.Int64() != 700 {
		t.Errorf("payee received %s, want 700 exactly once", got)
	}
}

// signedPermit signs a Permit2 payment of req by key after mutate, and
// encodes it as a payload.
func (w *p2world) signedPermit(t *testing.T, key *ecdsa.PrivateKey, req x402.PaymentRequirements, mutate func(*permit2.Permit, *permit2.ExactWitness)) x402.Object {
	t.Helper()
	s, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := permit2.NewNonce(nil)
	wit := permit2.ExactWitness{To: w.payee, ValidAfter: big.NewInt(0)}
	p := &permit2.Permit{Token: w.token.Address, Amount: req.Amount.Big(), Spender: permit2.ExactProxy(), Nonce: nonce, Deadline: big.NewInt(time.Now().Unix() + 60)}
	if mutate != nil {
		mutate(p, &wit)
	}
	p.Witness = wit
	id, _ := w.network.ChainID()
	sig, err := permit2.Sign(t.Context(), s, id, p)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := permit2.Encode(s.Address(), p, sig[:])
	if err != nil {
		t.Fatal(err)
	}
	o, err := x402.NewObject(wire)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// signedSponsor signs an EIP-2612 permit of owner for Permit2 after mutate.
func (w *p2world) signedSponsor(t *testing.T, owner devnet.Account, value int64, mutate func(*permit2.GasSponsoring)) x402.Object {
	t.Helper()
	s, _ := evm.NewPrivateKeySignerFromECDSA(owner.PrivateKey)
	g := &permit2.GasSponsoring{Asset: w.token.Address, Version: "1", Permit: permit2.EIP2612Permit{
		Owner: owner.Address, Spender: permit2.Address(), Value: big.NewInt(value),
		Nonce: w.tokenWord(t, "nonces(address)", owner.Address), Deadline: big.NewInt(time.Now().Unix() + 60)}}
	if mutate != nil {
		mutate(g)
	}
	id, _ := w.network.ChainID()
	d, err := g.Permit.Digest(permit2.TokenDomainSeparator(w.token.Name, w.token.Version, id, w.token.Address))
	if err != nil {
		t.Fatal(err)
	}
	if g.Signature, err = permit2.SignDigest(context.Background(), s, d); err != nil {
		t.Fatal(err)
	}
	ext, err := g.Extension()
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

// TestPermit2BadInput: each malformed or hostile Permit2 payment gets the
// reason code the reference gives it, and no transaction.
func TestPermit2BadInput(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	w.approve(t, w.payer, big.NewInt(1_000_000))
	req := w.req(t, 300)
	now := time.Now().Unix()
	other, _ := crypto.GenerateKey()
	fresh := w.net.Accounts()[3] // never approves Permit2
	used := w.signedPermit(t, w.payer.PrivateKey, req, nil)
	if s, err := w.fac.Settle(ctx, wirePayment(t, req, used, nil), x402.SettleHooks{}); err != nil || !s.Success {
		t.Fatalf("first settlement: %+v %v", s, err)
	}
	usedNonce, err := permit2.ParsePayload(used, permit2.KindExact)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		obj    x402.Object
		ext    x402.Object
		reason x402.Reason
	}{
		{"expired deadline", w.signedPermit(t, w.payer.PrivateKey, req, func(p *permit2.Permit, _ *permit2.ExactWitness) { p.Deadline = big.NewInt(now - 1) }), nil, x402.ReasonPermit2DeadlineExpired},
		{"deadline too far", w.signedPermit(t, w.payer.PrivateKey, req, func(p *permit2.Permit, _ *permit2.ExactWitness) { p.Deadline = big.NewInt(now + 86400) }), nil, x402.ReasonPermit2DeadlineExpired},
		{"not yet valid", w.signedPermit(t, w.payer.PrivateKey, req, func(_ *permit2.Permit, x *permit2.ExactWitness) { x.ValidAfter = big.NewInt(now + 3600) }), nil, x402.ReasonPermit2NotYetValid},
		{"wrong spender", w.signedPermit(t, w.payer.PrivateKey, req, func(p *permit2.Permit, _ *permit2.ExactWitness) { p.Spender = permit2.UptoProxy() }), nil, x402.ReasonPermit2Spender},
		{"recipient mismatch", w.signedPermit(t, w.payer.PrivateKey, req, func(_ *permit2.Permit, x *permit2.ExactWitness) { x.To = w.payer.Address }), nil, x402.ReasonPermit2RecipientMismatch},
		{"amount mismatch", w.signedPermit(t, w.payer.PrivateKey, req, func(p *permit2.Permit, _ *permit2.ExactWitness) { p.Amount = big.NewInt(299) }), nil, x402.ReasonPermit2AmountMismatch},
		{"token mismatch", w.signedPermit(t, w.payer.PrivateKey, req, func(p *permit2.Permit, _ *permit2.ExactWitness) { p.Token = w.asset.Address }), nil, x402.ReasonPermit2TokenMismatch},
		{"Permit2 nonce reuse", w.signedPermit(t, w.payer.PrivateKey, req, func(p *permit2.Permit, _ *permit2.ExactWitness) { p.Nonce = usedNonce.Permit.Nonce }), nil, x402.ReasonPermit2InvalidNonce},
		{"missing allowance without sponsoring", w.signedPermit(t, fresh.PrivateKey, req, nil), nil, x402.ReasonPermit2AllowanceRequired},
		{"2612 permit amount mismatch", w.signedPermit(t, fresh.PrivateKey, req, nil), w.signedSponsor(t, fresh, 299, nil), x402.ReasonPermit2EIP2612AmountMismatch},
		{"2612 permit of another owner", w.signedPermit(t, fresh.PrivateKey, req, nil), w.signedSponsor(t, w.payer, 300, nil), x402.ReasonEIP2612FromMismatch},
		{"2612 permit to another spender", w.signedPermit(t, fresh.PrivateKey, req, nil), w.signedSponsor(t, fresh, 300, func(g *permit2.GasSponsoring) { g.Permit.Spender = permit2.ExactProxy() }), x402.ReasonEIP2612SpenderNotPermit2},
		{"2612 permit expired", w.signedPermit(t, fresh.PrivateKey, req, nil), w.signedSponsor(t, fresh, 300, func(g *permit2.GasSponsoring) { g.Permit.Deadline = big.NewInt(now - 1) }), x402.ReasonEIP2612DeadlineExpired},
		{"2612 permit for another token", w.signedPermit(t, fresh.PrivateKey, req, nil), w.signedSponsor(t, fresh, 300, func(g *permit2.GasSponsoring) { g.Asset = w.asset.Address }), x402.ReasonEIP2612AssetMismatch},
	}
	// A signature by another key than the owner's (an EOA: no wallet to ask).
	forged := w.signedPermit(t, other, req, nil)
	var m map[string]any
	_ = forged.Decode(&m)
	m["permit2Authorization"].(map[string]any)["from"] = w.payer.Address.Hex()
	forgedObj, _ := x402.NewObject(m)
	tests = append(tests, struct {
		name   string
		obj    x402.Object
		ext    x402.Object
		reason x402.Reason
	}{"signature by another key", forgedObj, nil, x402.ReasonPermit2Signature})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wirePayment(t, req, tt.obj, tt.ext)
			v, err := w.fac.Verify(ctx, p)
			if err != nil || v.IsValid || v.InvalidReason != tt.reason {
				t.Errorf("verify: %+v %v, want %s", v, err, tt.reason)
			}
			s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
			if err != nil || s.Success || s.ErrorReason != tt.reason || s.Transaction != "" {
				t.Errorf("settle: %+v %v, want %s", s, err, tt.reason)
			}
		})
	}
}

// TestPermit2SettlementGas measures, on the devnet, the gas of one exact
// settlement over EIP-3009 (transferWithAuthorization), over Permit2 with
// an allowance (the exact proxy's settle), and over Permit2 with EIP-2612
// gas sponsoring (settleWithPermit), each settled by the facilitator and
// read from its receipt. The figures are logged (BENCHMARKS.md); the test
// asserts only what the work implies: the proxy path costs more than the
// direct EIP-3009 transfer, and the permit adds to it.
//
//	go test -count=1 -run TestPermit2SettlementGas -v ./evm
func TestPermit2SettlementGas(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	gasOf := func(p *x402.Payment) uint64 {
		t.Helper()
		s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
		if err != nil || !s.Success {
			t.Fatalf("settle: %+v %v", s, err)
		}
		r, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(s.Transaction))
		if err != nil {
			t.Fatal(err)
		}
		return r.GasUsed
	}
	eip3009 := gasOf(pay(t, w.client, w.requirements(t, "$0.001")))
	w.approve(t, w.payer, big.NewInt(1_000_000))
	viaSettle := gasOf(pay(t, w.client, w.req(t, 1000)))
	fresh := w.net.Accounts()[2]
	viaPermit := gasOf(payExt(t, w.rpcClient(t, fresh.PrivateKey), w.req(t, 1000), permit2.DeclareGasSponsoring()))
	t.Logf("gas per exact settlement: EIP-3009 %d; Permit2 settle %d (%+.0f%%); Permit2 settleWithPermit (EIP-2612) %d (%+.0f%%)",
		eip3009, viaSettle, 100*(float64(viaSettle)/float64(eip3009)-1), viaPermit, 100*(float64(viaPermit)/float64(eip3009)-1))
	if !(eip3009 < viaSettle && viaSettle < viaPermit) {
		t.Errorf("gas EIP-3009 %d, settle %d, settleWithPermit %d: want increasing", eip3009, viaSettle, viaPermit)
	}
}

// TestPermit2PermitNotNeeded: a payment carrying an EIP-2612 permit from a
// payer whose allowance already suffices is settled with the proxy's
// settle: the permit is not submitted (its nonce stays unused).
func TestPermit2PermitNotNeeded(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	w.approve(t, w.payer, big.NewInt(1_000_000))
	req := w.req(t, 500)
	p := wirePayment(t, req, w.signedPermit(t, w.payer.PrivateKey, req, nil), w.signedSponsor(t, w.payer, 500, nil))
	if v, err := w.fac.Verify(ctx, p); err != nil || !v.IsValid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	if n := w.tokenWord(t, "nonces(address)", w.payer.Address); n.Sign() != 0 {
		t.Errorf("EIP-2612 nonce %s: the permit was submitted", n)
	}
	receipt, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(s.Transaction))
	if err != nil {
		t.Fatal(err)
	}
	settled := crypto.Keccak256Hash([]byte("Settled()"))
	found := false
	for _, l := range receipt.Logs {
		found = found || (l.Address == permit2.ExactProxy() && len(l.Topics) == 1 && l.Topics[0] == settled)
	}
	if !found {
		t.Error("no Settled event")
	}
}

// TestPermit2SmartWallet: a deployed smart-contract wallet (EIP-1271) that
// approved Permit2 pays over Permit2 with its owner's signature, which
// Permit2 and the facilitator check with the wallet; once the wallet's
// owner is rotated, its old owner's payment is refused
// (invalid_permit2_signature) before anything is sent.
func TestPermit2SmartWallet(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	owner := w.net.Accounts()[2]
	ownerSigner, err := evm.NewPrivateKeySignerFromECDSA(owner.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	salt := big.NewInt(7)
	wallet, err := w.net.DeploySmartWallet(ctx, owner.Address, salt)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.net.MintToken(ctx, w.token.Address, wallet, big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	// The wallet approves Permit2 through its owner (execute).
	walletCall := func(data []byte) {
		t.Helper()
		s, err := evm.NewSender(ctx, evm.SenderConfig{Backend: w.net.Client(), Key: owner.PrivateKey, ChainID: w.net.ChainID()})
		if err != nil {
			t.Fatal(err)
		}
		exec := crypto.Keccak256([]byte("execute(address,uint256,bytes)"))[:4]
		exec = append(exec, common.LeftPadBytes(w.token.Address[:], 32)...)
		exec = append(exec, make([]byte, 32)...)
		exec = append(exec, common.LeftPadBytes(big.NewInt(96).Bytes(), 32)...)
		exec = append(exec, common.LeftPadBytes(big.NewInt(int64(len(data))).Bytes(), 32)...)
		exec = append(exec, common.RightPadBytes(data, (len(data)+31)/32*32)...)
		tx, err := s.Send(ctx, wallet, exec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitReceipt(ctx, tx.Hash()); err != nil {
			t.Fatal(err)
		}
	}
	approve := append(crypto.Keccak256([]byte("approve(address,uint256)"))[:4], common.LeftPadBytes(permit2.Address().Bytes(), 32)...)
	walletCall(append(approve, common.LeftPadBytes(big.NewInt(1_000_000).Bytes(), 32)...))

	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: w.net.SmartWalletSigner(ownerSigner, salt),
		RPCURLs: map[x402.Network]string{w.network: w.rpcURL}})
	if err != nil {
		t.Fatal(err)
	}
	req := w.req(t, 800)
	p := payExt(t, c, req, nil)
	if v, err := w.fac.Verify(ctx, p); err != nil || !v.IsValid || v.Payer != wallet.Hex() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	before := w.tokenBalance(t, w.payee)
	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	if got := new(big.Int).Sub(w.tokenBalance(t, w.payee), before); got.Int64() != 800 {
		t.Fatalf("payee received %s", got)
	}

	// The wallet says no: the owner moves to another key, and a payment
	// signed by the old owner is refused.
	rotate := crypto.Keccak256([]byte("setOwner(address)"))[:4]
	rotate = append(rotate, common.LeftPadBytes(w.net.Accounts()[3].Address[:], 32)...)
	s2, err := evm.NewSender(ctx, evm.SenderConfig{Backend: w.net.Client(), Key: owner.PrivateKey, ChainID: w.net.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s2.Send(ctx, wallet, rotate)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.WaitReceipt(ctx, tx.Hash()); err != nil {
		t.Fatal(err)
	}
	refused := payExt(t, c, req, nil)
	if v, err := w.fac.Verify(ctx, refused); err != nil || v.IsValid || v.InvalidReason != x402.ReasonPermit2Signature {
		t.Errorf("verify after rotation: %+v %v", v, err)
	}
	if s, err := w.fac.Settle(ctx, refused, x402.SettleHooks{}); err != nil || s.Success || s.ErrorReason != x402.ReasonPermit2Signature || s.Transaction != "" {
		t.Errorf("settle after rotation: %+v %v", s, err)
	}
}

// TestPermit2WithoutTokenDomain: requirements of a Permit2 token that
// name no EIP-712 domain (the reference announces name and version only
// for EIP-2612 tokens) are paid and settled, by a facilitator whose asset
// allowlist holds the token; without an allowance the client cannot sign a
// permit and says so.
func TestPermit2WithoutTokenDomain(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	fac, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: w.network, Backend: w.net.Client(), Sender: w.sender, Assets: []evm.Asset{w.token}})
	if err != nil {
		t.Fatal(err)
	}
	req := w.req(t, 600)
	req.Extra = x402.Object(`{"assetTransferMethod":"permit2"}`)
	fresh := w.net.Accounts()[3]
	if _, _, err := w.rpcClient(t, fresh.PrivateKey).CreatePayloadExtensions(ctx, x402.V2, req, permit2.DeclareGasSponsoring()); !errors.Is(err, evm.ErrPermit2AllowanceRequired) {
		t.Fatalf("no domain, no allowance: %v", err)
	}
	w.approve(t, w.payer, big.NewInt(1_000_000))
	p := payExt(t, w.rpcClient(t, w.payer.PrivateKey), req, permit2.DeclareGasSponsoring())
	if v, err := fac.Verify(ctx, p); err != nil || !v.IsValid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if s, err := fac.Settle(ctx, p, x402.SettleHooks{}); err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	// A token the allowlist does not hold is refused.
	other := req
	other.Asset = w.asset.Address.Hex()
	q := wirePayment(t, other, w.signedPermit(t, w.payer.PrivateKey, other, func(p *permit2.Permit, _ *permit2.ExactWitness) { p.Token = w.asset.Address }), nil)
	if v, err := fac.Verify(ctx, q); err != nil || v.IsValid || v.InvalidReason != x402.ReasonInvalidPaymentRequirements {
		t.Fatalf("unlisted token: %+v %v", v, err)
	}
}

// TestPermit2ClientAuthorizationState: the client keys a Permit2 payment
// as the facilitator does and reads from the chain whether its nonce was
// used, so that its budget can release a payment the server did not take.
func TestPermit2ClientAuthorizationState(t *testing.T) {
	w := newP2World(t)
	ctx := t.Context()
	w.approve(t, w.payer, big.NewInt(1_000_000))
	c := w.rpcClient(t, w.payer.PrivateKey)
	req := w.req(t, 300)
	obj, _, err := c.CreatePayloadExtensions(ctx, x402.V2, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, deadline, err := c.Authorization(req, obj)
	if err != nil {
		t.Fatal(err)
	}
	p := wirePayment(t, req, obj, nil)
	if fkey, _, err := w.fac.Identify(p); err != nil || fkey != key {
		t.Fatalf("client key %+v, facilitator %+v %v", key, fkey, err)
	}
	if used, expired, err := c.AuthorizationState(ctx, key, deadline); err != nil || used || expired {
		t.Fatalf("before settlement: used %v expired %v %v", used, expired, err)
	}
	if s, err := w.fac.Settle(ctx, p, x402.SettleHooks{}); err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	if used, _, err := c.AuthorizationState(ctx, key, deadline); err != nil || !used {
		t.Fatalf("after settlement: used %v %v", used, err)
	}
	if _, expired, err := c.AuthorizationState(ctx, key, time.Unix(1, 0)); err != nil || !expired {
		t.Fatalf("past deadline: expired %v %v", expired, err)
	}
}
