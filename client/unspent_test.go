package client_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// hostile is a server on the shop's devnet that answers every payment with
// 402, real x402 requirements and a failed settlement report. With settle
// it first settles the authorization itself, straight through the token
// (transferWithAuthorization from a devnet account): it takes the money
// and says it did not. Either way it keeps what it was sent.
type hostile struct {
	srv    *httptest.Server
	req    x402.PaymentRequirements
	payee  common.Address
	settle bool

	mu   sync.Mutex
	paid []evm.ExactPayload // the authorizations received
}

func (s *shop) hostile(t *testing.T, price string, maxTimeout int, settle bool) *hostile {
	t.Helper()
	p, err := x402.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{payee: s.payees[1], settle: settle}
	if h.req, err = s.nets.Requirements("eip155:84532", p, h.payee, maxTimeout); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "payment required"
		if sig := r.Header.Get(x402.HeaderPaymentSignature); sig != "" {
			msg = "settlement failed"
			h.receive(t, s, sig)
			enc, _ := x402.EncodePaymentResponse(&x402.SettleResponse{ErrorReason: x402.ReasonUnexpectedSettleError, ErrorMessage: "settlement failed", Network: "eip155:84532"})
			w.Header().Set(x402.HeaderPaymentResponse, enc)
		}
		pr, err := x402.EncodePaymentRequired(&x402.PaymentRequired{X402Version: x402.V2, Error: msg, Resource: x402.ResourceInfo{URL: "http://" + r.Host + r.URL.Path}, Accepts: []x402.PaymentRequirements{h.req}})
		if err != nil {
			t.Error(err)
		}
		w.Header().Set(x402.HeaderPaymentRequired, pr)
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// receive keeps a payment and, with settle, settles it.
func (h *hostile) receive(t *testing.T, s *shop, header string) {
	p, err := x402.DecodePaymentSignature(header)
	if err != nil {
		t.Error(err)
		return
	}
	var ep evm.ExactPayload
	if err := p.Payload.Decode(&ep); err != nil {
		t.Error(err)
		return
	}
	h.mu.Lock()
	h.paid = append(h.paid, ep)
	h.mu.Unlock()
	if h.settle {
		s.settleAuthorization(t, &ep)
	}
}

// settleAuthorization sends transferWithAuthorization of ep from devnet
// account 4 and waits until it is mined successfully.
func (s *shop) settleAuthorization(t *testing.T, ep *evm.ExactPayload) {
	ctx := t.Context()
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: s.net.Client(), Key: s.net.Accounts()[4].PrivateKey, ChainID: s.net.ChainID(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Error(err)
		return
	}
	sig, err := evm.ParseSignature(ep.Signature)
	if err != nil {
		t.Error(err)
		return
	}
	num := func(v string) *big.Int { n, _ := new(big.Int).SetString(v, 10); return n }
	a := &evm.Authorization{
		From: common.HexToAddress(ep.Authorization.From), To: common.HexToAddress(ep.Authorization.To),
		Value: num(ep.Authorization.Value), ValidAfter: num(ep.Authorization.ValidAfter), ValidBefore: num(ep.Authorization.ValidBefore),
		Nonce: [32]byte(common.FromHex(ep.Authorization.Nonce)),
	}
	tx, err := sender.Send(ctx, s.net.Token().Address, evm.TransferWithAuthorizationCalldata(a, sig))
	if err != nil {
		t.Error(err)
		return
	}
	if r, err := s.net.WaitMined(ctx, tx.Hash()); err != nil || r.Status != 1 {
		t.Errorf("settling the authorization: %v %+v", err, r)
	}
}

func (h *hostile) payloads() []evm.ExactPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]evm.ExactPayload(nil), h.paid...)
}

// clientWith returns a Client paying from the shop's payer, reading the
// chain through the devnet's RPC endpoint when rpc is set.
func (s *shop) clientWith(t *testing.T, p client.Policy, rpc bool) (*client.Client, *countingSigner) {
	t.Helper()
	sig := signer(t, s.payer)
	cfg := client.Config{Assets: s.assets, Policy: p}
	if rpc {
		cfg.RPCURLs = s.rpc()
	}
	c, err := client.NewEVM(sig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, sig
}

func (s *shop) rpc() map[x402.Network]string {
	return map[x402.Network]string{"eip155:84532": s.net.RPCURL()}
}

func spending(t *testing.T, c *client.Client) client.Spending {
	t.Helper()
	sp, err := c.Spending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// A server that settles the authorization it was sent and answers 402
// cannot talk the client out of its budget: the payment stays spent,
// with or without an RPC endpoint, and the next one is refused unsigned.
func TestSettledThen402StaysSpent(t *testing.T) {
	s := newShop(t)
	h := s.hostile(t, "$0.05", 300, true)
	for _, rpc := range []bool{true, false} {
		t.Run(map[bool]string{true: "rpc", false: "no rpc"}[rpc], func(t *testing.T) {
			c, sig := s.clientWith(t, client.Policy{Budget: "$0.05"}, rpc)
			before := s.balance(t, h.payee)
			_, err := s.get(t, c, h.srv.URL+"/report")
			var pe *client.PaymentError
			if !errors.As(err, &pe) || pe.Unspent || !errors.Is(err, client.ErrPaymentOutcomeUnknown) || !errors.Is(err, client.ErrPaymentRejected) {
				t.Fatalf("err = %v, want a rejection not proven unspent", err)
			}
			if got := new(big.Int).Sub(s.balance(t, h.payee), before); got.Cmp(big.NewInt(50_000)) != 0 {
				t.Fatalf("the hostile server took %s", got)
			}
			sp := spending(t, c)
			wantOutstanding := map[bool]string{true: "0", false: "0.05"}[rpc]
			if sp.Spent != "0.05" || sp.Outstanding != wantOutstanding || sp.Reserved != "0" || sp.Payments != 1 {
				t.Errorf("spending %+v, want 0.05 spent, %s of it outstanding", sp, wantOutstanding)
			}
			_, err = s.get(t, c, h.srv.URL+"/report")
			var refused *client.PolicyError
			if !errors.As(err, &refused) || refused.Rule != client.RuleBudget {
				t.Errorf("second payment: %v, want a budget refusal", err)
			}
			if sig.n.Load() != 1 {
				t.Errorf("%d signatures, want 1", sig.n.Load())
			}
		})
	}
}

// A server that answers 402 without settling: with an RPC endpoint the
// chain shows the authorization unused and the budget is released at once;
// it is still watched, so that if the server settles it later, before it
// expires, it is counted again.
func TestRefusedUnusedPaymentIsReleasedAndWatched(t *testing.T) {
	s := newShop(t)
	h := s.hostile(t, "$0.05", 300, false)
	c, _ := s.clientWith(t, client.Policy{Budget: "$0.05", MaxValidity: 20 * time.Second}, true)
	_, err := s.get(t, c, h.srv.URL+"/report")
	var pe *client.PaymentError
	if !errors.As(err, &pe) || !pe.Unspent || errors.Is(err, client.ErrPaymentOutcomeUnknown) {
		t.Fatalf("err = %v, want a rejection proven unspent", err)
	}
	if sp := spending(t, c); sp.Spent != "0" || sp.Outstanding != "0" || sp.Reserved != "0" {
		t.Fatalf("spending %+v, want it released", sp)
	}
	// The server settles the authorization it kept, too late to fool the
	// client for good: once it expires, Reclaim finds it used.
	paid := h.payloads()
	if len(paid) != 1 {
		t.Fatalf("%d payments received", len(paid))
	}
	s.settleAuthorization(t, &paid[0])
	waitReclaimed(t, c, func(sp client.Spending) bool { return sp.Spent == "0.05" })
	if sp := spending(t, c); sp.Outstanding != "0" || sp.Payments != 1 {
		t.Errorf("spending %+v", sp)
	}
}

// Without an RPC endpoint a refused payment stays counted, in the budget
// file too; a later run that can read the chain releases it once it has
// expired unused.
func TestRefusedPaymentWithoutRPCIsKeptUntilExpired(t *testing.T) {
	s := newShop(t)
	h := s.hostile(t, "$0.05", 300, false)
	file := filepath.Join(t.TempDir(), "spent.json")
	policy := client.Policy{Budget: "$0.05", BudgetFile: file, MaxValidity: 2 * time.Second}
	c, sig := s.clientWith(t, policy, false)
	_, err := s.get(t, c, h.srv.URL+"/report")
	var pe *client.PaymentError
	if !errors.As(err, &pe) || pe.Unspent || pe.ValidBefore.IsZero() || !errors.Is(err, client.ErrPaymentOutcomeUnknown) {
		t.Fatalf("err = %v, want a rejection not proven unspent", err)
	}
	if !strings.Contains(err.Error(), "may still be settled until") {
		t.Errorf("message %q", err)
	}
	if sp := spending(t, c); sp.Spent != "0.05" || sp.Outstanding != "0.05" {
		t.Fatalf("spending %+v, want it kept", sp)
	}
	// The file records the authorization, without its signature.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Version     int `json:"version"`
		Outstanding map[string]struct {
			Network, Asset, Payer, Nonce string
			ValidBefore                  time.Time
		} `json:"outstanding"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	paid := h.payloads()
	if st.Version != 2 || len(st.Outstanding) != 1 || len(paid) != 1 || strings.Contains(string(data), strings.TrimPrefix(paid[0].Signature, "0x")) {
		t.Fatalf("budget file:\n%s", data)
	}
	for _, o := range st.Outstanding {
		if o.Network != "eip155:84532" || !strings.EqualFold(o.Asset, s.net.Token().Address.Hex()) || !strings.EqualFold(o.Payer, s.payer.Address.Hex()) ||
			o.Nonce != paid[0].Authorization.Nonce || o.ValidBefore.Unix() != pe.ValidBefore.Unix() {
			t.Errorf("outstanding %+v, payload %+v", o, paid[0].Authorization)
		}
	}
	// This client cannot read the chain: even expired, it stays counted.
	for !time.Now().After(pe.ValidBefore.Add(time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Reclaim(t.Context()); !errors.Is(err, evm.ErrNoRPC) {
		t.Errorf("Reclaim without RPC: %v", err)
	}
	if _, err := s.get(t, c, h.srv.URL+"/report"); !isBudgetRefusal(err) || sig.n.Load() != 1 {
		t.Errorf("paying again: %v after %d signatures", err, sig.n.Load())
	}
	// A later run with an RPC endpoint releases it.
	later, _ := s.clientWith(t, policy, true)
	waitReclaimed(t, later, func(sp client.Spending) bool { return sp.Spent == "0" && sp.Outstanding == "0" })
}

func isBudgetRefusal(err error) bool {
	var pe *client.PolicyError
	return errors.As(err, &pe) && pe.Rule == client.RuleBudget
}

// waitReclaimed calls Reclaim until done accepts the spending: the chain
// must mine a block past the authorization's validity first.
func waitReclaimed(t *testing.T, c *client.Client, done func(client.Spending) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.Reclaim(t.Context())
		sp := spending(t, c)
		if done(sp) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reclaimed: %+v (last Reclaim: %v)", sp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The client signs for no longer than Policy.MaxValidity, whatever
// maxTimeoutSeconds the server asks for; the payload still names the
// server's requirements as accepted.
func TestValidityWindowIsCapped(t *testing.T) {
	s := newShop(t)
	h := s.hostile(t, "$0.001", 3600, false)
	for _, tc := range []struct {
		max  time.Duration
		want time.Duration
	}{{0, client.DefaultMaxValidity}, {30 * time.Second, 30 * time.Second}} {
		c, _ := s.clientWith(t, client.Policy{MaxValidity: tc.max}, false)
		start := time.Now()
		_, _ = s.get(t, c, h.srv.URL+"/report")
		paid := h.payloads()
		vb, _ := new(big.Int).SetString(paid[len(paid)-1].Authorization.ValidBefore, 10)
		if limit := start.Add(tc.want).Unix() + 1; vb == nil || vb.Int64() > limit || vb.Int64() < start.Unix() {
			t.Errorf("MaxValidity %v: validBefore %v, want at most %d", tc.max, vb, limit)
		}
	}
	if err := (client.Policy{MaxValidity: time.Millisecond}).Validate(); err == nil {
		t.Error("MaxValidity of 1ms accepted")
	}
}
