package batchsettlement

import (
	"context"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// testKeys are well-known test keys: the payer and another signer.
const (
	payerKey   = xcheckKey
	strangeKey = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
)

func mustSigner(t testing.TB, key string) *evm.PrivateKeySigner {
	t.Helper()
	s, err := evm.NewPrivateKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVoucher(t testing.TB, s evm.Signer, chainID uint64, id common.Hash, amount uint64) Voucher {
	t.Helper()
	v, err := SignVoucher(context.Background(), s, chainID, id, x402.NewAmount(amount))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyVerdicts(t *testing.T) {
	const chainID = 84532
	payer, stranger := mustSigner(t, payerKey), mustSigner(t, strangeKey)
	cfg := xcheckConfig(payer.Address())
	v := NewChannelVerifier(cfg, chainID)
	id := v.ChannelID()
	other := cfg
	other.Salt = common.HexToHash("0x02")
	otherID := ChannelID(other, chainID)

	good := mustVoucher(t, payer, chainID, id, 1010)
	highS := good
	highS.Signature = flipS(good.Signature)
	wrongV := good
	wrongV.Signature = append([]byte(nil), good.Signature...)
	wrongV.Signature[64] ^= 1 // 27 <-> 28: recovers another address
	short := good
	short.Signature = good.Signature[:64]
	exp := Expectation{Charged: x402.NewAmount(1000), Price: x402.NewAmount(10), Balance: x402.NewAmount(5000), TotalClaimed: x402.NewAmount(500)}

	tests := []struct {
		name     string
		voucher  Voucher
		mod      func(*Expectation)
		verifier *ChannelVerifier
		want     x402.Reason
		needFac  bool
	}{
		{name: "valid", voucher: good},
		{name: "wrong signer", voucher: mustVoucher(t, stranger, chainID, id, 1010), want: x402.ReasonBatchVoucherSignature},
		{name: "signed on another chain", voucher: mustVoucher(t, payer, 1, id, 1010), want: x402.ReasonBatchVoucherSignature},
		{name: "wrong channel id", voucher: mustVoucher(t, payer, chainID, otherID, 1010), want: x402.ReasonBatchChannelIDMismatch},
		{name: "cumulative too low (replay of the previous voucher)", voucher: mustVoucher(t, payer, chainID, id, 1000), want: x402.ReasonBatchCumulativeAmountMismatch},
		{name: "cumulative too high", voucher: mustVoucher(t, payer, chainID, id, 1011), want: x402.ReasonBatchCumulativeAmountMismatch},
		{name: "exceeds balance", voucher: good, mod: func(e *Expectation) { e.Balance = x402.NewAmount(1009) }, want: x402.ReasonBatchCumulativeExceedsBalance},
		{name: "equals balance", voucher: good, mod: func(e *Expectation) { e.Balance = x402.NewAmount(1010) }},
		{name: "below claimed", voucher: good, mod: func(e *Expectation) { e.TotalClaimed = x402.NewAmount(2000) }, want: x402.ReasonBatchCumulativeBelowClaimed},
		{name: "equals claimed", voucher: good, mod: func(e *Expectation) { e.TotalClaimed = x402.NewAmount(1010) }, want: x402.ReasonBatchCumulativeBelowClaimed},
		{name: "refund voucher equals claimed", voucher: mustVoucher(t, payer, chainID, id, 1000), mod: func(e *Expectation) {
			e.Price, e.TotalClaimed, e.Refund = x402.Amount{}, x402.NewAmount(1000), true
		}},
		{name: "high-s twin", voucher: highS, want: x402.ReasonBatchVoucherSignature},
		{name: "flipped v", voucher: wrongV, want: x402.ReasonBatchVoucherSignature},
		{name: "64-byte signature", voucher: short, want: x402.ReasonBatchVoucherSignature},
		{name: "empty signature", voucher: Voucher{ChannelID: id, MaxClaimableAmount: x402.NewAmount(1010)}, want: x402.ReasonBatchVoucherSignature},
		{name: "garbage signature", voucher: Voucher{ChannelID: id, MaxClaimableAmount: x402.NewAmount(1010), Signature: make([]byte, 65)}, want: x402.ReasonBatchVoucherSignature},
		{name: "charged + price overflows", voucher: good, mod: func(e *Expectation) { e.Charged = maxAmount() }, want: x402.ReasonBatchCumulativeAmountMismatch},
		{name: "zero payer authorizer", voucher: good, verifier: zeroAuthorizer(cfg, chainID), needFac: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := exp
			if tc.mod != nil {
				tc.mod(&e)
			}
			ver := v
			if tc.verifier != nil {
				ver = tc.verifier
				tc.voucher.ChannelID = ver.ChannelID()
			}
			err := ver.Verify(&tc.voucher, &e)
			switch {
			case tc.needFac:
				if !errors.Is(err, ErrNeedsFacilitator) {
					t.Fatalf("got %v, want ErrNeedsFacilitator", err)
				}
			case tc.want == "":
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			default:
				if got := x402.ReasonOf(err); got != tc.want {
					t.Fatalf("got %v (reason %q), want %q", err, got, tc.want)
				}
			}
		})
	}
}

func zeroAuthorizer(cfg ChannelConfig, chainID uint64) *ChannelVerifier {
	cfg.PayerAuthorizer = common.Address{}
	return NewChannelVerifier(cfg, chainID)
}

func maxAmount() x402.Amount {
	a, _ := x402.ParseAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
	return a
}

// flipS returns the high-s twin (r, n-s, v^1) of a 65-byte signature.
func flipS(sig []byte) []byte {
	n := common.FromHex("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	out := append([]byte(nil), sig...)
	var borrow int
	for i := 31; i >= 0; i-- {
		d := int(n[i]) - int(sig[32+i]) - borrow
		borrow = 0
		if d < 0 {
			d += 256
			borrow = 1
		}
		out[32+i] = byte(d)
	}
	out[64] = 55 - sig[64]
	return out
}

func TestCheckChannelTerms(t *testing.T) {
	payer := mustSigner(t, payerKey)
	cfg := xcheckConfig(payer.Address())
	req := x402.PaymentRequirements{Scheme: Scheme, Network: "eip155:84532", Amount: x402.NewAmount(10), Asset: cfg.Token.Hex(), PayTo: cfg.Receiver.Hex(), MaxTimeoutSeconds: 60}
	extra := RequirementsExtra{ReceiverAuthorizer: cfg.ReceiverAuthorizer, WithdrawDelay: cfg.WithdrawDelay}
	tests := []struct {
		name string
		mod  func(*ChannelConfig, *x402.PaymentRequirements, *RequirementsExtra)
		want x402.Reason
	}{
		{name: "matches"},
		{name: "lower-case payTo", mod: func(_ *ChannelConfig, r *x402.PaymentRequirements, _ *RequirementsExtra) {
			r.PayTo = lowerHex(cfg.Receiver[:])
		}},
		{name: "receiver", mod: func(c *ChannelConfig, _ *x402.PaymentRequirements, _ *RequirementsExtra) { c.Receiver[0] ^= 1 }, want: x402.ReasonBatchReceiverMismatch},
		{name: "payTo not an address", mod: func(_ *ChannelConfig, r *x402.PaymentRequirements, _ *RequirementsExtra) { r.PayTo = "nope" }, want: x402.ReasonBatchReceiverMismatch},
		{name: "receiver authorizer", mod: func(c *ChannelConfig, _ *x402.PaymentRequirements, _ *RequirementsExtra) {
			c.ReceiverAuthorizer[0] ^= 1
		}, want: x402.ReasonBatchReceiverAuthorizerMismatch},
		{name: "zero announced authorizer", mod: func(c *ChannelConfig, _ *x402.PaymentRequirements, e *RequirementsExtra) {
			c.ReceiverAuthorizer, e.ReceiverAuthorizer = common.Address{}, common.Address{}
		}, want: x402.ReasonBatchReceiverAuthorizerMismatch},
		{name: "token", mod: func(c *ChannelConfig, _ *x402.PaymentRequirements, _ *RequirementsExtra) { c.Token[0] ^= 1 }, want: x402.ReasonBatchTokenMismatch},
		{name: "withdraw delay", mod: func(c *ChannelConfig, _ *x402.PaymentRequirements, _ *RequirementsExtra) { c.WithdrawDelay++ }, want: x402.ReasonBatchWithdrawDelayMismatch},
		{name: "withdraw delay too short", mod: func(c *ChannelConfig, _ *x402.PaymentRequirements, e *RequirementsExtra) {
			c.WithdrawDelay, e.WithdrawDelay = 899, 0
		}, want: x402.ReasonBatchWithdrawDelayOutOfRange},
		{name: "withdraw delay too long", mod: func(c *ChannelConfig, _ *x402.PaymentRequirements, e *RequirementsExtra) {
			c.WithdrawDelay, e.WithdrawDelay = MaxWithdrawDelay+1, MaxWithdrawDelay+1
		}, want: x402.ReasonBatchWithdrawDelayOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, r, e := cfg, req, extra
			if tc.mod != nil {
				tc.mod(&c, &r, &e)
			}
			err := NewChannelVerifier(c, 84532).CheckRequirements(&r, &e)
			if got := x402.ReasonOf(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Fatalf("got %v, want reason %q", err, tc.want)
			}
		})
	}
}

// TestVerifyConcurrent runs one verifier from many goroutines (go test
// -race checks that it is safe for concurrent use).
func TestVerifyConcurrent(t *testing.T) {
	payer := mustSigner(t, payerKey)
	v := NewChannelVerifier(xcheckConfig(payer.Address()), 84532)
	vo := mustVoucher(t, payer, 84532, v.ChannelID(), 20)
	e := Expectation{Charged: x402.NewAmount(10), Price: x402.NewAmount(10), Balance: x402.NewAmount(100)}
	errs := make(chan error, 16)
	for range 16 {
		go func() { errs <- v.Verify(&vo, &e) }()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestBindChannel(t *testing.T) {
	ps := samplePayloads(t)
	p := ps[TypeVoucher].(*VoucherPayload)
	v, err := BindChannel(p, 84532)
	if err != nil || v.ChannelID() != p.Voucher.ChannelID {
		t.Fatalf("%v", err)
	}
	if _, err := BindChannel(p, 1); x402.ReasonOf(err) != x402.ReasonBatchChannelIDMismatch {
		t.Fatalf("other chain: %v", err)
	}
	q := *p
	q.ChannelConfig.Salt[0] ^= 1
	if _, err := BindChannel(&q, 84532); x402.ReasonOf(err) != x402.ReasonBatchChannelIDMismatch {
		t.Fatalf("altered config: %v", err)
	}
}

func TestCheckDepositWindow(t *testing.T) {
	a := &ERC3009Authorization{ValidAfter: x402.NewAmount(100), ValidBefore: x402.NewAmount(200)}
	for _, tc := range []struct {
		now  uint64
		want x402.Reason
	}{{100, ""}, {194, ""}, {195, x402.ReasonBatchValidBefore}, {99, x402.ReasonBatchValidAfter}} {
		if got := x402.ReasonOf(CheckDepositWindow(a, tc.now)); got != tc.want {
			t.Errorf("now %d: %q, want %q", tc.now, got, tc.want)
		}
	}
}

func TestVerifyERC3009Deposit(t *testing.T) {
	good := samplePayloads(t)[TypeDeposit].(*DepositPayload)
	token := evm.Domain{Name: "USDC", Version: "2", ChainID: 84532, VerifyingContract: good.ChannelConfig.Token}
	id := ChannelID(good.ChannelConfig, 84532)
	clone := func() *DepositPayload {
		p := *good
		a := *good.Deposit.Authorization.ERC3009Authorization
		a.Signature = append([]byte(nil), a.Signature...)
		p.Deposit.Authorization.ERC3009Authorization = &a
		return &p
	}
	tests := []struct {
		name  string
		mod   func(*DepositPayload)
		token evm.Domain
		want  x402.Reason
		other bool
	}{
		{name: "valid"},
		{name: "amount changed", mod: func(p *DepositPayload) { p.Deposit.Amount = x402.NewAmount(100001) }, want: x402.ReasonBatchReceiveAuthSignature},
		{name: "salt changed", mod: func(p *DepositPayload) { p.Deposit.Authorization.ERC3009Authorization.Salt[31] ^= 1 }, want: x402.ReasonBatchReceiveAuthSignature},
		{name: "validBefore changed", mod: func(p *DepositPayload) { p.Deposit.Authorization.ERC3009Authorization.ValidBefore = x402.NewAmount(1) }, want: x402.ReasonBatchReceiveAuthSignature},
		{name: "payer changed", mod: func(p *DepositPayload) { p.ChannelConfig.Payer[0] ^= 1 }, want: x402.ReasonBatchReceiveAuthSignature},
		{name: "token name differs", token: evm.Domain{Name: "USD Coin", Version: "2", ChainID: 84532, VerifyingContract: good.ChannelConfig.Token}, want: x402.ReasonBatchReceiveAuthSignature},
		{name: "other channel", other: true, want: x402.ReasonBatchReceiveAuthSignature},
		{name: "64-byte signature", mod: func(p *DepositPayload) {
			a := p.Deposit.Authorization.ERC3009Authorization
			a.Signature = a.Signature[:64]
		}, want: x402.ReasonBatchReceiveAuthSignature},
		{name: "no authorization", mod: func(p *DepositPayload) { p.Deposit.Authorization.ERC3009Authorization = nil }, want: x402.ReasonBatchERC3009AuthorizationNeeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := clone()
			if tc.mod != nil {
				tc.mod(p)
			}
			tok, cid := token, id
			if tc.token.Name != "" {
				tok = tc.token
			}
			if tc.other {
				cid[0] ^= 1
			}
			if got := x402.ReasonOf(VerifyERC3009Deposit(tok, p, cid)); got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
}
