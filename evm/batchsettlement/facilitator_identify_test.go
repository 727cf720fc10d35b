package batchsettlement_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/go402/go402/evm"
	bs "github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// TestFacilitatorIdentify: the settle-once keys of deposits (the ERC-3009
// nonce), claims (the ClaimBatch digest) and completed refunds (the refund
// nonce); the same payload has the same key and fingerprint, other content
// under the same key another fingerprint; vouchers, settles and refunds as
// the payer sends them have no key.
func TestFacilitatorIdentify(t *testing.T) {
	f := newFixture(t, false)
	scheme := f.scheme(t)
	ra := f.serverRA.Address()
	req := f.requirements(ra, 10)
	cfg := f.channel(ra)
	identify := func(pl bs.Payload) (x402.SettlementKey, string, error) {
		p, err := f.request(pl, req).Payment()
		if err != nil {
			t.Fatal(err)
		}
		return scheme.Identify(p)
	}

	dep := f.deposit(cfg, 100, 10)
	key, fp, err := identify(dep)
	nonce := bs.ERC3009DepositNonce(f.id(cfg), dep.Deposit.Authorization.ERC3009Authorization.Salt)
	if err != nil || key.Nonce != strings.ToLower(nonce.Hex()) || key.Payer != strings.ToLower(f.payer.Address().Hex()) ||
		key.Asset != strings.ToLower(f.token.Address.Hex()) || key.Network != req.Network {
		t.Fatalf("deposit key %+v %v", key, err)
	}
	if k2, fp2, _ := identify(dep); k2 != key || fp2 != fp {
		t.Fatal("the same deposit identified differently")
	}
	other := *dep
	other.Voucher = f.voucher(cfg, 11)
	if k2, fp2, _ := identify(&other); k2 != key || fp2 == fp {
		t.Fatalf("the same authorization with another voucher: %+v %s", k2, fp2)
	}

	claim := &bs.ClaimPayload{Claims: []bs.VoucherClaim{f.claim(cfg, 10, 10)}}
	if key, _, err := identify(claim); err != nil || !strings.HasPrefix(key.Nonce, "claim/0x") {
		t.Fatalf("claim key %+v %v", key, err)
	}
	refund := f.refund(cfg, 10, 50, 3, nil)
	if key, _, err := identify(refund); err != nil || key.Nonce != "refund/"+strings.ToLower(f.id(cfg).Hex())+"/3" {
		t.Fatalf("refund key %+v %v", key, err)
	}
	for _, pl := range []bs.Payload{
		&bs.VoucherPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, 10)},
		&bs.SettlePayload{Receiver: f.receiver, Token: f.token.Address},
		&bs.RefundPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, 10)},
	} {
		if _, _, err := identify(pl); !errors.Is(err, bs.ErrNoSettlementKey) {
			t.Errorf("%s: %v", pl.Type(), err)
		}
	}
}

// TestFacilitatorWrongPayloads: payloads sent to the wrong endpoint, or
// of another scheme, are refused with the reference's codes.
func TestFacilitatorWrongPayloads(t *testing.T) {
	f := newFixture(t, false)
	scheme := f.scheme(t)
	ra := f.serverRA.Address()
	req := f.requirements(ra, 10)
	cfg := f.channel(ra)
	payment := func(pl bs.Payload, mutate func(*x402.FacilitatorRequest)) *x402.Payment {
		r := f.request(pl, req)
		if mutate != nil {
			mutate(r)
		}
		p, err := r.Payment()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	exact := func(r *x402.FacilitatorRequest) { r.Payload.Accepted.Scheme = "exact" }
	funded := f.fund(ra, 100)
	for _, c := range []struct {
		name   string
		p      *x402.Payment
		verify bool
		reason x402.Reason
	}{
		{"verify a claim", payment(&bs.ClaimPayload{Claims: []bs.VoucherClaim{f.claim(cfg, 1, 1)}}, nil), true, x402.ReasonBatchPayloadType},
		{"verify a settle", payment(&bs.SettlePayload{Receiver: f.receiver, Token: f.token.Address}, nil), true, x402.ReasonBatchPayloadType},
		{"settle a voucher", payment(&bs.VoucherPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, 1)}, nil), false, x402.ReasonBatchPayloadType},
		{"settle a refund as the payer sends it", payment(&bs.RefundPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, 1)}, nil), false, x402.ReasonBatchPayloadType},
		{"another scheme", payment(&bs.VoucherPayload{ChannelConfig: cfg, Voucher: f.voucher(cfg, 1)}, exact), true, x402.ReasonBatchScheme},
		{"an unsigned refund, no receiver-authorizer key", payment(f.refund(funded, 1, 1, 0, nil), nil), false, x402.ReasonBatchAuthorizerNotConfigured},
		{"a refund of an empty channel", payment(f.refund(cfg, 1, 1, 0, nil), nil), false, x402.ReasonBatchRefundNoBalance},
	} {
		t.Run(c.name, func(t *testing.T) {
			var reason x402.Reason
			if c.verify {
				v, err := scheme.Verify(f.ctx, c.p)
				if err != nil || v.IsValid {
					t.Fatalf("verify: %+v %v", v, err)
				}
				reason = v.InvalidReason
			} else {
				s, err := scheme.Settle(f.ctx, c.p, x402.SettleHooks{})
				if err != nil || s.Success || s.Transaction != "" {
					t.Fatalf("settle: %+v %v", s, err)
				}
				reason = s.ErrorReason
			}
			if reason != c.reason {
				t.Fatalf("reason %s, want %s", reason, c.reason)
			}
		})
	}
}

// scheme is an in-process facilitator scheme on the fixture's chain,
// sending from devnet account 6.
func (f *fixture) scheme(t *testing.T) *bs.Facilitator {
	t.Helper()
	sender, err := evm.NewSender(f.ctx, evm.SenderConfig{Backend: f.client, Key: f.st.Accounts[6].PrivateKey})
	if err != nil {
		t.Fatal(err)
	}
	s, err := bs.NewFacilitator(f.ctx, bs.FacilitatorConfig{Network: x402.Network(f.st.Devnet.Network()), Backend: f.client, Sender: sender})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
