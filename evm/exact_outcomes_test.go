package evm_test

import (
	"context"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// The outcomes of ExactFacilitator.Settle and Verify that the other tests
// do not reach: a transaction mined and reverted, reverts mapped to reason
// codes at settlement, refusals before anything is sent, and the
// version-specific and go402-specific validity rules.

// signTimed signs an authorization for req with explicit validity bounds
// (unix seconds), which ExactClient never produces, and returns the v2
// payment the facilitator sees.
func (w *world) signTimed(t *testing.T, payer devnet.Account, req x402.PaymentRequirements, validAfter, validBefore int64) *x402.Payment {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	auth := &evm.Authorization{
		From: payer.Address, To: common.HexToAddress(req.PayTo), Value: req.Amount.Big(),
		ValidAfter: big.NewInt(validAfter), ValidBefore: big.NewInt(validBefore),
	}
	copy(auth.Nonce[:], common.BigToHash(big.NewInt(time.Now().UnixNano())).Bytes())
	d := evm.Domain{Name: w.asset.Name, Version: w.asset.Version, ChainID: w.net.ChainID().Uint64(), VerifyingContract: w.asset.Address}
	sig, err := evm.SignAuthorization(t.Context(), signer, d, auth)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := x402.NewObject(evm.EncodeExactPayload(auth, sig))
	if err != nil {
		t.Fatal(err)
	}
	p, err := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}, &req).Payment()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clientAt returns an ExactClient for the world's payer whose clock is off
// by skew.
func (w *world) clientAt(t *testing.T, skew time.Duration) *evm.ExactClient {
	t.Helper()
	s, err := evm.NewPrivateKeySignerFromECDSA(w.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s, Now: func() time.Time { return time.Now().Add(skew) }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// facilitatorAt returns another facilitator on the world's chain and
// sender, whose clock is off by skew, with mutate applied to its config.
func (w *world) facilitatorAt(t *testing.T, skew time.Duration, mutate func(*evm.ExactFacilitatorConfig)) *evm.ExactFacilitator {
	t.Helper()
	cfg := evm.ExactFacilitatorConfig{Network: w.network, Backend: w.net.Client(), Sender: w.sender, Assets: []evm.Asset{w.asset},
		Now: func() time.Time { return time.Now().Add(skew) }}
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := evm.NewExactFacilitator(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// tokenBalances is the payer's and the payee's token balances.
type tokenBalances struct{ payer, payee *big.Int }

func (w *world) tokenBalances(t *testing.T) tokenBalances {
	t.Helper()
	return tokenBalances{w.balance(t, w.payer.Address), w.balance(t, w.payee)}
}

func (w *world) requireUnchanged(t *testing.T, before tokenBalances) {
	t.Helper()
	if after := w.tokenBalances(t); after.payer.Cmp(before.payer) != 0 || after.payee.Cmp(before.payee) != 0 {
		t.Errorf("funds moved: payer %s -> %s, payee %s -> %s", before.payer, after.payer, before.payee, after.payee)
	}
}

// settleTraced settles p with a Broadcast trace and returns the result and
// the transaction ids the trace saw.
func settleTraced(ctx context.Context, f *evm.ExactFacilitator, p *x402.Payment, onBroadcast func()) (*x402.SettleResponse, []string, error) {
	var (
		mu   sync.Mutex
		seen []string
	)
	s, err := f.Settle(ctx, p, x402.SettleHooks{BeforeBroadcast: func(_ context.Context, tx string) error {
		mu.Lock()
		seen = append(seen, tx)
		mu.Unlock()
		if onBroadcast != nil {
			onBroadcast()
		}
		return nil
	}})
	mu.Lock()
	defer mu.Unlock()
	return s, seen, err
}

// TestExactSettleMinedAndReverted: the authorization passes every check and
// the gas estimate, then its payer cancels it on chain before the
// settlement is broadcast. The settlement is mined and reverts: a failure
// (not pending, not an error) that carries the transaction hash.
func TestExactSettleMinedAndReverted(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	// The cancellation goes out from another key: the facilitator's own
	// Sender is busy sending the settlement while the hook runs.
	other, err := evm.NewSender(ctx, evm.SenderConfig{Backend: w.net.Client(), Key: w.net.Accounts()[3].PrivateKey, ChainID: w.net.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	req := w.requirements(t, "$0.002")
	p := pay(t, w.client, req)
	key, _, err := w.fac.Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	before := w.tokenBalances(t)
	var once sync.Once
	var cancelErr error
	s, seen, err := settleTraced(ctx, w.fac, p, func() {
		once.Do(func() { cancelErr = w.cancelAuthorization(other, w.payer, common.FromHex(key.Nonce)) })
	})
	if cancelErr != nil {
		t.Fatalf("front-running cancel: %v", cancelErr)
	}
	if err != nil {
		t.Fatalf("error instead of a verdict: %v", err)
	}
	if len(seen) == 0 {
		t.Fatal("the Broadcast hook never ran")
	}
	if s.Success || s.ErrorReason != x402.ReasonExactEVMTransactionFailed || s.ErrorMessage == "" {
		t.Fatalf("want a failure with %s, got %+v", x402.ReasonExactEVMTransactionFailed, s)
	}
	if s.Transaction != seen[len(seen)-1] || s.Payer != w.payer.Address.Hex() || s.Network != w.network {
		t.Errorf("settle response %+v; the trace saw %v", s, seen)
	}
	receipt, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(s.Transaction))
	if err != nil || receipt.Status != types.ReceiptStatusFailed {
		t.Fatalf("the reported transaction was not mined and reverted: %+v %v", receipt, err)
	}
	w.requireUnchanged(t, before)
	if err := s.Validate(); err != nil {
		t.Errorf("the failure does not encode: %v", err)
	}
}

// TestExactSettleRevertMapping: a transfer that passes the local and
// chain-state checks but that the token rejects when the settlement is
// estimated is answered with the reason of the token's revert, without a
// transaction, and moves nothing. Verify's simulation answers the same.
func TestExactSettleRevertMapping(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	tests := []struct {
		name string
		// skew is the clock error of the client and of the facilitator
		// (the chain keeps the real time).
		skew   time.Duration
		mutate func(*evm.ExactFacilitatorConfig)
		// extra, if set, is the requirements' EIP-712 domain, which the
		// client signs in and the token does not have.
		extra  string
		reason x402.Reason
	}{
		{"expired on chain (AuthorizationExpired)", -time.Hour, nil, "", x402.ReasonExactEVMValidBefore},
		{"not yet valid on chain (AuthorizationNotYetValid)", time.Hour, nil, "", x402.ReasonExactEVMValidAfter},
		{"signed in another domain (InvalidSignature)", 0, func(c *evm.ExactFacilitatorConfig) { c.Assets = nil },
			`{"name":"Not The Token","version":"2"}`, x402.ReasonExactEVMSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := w.facilitatorAt(t, tt.skew, tt.mutate)
			req := w.requirements(t, "$0.001")
			if tt.extra != "" {
				req.Extra = x402.Object(tt.extra)
			}
			p := pay(t, w.clientAt(t, tt.skew), req)
			before := w.tokenBalances(t)

			v, err := f.Verify(ctx, p)
			if err != nil || v.IsValid || v.InvalidReason != tt.reason {
				t.Errorf("verify: %+v %v, want %s", v, err, tt.reason)
			}
			s, seen, err := settleTraced(ctx, f, p, nil)
			if err != nil {
				t.Fatalf("error instead of a verdict: %v", err)
			}
			if s.Success || s.ErrorReason != tt.reason || s.ErrorMessage == "" || s.Transaction != "" || s.Payer != w.payer.Address.Hex() {
				t.Errorf("settle: %+v, want %s without a transaction", s, tt.reason)
			}
			if len(seen) != 0 {
				t.Errorf("a transaction was about to be broadcast: %v", seen)
			}
			w.requireUnchanged(t, before)
		})
	}
}

// TestExactRefusedBeforeSending: payments refused by the local checks are
// refused alike by Verify and Settle, before any chain call that could
// move funds.
func TestExactRefusedBeforeSending(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	base := w.requirements(t, "$0.001")
	good := pay(t, w.client, base)
	withExtra := func(extra string) func() *x402.Payment {
		return func() *x402.Payment {
			q := *good
			q.Accepted.Extra, q.Requirements.Extra = x402.Object(extra), x402.Object(extra)
			return &q
		}
	}
	tests := []struct {
		name   string
		p      func() *x402.Payment
		reason x402.Reason
	}{
		{"permit2 transfer method", withExtra(`{"name":"USDC","version":"2","assetTransferMethod":"permit2"}`), x402.ReasonUnsupportedPayloadType},
		{"unknown transfer method", withExtra(`{"name":"USDC","version":"2","assetTransferMethod":"erc7710"}`), x402.ReasonUnsupportedPayloadType},
		// What evm.Asset.Extra emits for a Permit2 asset.
		{"extra of a Permit2 asset", withExtra(string(evm.Asset{Address: w.asset.Address, Name: "USDC", Version: "2", TransferMethod: evm.TransferPermit2}.Extra())), x402.ReasonUnsupportedPayloadType},
		{"zero amount", func() *x402.Payment {
			r := base
			r.Amount = x402.Amount{}
			return pay(t, w.client, r) // the payer signs a zero transfer
		}, x402.ReasonInvalidPaymentRequirements},
		{"payload keys differing only in case", func() *x402.Payment {
			q := *good
			var m map[string]json.RawMessage
			if err := json.Unmarshal(good.Payload, &m); err != nil {
				t.Fatal(err)
			}
			// JavaScript would read "signature", encoding/json "Signature".
			m["Signature"] = json.RawMessage(`"0x00"`)
			obj, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			q.Payload = obj
			return &q
		}, x402.ReasonExactEVMPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p()
			before := w.tokenBalances(t)
			v, err := w.fac.Verify(ctx, p)
			if err != nil || v.IsValid || v.InvalidReason != tt.reason || v.InvalidMessage == "" {
				t.Errorf("verify: %+v %v, want %s", v, err, tt.reason)
			}
			s, seen, err := settleTraced(ctx, w.fac, p, nil)
			if err != nil || s.Success || s.ErrorReason != tt.reason || s.Transaction != "" || len(seen) != 0 {
				t.Errorf("settle: %+v %v (trace %v), want %s and nothing sent", s, err, seen, tt.reason)
			}
			w.requireUnchanged(t, before)
		})
	}
	// The good payment was never spent by the refusals, and settles with a
	// transaction hash: go402's exact scheme never reports success
	// without one.
	s, seen, err := settleTraced(ctx, w.fac, good, nil)
	if err != nil || !s.Success || s.Transaction == "" || len(seen) != 1 || seen[0] != s.Transaction {
		t.Fatalf("good payment: %+v %v (trace %v)", s, err, seen)
	}
}

// TestExactValidityUpperBound: go402 refuses an authorization that stays
// valid longer than the requirements' maxTimeoutSeconds plus
// evm.ValidBeforeSkew (a hardening; the reference has no upper bound).
func TestExactValidityUpperBound(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	skew := int64(evm.ValidBeforeSkew / time.Second)
	tests := []struct {
		name    string
		timeout int   // requirements' maxTimeoutSeconds
		before  int64 // validBefore - now
		ok      bool
	}{
		{"as the reference clients sign", 60, 60, true},
		{"within the skew", 60, 60 + skew - 5, true},
		{"beyond the skew", 60, 60 + skew + 5, false},
		{"an hour for a minute (the Go SDK's client)", 60, 3600, false},
		{"an hour for an hour", 3600, 3600, true},
		{"a year", 300, 365 * 24 * 3600, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := w.requirements(t, "$0.001")
			req.MaxTimeoutSeconds = tt.timeout
			now := time.Now().Unix()
			p := w.signTimed(t, w.payer, req, now-600, now+tt.before)
			v, err := w.fac.Verify(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if tt.ok {
				if !v.IsValid {
					t.Errorf("refused: %+v", v)
				}
				return
			}
			if v.IsValid || v.InvalidReason != x402.ReasonExactEVMValidBefore || v.InvalidMessage == "" {
				t.Errorf("verify: %+v, want %s", v, x402.ReasonExactEVMValidBefore)
			}
			before := w.tokenBalances(t)
			if s, err := w.fac.Settle(ctx, p, x402.SettleHooks{}); err != nil || s.Success || s.ErrorReason != x402.ReasonExactEVMValidBefore || s.Transaction != "" {
				t.Errorf("settle: %+v %v", s, err)
			}
			w.requireUnchanged(t, before)
		})
	}
	// ExactClient caps what it signs at an hour, so even a server asking
	// for a day gets an authorization that passes.
	req := w.requirements(t, "$0.001")
	req.MaxTimeoutSeconds = 86400
	if v, err := w.fac.Verify(ctx, pay(t, w.client, req)); err != nil || !v.IsValid {
		t.Errorf("a client-signed payment for a one-day timeout: %+v %v", v, err)
	}
}

// TestExactValueMismatchCodeByVersion: the reference answers a value that
// differs from the amount with invalid_exact_evm_authorization_value in v1
// and invalid_exact_evm_payload_authorization_value_mismatch in v2; so
// does go402.
func TestExactValueMismatchCodeByVersion(t *testing.T) {
	w := newWorld(t, 84532, nil) // v1 names chain 84532 base-sepolia
	ctx := t.Context()
	signed := w.requirements(t, "$0.001")
	required := signed
	required.Amount = x402.NewAmount(2000)

	// v2: the server requires 2000; the payer accepted and signed 1000.
	p2 := pay(t, w.client, signed)
	p2.Requirements = required
	// v1: the same, in v1 shapes through the wire.
	p1 := payV1(t, w.client, signed, required)
	for _, tt := range []struct {
		p      *x402.Payment
		reason x402.Reason
	}{
		{p2, x402.ReasonExactEVMValueMismatch},
		{p1, x402.ReasonExactEVMAuthorizationValue},
	} {
		v, err := w.fac.Verify(ctx, tt.p)
		if err != nil || v.IsValid || v.InvalidReason != tt.reason {
			t.Errorf("v%d verify: %+v %v, want %s", tt.p.Version, v, err, tt.reason)
		}
		s, err := w.fac.Settle(ctx, tt.p, x402.SettleHooks{})
		if err != nil || s.Success || s.ErrorReason != tt.reason || s.Transaction != "" {
			t.Errorf("v%d settle: %+v %v, want %s", tt.p.Version, s, err, tt.reason)
		}
	}
}
