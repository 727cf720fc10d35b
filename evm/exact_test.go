package evm_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// world is a devnet with a payer (account 0), a payee (account 1), spare
// payers (accounts 2 and 3) and a facilitator key (account 4).
type world struct {
	net     *devnet.Devnet
	network x402.Network
	asset   evm.Asset
	payer   devnet.Account
	payee   common.Address
	fac     *evm.ExactFacilitator
	client  *evm.ExactClient
	sender  *evm.Sender
}

func newWorld(t *testing.T, chainID uint64, mutate func(*evm.ExactFacilitatorConfig)) *world {
	t.Helper()
	return newWorldWith(t, devnet.Config{ChainID: chainID, Accounts: 5}, mutate)
}

// newWorldWith is newWorld on a devnet configured by cfg (5 accounts).
func newWorldWith(t *testing.T, cfg devnet.Config, mutate func(*evm.ExactFacilitatorConfig)) *world {
	t.Helper()
	ctx := t.Context()
	net, err := devnet.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = net.Close() })
	accts := net.Accounts()
	tok := net.Token()
	w := &world{
		net:     net,
		network: x402.Network(net.Network()),
		asset:   evm.Asset{Address: tok.Address, Symbol: tok.Symbol, Name: tok.Name, Version: tok.Version, Decimals: tok.Decimals},
		payer:   accts[0],
		payee:   accts[1].Address,
	}
	w.sender, err = evm.NewSender(ctx, evm.SenderConfig{Backend: net.Client(), Key: accts[len(accts)-1].PrivateKey, ChainID: net.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	fcfg := evm.ExactFacilitatorConfig{Network: w.network, Backend: net.Client(), Sender: w.sender, Assets: []evm.Asset{w.asset}}
	if mutate != nil {
		mutate(&fcfg)
	}
	if w.fac, err = evm.NewExactFacilitator(ctx, fcfg); err != nil {
		t.Fatal(err)
	}
	w.client = newClient(t, accts[0].PrivateKey)
	return w
}

func newClient(t *testing.T, key *ecdsa.PrivateKey) *evm.ExactClient {
	t.Helper()
	s, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) requirements(t *testing.T, price string) x402.PaymentRequirements {
	t.Helper()
	nets := &evm.Networks{}
	id, _ := w.network.ChainID()
	if err := nets.Add(evm.NetworkConfig{ChainID: id, Assets: []evm.Asset{w.asset}}); err != nil {
		t.Fatal(err)
	}
	p, err := x402.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	req, err := nets.Requirements(w.network, p, w.payee, 60)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// pay signs a v2 payment for req with c and returns the facilitator's view.
func pay(t *testing.T, c *evm.ExactClient, req x402.PaymentRequirements) *x402.Payment {
	t.Helper()
	obj, err := c.CreatePayload(t.Context(), x402.V2, req)
	if err != nil {
		t.Fatal(err)
	}
	payload := &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}
	// Through the wire, as a server would receive it.
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

// payV1 is pay for x402 v1: the payer signs signed, and the request,
// in v1 shapes through the wire, carries the server's required (whose
// network must have a v1 name).
func payV1(t *testing.T, c *evm.ExactClient, signed, required x402.PaymentRequirements) *x402.Payment {
	t.Helper()
	obj, err := c.CreatePayload(t.Context(), x402.V1, signed)
	if err != nil {
		t.Fatal(err)
	}
	reqV1, err := x402.RequirementsV1(&required, &x402.ResourceInfo{URL: "https://example.com/report"})
	if err != nil {
		t.Fatal(err)
	}
	payload := &x402.PaymentPayloadV1{X402Version: x402.V1, Scheme: signed.Scheme, Network: reqV1.Network, Payload: obj}
	body, err := json.Marshal(x402.NewFacilitatorRequestV1(payload, &reqV1))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := x402.DecodeFacilitatorRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	p, err := fr.Payment()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *world) balance(t *testing.T, who common.Address) *big.Int {
	t.Helper()
	data := append(common.FromHex("0x70a08231"), common.LeftPadBytes(who[:], 32)...)
	out, err := w.net.Client().CallContract(t.Context(), ethereum.CallMsg{To: &w.asset.Address, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

func TestExactPayVerifySettleReplay(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	if req.Amount != x402.NewAmount(1000) {
		t.Fatalf("$0.001 of a 6-decimal token = %s", req.Amount)
	}
	p := pay(t, w.client, req)

	v, err := w.fac.Verify(ctx, p)
	if err != nil || !v.IsValid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if v.Payer != w.payer.Address.Hex() {
		t.Errorf("payer %s", v.Payer)
	}
	payerBefore, payeeBefore := w.balance(t, w.payer.Address), w.balance(t, w.payee)

	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || !s.Success || s.Transaction == "" || s.Network != w.network || s.Payer != v.Payer {
		t.Fatalf("settle: %+v %v", s, err)
	}
	receipt, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(s.Transaction))
	if err != nil || receipt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt: %+v %v", receipt, err)
	}
	t.Logf("settlement gas used: %d", receipt.GasUsed)
	price := req.Amount.Big()
	if got := new(big.Int).Sub(payerBefore, w.balance(t, w.payer.Address)); got.Cmp(price) != 0 {
		t.Errorf("payer paid %s, want %s", got, price)
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(price) != 0 {
		t.Errorf("payee received %s, want %s", got, price)
	}

	// The same authorization again: rejected by verify and by settle, and
	// no funds move.
	v2, err := w.fac.Verify(ctx, p)
	if err != nil || v2.IsValid || v2.InvalidReason != x402.ReasonExactEVMNonceAlreadyUsed {
		t.Errorf("replayed verify: %+v %v", v2, err)
	}
	s2, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || s2.Success || s2.ErrorReason != x402.ReasonExactEVMNonceAlreadyUsed || s2.Transaction != "" {
		t.Errorf("replayed settle: %+v %v", s2, err)
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(price) != 0 {
		t.Errorf("after replay the payee has received %s, want %s", got, price)
	}
}

func TestDomainSeparatorMatchesChain(t *testing.T) {
	w := newWorld(t, 84532, nil)
	out, err := w.net.Client().CallContract(t.Context(), ethereum.CallMsg{To: &w.asset.Address, Data: crypto.Keccak256([]byte("DOMAIN_SEPARATOR()"))[:4]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := evm.Domain{Name: w.asset.Name, Version: w.asset.Version, ChainID: 84532, VerifyingContract: w.asset.Address}
	if common.BytesToHash(out) != d.Separator() {
		t.Errorf("on-chain DOMAIN_SEPARATOR %x, computed %x", out, d.Separator())
	}
}

// mutatePayload re-signs nothing: it edits the signed payload's JSON.
func mutatePayload(t *testing.T, p *x402.Payment, f func(*evm.ExactPayload)) *x402.Payment {
	t.Helper()
	var ep evm.ExactPayload
	if err := p.Payload.Decode(&ep); err != nil {
		t.Fatal(err)
	}
	f(&ep)
	obj, err := x402.NewObject(ep)
	if err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Payload = obj
	return &q
}

// highS returns the malleable twin (r, n-s, v^1) of a valid signature.
func highS(t *testing.T, sigHex string) string {
	t.Helper()
	sig := common.FromHex(sigHex)
	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(sig[32:64])
	s.Sub(n, s)
	out := append([]byte{}, sig[:32]...)
	out = append(out, common.LeftPadBytes(s.Bytes(), 32)...)
	out = append(out, sig[64]^1) // 27 <-> 28
	return hexutil.Encode(out)
}

func TestExactVerifyRejections(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	base := w.requirements(t, "$0.01")
	good := pay(t, w.client, base)
	poor, _ := crypto.GenerateKey() // no tokens
	stranger, _ := crypto.GenerateKey()

	withReq := func(f func(*x402.PaymentRequirements)) *x402.Payment {
		r := base
		f(&r)
		return pay(t, w.client, r)
	}
	mismatch := func(f func(*x402.PaymentRequirements)) *x402.Payment {
		// The payer signed base; the server's requirements differ.
		q := *good
		f(&q.Requirements)
		return &q
	}
	now := time.Now().Unix()
	tests := []struct {
		name   string
		p      func() *x402.Payment
		reason x402.Reason
	}{
		{"scheme", func() *x402.Payment { q := *good; q.Accepted.Scheme = "upto"; return &q }, x402.ReasonExactEVMScheme},
		{"network mismatch", func() *x402.Payment { q := *good; q.Accepted.Network = "eip155:8453"; return &q }, x402.ReasonExactEVMNetworkMismatch},
		{"network not served", func() *x402.Payment {
			q := *good
			q.Accepted.Network, q.Requirements.Network = "eip155:1", "eip155:1"
			return &q
		}, x402.ReasonExactEVMNetworkMismatch},
		{"missing EIP-712 domain", func() *x402.Payment {
			return mismatch(func(r *x402.PaymentRequirements) { r.Extra = x402.Object(`{"name":"USDC"}`) })
		}, x402.ReasonExactEVMMissingEIP712Domain},
		{"token name mismatch", func() *x402.Payment {
			return mismatch(func(r *x402.PaymentRequirements) { r.Extra = x402.Object(`{"name":"USD Coin","version":"2"}`) })
		}, x402.ReasonExactEVMTokenNameMismatch},
		{"token version mismatch", func() *x402.Payment {
			return mismatch(func(r *x402.PaymentRequirements) { r.Extra = x402.Object(`{"name":"USDC","version":"1"}`) })
		}, x402.ReasonExactEVMTokenVersionMismatch},
		{"unknown asset", func() *x402.Payment {
			return mismatch(func(r *x402.PaymentRequirements) { r.Asset = "0x0000000000000000000000000000000000000bad" })
		}, x402.ReasonInvalidPaymentRequirements},
		{"recipient", func() *x402.Payment {
			return mismatch(func(r *x402.PaymentRequirements) { r.PayTo = common.HexToAddress("0x1234").Hex() })
		}, x402.ReasonExactEVMRecipientMismatch},
		{"recipient case-insensitive match passes to next check", func() *x402.Payment {
			return mismatch(func(r *x402.PaymentRequirements) {
				r.PayTo = strings.ToLower(r.PayTo)
				r.Amount = x402.NewAmount(1)
			})
		}, x402.ReasonExactEVMValueMismatch},
		{"expired", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Authorization.ValidBefore = fmt.Sprint(now + 2) })
		}, x402.ReasonExactEVMValidBefore},
		{"not yet valid", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Authorization.ValidAfter = fmt.Sprint(now + 3600) })
		}, x402.ReasonExactEVMValidAfter},
		{"value tampered", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Authorization.Value = "1" })
		}, x402.ReasonExactEVMValueMismatch},
		{"amount tampered", func() *x402.Payment {
			return mismatch(func(r *x402.PaymentRequirements) { r.Amount = x402.NewAmount(10001) })
		}, x402.ReasonExactEVMValueMismatch},
		{"signed fields tampered", func() *x402.Payment { // within the validity bound (maxTimeoutSeconds + ValidBeforeSkew)
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Authorization.ValidBefore = fmt.Sprint(now + 90) })
		}, x402.ReasonExactEVMSignature},
		{"foreign signer", func() *x402.Payment {
			p := pay(t, newClient(t, stranger), base)
			return mutatePayload(t, p, func(e *evm.ExactPayload) { e.Authorization.From = w.payer.Address.Hex() })
		}, x402.ReasonExactEVMSignature},
		{"high-s signature", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Signature = highS(t, e.Signature) })
		}, x402.ReasonExactEVMSignature},
		{"bad v", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Signature = e.Signature[:len(e.Signature)-2] + "1d" })
		}, x402.ReasonExactEVMSignature},
		{"smart-wallet length signature from an EOA", func() *x402.Payment {
			// Not 65 bytes, not ERC-6492, and the payer has no code.
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Signature += strings.Repeat("ab", 40) })
		}, x402.ReasonExactEVMUndeployedSmartWallet},
		{"oversized signature", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Signature += strings.Repeat("ab", evm.MaxSmartWalletSignature) })
		}, x402.ReasonExactEVMSignature},
		{"odd-length signature", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Signature += "abc" })
		}, x402.ReasonExactEVMSignature},
		{"missing signature", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Signature = "" })
		}, x402.ReasonExactEVMMissingSignature},
		{"malformed nonce", func() *x402.Payment {
			return mutatePayload(t, good, func(e *evm.ExactPayload) { e.Authorization.Nonce = "0x1234" })
		}, x402.ReasonExactEVMPayload},
		{"payload not an authorization", func() *x402.Payment {
			q := *good
			q.Payload = x402.Object(`{"signature":"0x00","authorization":"nope"}`)
			return &q
		}, x402.ReasonExactEVMPayload},
		{"insufficient balance", func() *x402.Payment { return pay(t, newClient(t, poor), base) }, x402.ReasonExactEVMInsufficientBalance},
		{"transfer simulation fails", func() *x402.Payment {
			return withReq(func(r *x402.PaymentRequirements) { r.PayTo = (common.Address{}).Hex() })
		}, x402.ReasonExactEVMSimulationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := w.fac.Verify(ctx, tt.p())
			if err != nil {
				t.Fatalf("error instead of a verdict: %v", err)
			}
			if v.IsValid || v.InvalidReason != tt.reason {
				t.Errorf("got %v %q (%s), want reason %q", v.IsValid, v.InvalidReason, v.InvalidMessage, tt.reason)
			}
			if v.InvalidMessage == "" {
				t.Error("no human message")
			}
		})
	}
	// The good payment is still good: none of the above moved funds.
	if v, err := w.fac.Verify(ctx, good); err != nil || !v.IsValid {
		t.Errorf("good payment: %+v %v", v, err)
	}
}

func TestExactVerifyNotAToken(t *testing.T) {
	// Without an asset allowlist, an address with no code must not pass as
	// a token (eth_call to it "succeeds" with empty data).
	w := newWorld(t, 0, func(c *evm.ExactFacilitatorConfig) { c.Assets = nil })
	req := w.requirements(t, "$0.01")
	req.Asset = w.payee.Hex()
	v, err := w.fac.Verify(t.Context(), pay(t, w.client, req))
	if err != nil || v.IsValid || v.InvalidReason != x402.ReasonExactEVMEIP3009NotSupported {
		t.Errorf("%+v %v", v, err)
	}
}

func TestExactSettleV1(t *testing.T) {
	// v1 names chains: base-sepolia is chain 84532.
	w := newWorld(t, 84532, nil)
	ctx := t.Context()
	req := w.requirements(t, "0.05 USDC")
	p := payV1(t, w.client, req, req)
	before := w.balance(t, w.payee)
	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || !s.Success || s.Network != "base-sepolia" {
		t.Fatalf("v1 settle: %+v %v", s, err)
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), before); got.Cmp(big.NewInt(50_000)) != 0 {
		t.Errorf("payee received %s", got)
	}
}

func TestExactConcurrentSettlements(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	accts := w.net.Accounts()
	payers := []devnet.Account{accts[0], accts[2], accts[3]}
	const n = 50
	payments := make([]*x402.Payment, n)
	for i := range payments {
		payments[i] = pay(t, newClient(t, payers[i%len(payers)].PrivateKey), req)
	}
	before := w.balance(t, w.payee)
	var wg sync.WaitGroup
	results := make([]*x402.SettleResponse, n)
	errs := make([]error, n)
	for i := range payments {
		wg.Go(func() { results[i], errs[i] = w.fac.Settle(ctx, payments[i], x402.SettleHooks{}) })
	}
	wg.Wait()
	txs := map[string]bool{}
	nonces := map[uint64]bool{}
	for i := range results {
		if errs[i] != nil || !results[i].Success {
			t.Fatalf("settlement %d: %+v %v", i, results[i], errs[i])
		}
		if txs[results[i].Transaction] {
			t.Fatalf("transaction %s reported twice", results[i].Transaction)
		}
		txs[results[i].Transaction] = true
		tx, _, err := w.net.Client().TransactionByHash(ctx, common.HexToHash(results[i].Transaction))
		if err != nil {
			t.Fatal(err)
		}
		if nonces[tx.Nonce()] {
			t.Fatalf("nonce %d used twice", tx.Nonce())
		}
		nonces[tx.Nonce()] = true
	}
	for i := range uint64(n) {
		if !nonces[i] {
			t.Errorf("nonce gap at %d", i)
		}
	}
	want := new(big.Int).Mul(req.Amount.Big(), big.NewInt(n))
	if got := new(big.Int).Sub(w.balance(t, w.payee), before); got.Cmp(want) != 0 {
		t.Errorf("payee received %s, want %s", got, want)
	}
}

// hiddenReceipts is a backend whose receipts never appear: the one fault
// (a transaction broadcast but not seen mined) that a live devnet cannot
// produce on demand.
type hiddenReceipts struct{ evm.ChainBackend }

func (hiddenReceipts) TransactionReceipt(context.Context, common.Hash) (*types.Receipt, error) {
	return nil, ethereum.NotFound
}

func TestExactSettlePending(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	slow := hiddenReceipts{w.net.Client()}
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: slow, Key: w.net.Accounts()[2].PrivateKey, ChainID: w.net.ChainID(), ReceiptTimeout: 300 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fac, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: w.network, Backend: slow, Sender: sender})
	if err != nil {
		t.Fatal(err)
	}
	req := w.requirements(t, "$0.002")
	before := w.balance(t, w.payee)
	s, err := fac.Settle(ctx, pay(t, w.client, req), x402.SettleHooks{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Success || s.ErrorReason != x402.ReasonSettlementPending || s.Transaction == "" {
		t.Fatalf("want settlement_pending with a hash, got %+v", s)
	}
	// It was really broadcast: the devnet mined it.
	r, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(s.Transaction))
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("pending transaction: %+v %v", r, err)
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), before); got.Cmp(req.Amount.Big()) != 0 {
		t.Errorf("payee received %s", got)
	}
}

func TestExactClientRefuses(t *testing.T) {
	w := newWorld(t, 0, nil)
	base := w.requirements(t, "$0.01")
	for name, f := range map[string]func(*x402.PaymentRequirements){
		"other scheme": func(r *x402.PaymentRequirements) { r.Scheme = "upto" },
		"not evm":      func(r *x402.PaymentRequirements) { r.Network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp" },
		"bad asset":    func(r *x402.PaymentRequirements) { r.Asset = "USDC" },
		"bad payTo":    func(r *x402.PaymentRequirements) { r.PayTo = "0x12" },
		"no domain":    func(r *x402.PaymentRequirements) { r.Extra = nil },
		"unknown transfer method": func(r *x402.PaymentRequirements) {
			r.Extra = x402.Object(`{"name":"a","version":"1","assetTransferMethod":"erc7710"}`)
		},
		"no timeout":      func(r *x402.PaymentRequirements) { r.MaxTimeoutSeconds = 0 },
		"malformed extra": func(r *x402.PaymentRequirements) { r.Extra = x402.Object(`{"name":1}`) },
	} {
		r := base
		f(&r)
		if _, err := w.client.CreatePayload(t.Context(), x402.V2, r); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if _, err := evm.NewExactClient(evm.ExactClientConfig{}); err == nil {
		t.Error("client without signer")
	}
	if _, err := evm.NewExactFacilitator(t.Context(), evm.ExactFacilitatorConfig{Network: "eip155:1", Backend: w.net.Client()}); !errors.Is(err, evm.ErrChainIDMismatch) {
		t.Errorf("facilitator on the wrong chain: %v", err)
	}
}

func TestExactConcurrentSettleOfOneAuthorization(t *testing.T) {
	// Several resource servers settling the same authorization at once:
	// exactly one transfer, exactly one success. (Without a ledger the
	// losers may spend gas on a reverted transaction; issue 4's ledger
	// makes them return the first result instead.)
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	req := w.requirements(t, "$0.003")
	p := pay(t, w.client, req)
	before := w.balance(t, w.payee)
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
		if errs[i] != nil {
			continue // no verdict (e.g. the estimate raced the first transfer); nothing was broadcast
		}
		if r.Success {
			successes++
		} else if r.ErrorReason == x402.ReasonSettlementPending {
			t.Errorf("settlement %d pending on a live devnet: %+v", i, r)
		}
	}
	if successes != 1 {
		t.Errorf("%d successful settlements of one authorization, want 1: %+v %v", successes, results, errs)
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), before); got.Cmp(req.Amount.Big()) != 0 {
		t.Errorf("payee received %s, want %s exactly once", got, req.Amount)
	}
}

func TestExactReconcileAndBroadcastTrace(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	req := w.requirements(t, "$0.004")
	p := pay(t, w.client, req)
	key, fp, err := w.fac.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	if key.Payer != strings.ToLower(w.payer.Address.Hex()) || key.Network != w.network || len(key.Nonce) != 66 || len(fp) != 64 {
		t.Fatalf("key %+v fingerprint %q", key, fp)
	}
	// A payment differing in anything the payer signed has another fingerprint.
	if _, fp2, _ := w.fac.Identify(mutatePayload(t, p, func(e *evm.ExactPayload) { e.Authorization.Value = "1" })); fp2 == fp {
		t.Error("fingerprint ignores the value")
	}

	// Before settlement: nothing on chain.
	if _, err := w.fac.Reconcile(ctx, p, key, ""); !errors.Is(err, x402.ErrNotSettled) {
		t.Fatalf("reconcile before settlement: %v", err)
	}

	// The trace sees the transaction hash before it is broadcast; a failing
	// hook stops the broadcast and moves nothing.
	before := w.balance(t, w.payee)
	stop := errors.New("ledger unavailable")
	_, err = w.fac.Settle(ctx, p, x402.SettleHooks{BeforeBroadcast: func(context.Context, string) error { return stop }})
	if !errors.Is(err, stop) {
		t.Fatalf("settle with a failing hook: %v", err)
	}
	if w.balance(t, w.payee).Cmp(before) != 0 {
		t.Fatal("funds moved although the hook refused the broadcast")
	}
	var seen []string
	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{BeforeBroadcast: func(_ context.Context, tx string) error {
		seen = append(seen, tx)
		return nil
	}})
	if err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	if len(seen) != 1 || seen[0] != s.Transaction {
		t.Errorf("trace saw %v, settlement is %s", seen, s.Transaction)
	}

	// After settlement, with or without the recorded hash.
	for _, tx := range []string{s.Transaction, ""} {
		r, err := w.fac.Reconcile(ctx, p, key, tx)
		if err != nil || !r.Success || r.Transaction != s.Transaction {
			t.Errorf("reconcile(%q): %+v %v", tx, r, err)
		}
	}
	// A recorded hash that never reached the chain, for an unused
	// authorization: not settled.
	other := pay(t, w.client, req)
	okey, _, _ := w.fac.Identify(other)
	if _, err := w.fac.Reconcile(ctx, other, okey, common.HexToHash("0x01").Hex()); !errors.Is(err, x402.ErrNotSettled) {
		t.Errorf("reconcile of an unknown tx: %v", err)
	}
}

func TestReconcileCanceledAuthorizationIsNotAPayment(t *testing.T) {
	// The ledger recorded a transaction that never landed, and the payer
	// then canceled the authorization: on chain it is "used", but nothing
	// was paid. Reconcile must not report success.
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	req := w.requirements(t, "$0.005")
	p := pay(t, w.client, req)
	key, _, err := w.fac.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cancelAuthorization(w.sender, w.payer, common.FromHex(key.Nonce)); err != nil {
		t.Fatal(err)
	}
	for _, recorded := range []string{"", common.HexToHash("0x1234").Hex()} {
		r, err := w.fac.Reconcile(ctx, p, key, recorded)
		if err != nil || r.Success || r.ErrorReason != x402.ReasonExactEVMNonceAlreadyUsed {
			t.Errorf("reconcile with recorded tx %q after cancel: %+v %v", recorded, r, err)
		}
	}
}

// cancelAuthorization has the payer cancel an authorization nonce on chain
// (sent by sender) and waits until it is mined. It is safe to call from any
// goroutine.
func (w *world) cancelAuthorization(sender *evm.Sender, payer devnet.Account, nonce []byte) error {
	ctx := context.Background()
	d := evm.Domain{Name: w.asset.Name, Version: w.asset.Version, ChainID: w.net.ChainID().Uint64(), VerifyingContract: w.asset.Address}
	typeHash := crypto.Keccak256([]byte("CancelAuthorization(address authorizer,bytes32 nonce)"))
	structHash := crypto.Keccak256(typeHash, common.LeftPadBytes(payer.Address[:], 32), nonce)
	sep := d.Separator()
	digest := crypto.Keccak256([]byte{0x19, 0x01}, sep[:], structHash)
	sig, err := crypto.Sign(digest, payer.PrivateKey)
	if err != nil {
		return err
	}
	data := crypto.Keccak256([]byte("cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)"))[:4]
	data = append(data, common.LeftPadBytes(payer.Address[:], 32)...)
	data = append(data, nonce...)
	data = append(data, common.LeftPadBytes([]byte{sig[64] + 27}, 32)...)
	data = append(data, sig[:64]...)
	tx, err := sender.Send(ctx, w.asset.Address, data)
	if err != nil {
		return err
	}
	if r, err := sender.WaitReceipt(ctx, tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		return fmt.Errorf("cancel: %+v %v", r, err)
	}
	return nil
}
