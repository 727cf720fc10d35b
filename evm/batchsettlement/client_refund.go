package batchsettlement

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// ErrNothingToRefund refuses a refund of a channel whose balance is all
// charged.
var ErrNothingToRefund = errors.New("evm/batchsettlement: the channel has no unclaimed balance to refund")

// RefundError is a refund the server refused.
type RefundError struct {
	StatusCode int
	Reason     x402.Reason
	Message    string
}

func (e *RefundError) Error() string {
	s := fmt.Sprintf("evm/batchsettlement: refund refused (HTTP %d)", e.StatusCode)
	if e.Reason != "" {
		s += ": " + string(e.Reason)
	}
	if e.Message != "" && e.Message != string(e.Reason) {
		s += ": " + e.Message
	}
	return s
}

// RefundResult is a refund the server reports done.
type RefundResult struct {
	Network   x402.Network
	Asset     string
	ChannelID common.Hash
	// Refunded is what the payer counts as returned to its wallet: the
	// amount asked, or the unclaimed balance it knew of.
	Refunded   x402.Amount
	Settlement *x402.SettleResponse
}

// Refund asks the server at url for a cooperative refund of the payer's
// channel there: of amount, or of the whole unclaimed balance when amount is
// nil. It reads the server's batch-settlement requirements with a request
// that carries no payment, signs a zero-charge voucher (its ceiling the
// charged total) in a refund payload and sends it; a corrective 402 is
// recovered from once. want, when not the zero hash, is the channel to
// refund: the server's requirements must lead to it. hc sends the requests
// (http.DefaultClient if nil); it must not pay by itself.
func (p *Payer) Refund(ctx context.Context, hc *http.Client, url string, want common.Hash, amount *x402.Amount) (*RefundResult, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	if amount != nil && amount.IsZero() {
		return nil, errors.New("evm/batchsettlement: a refund amount must be positive")
	}
	for attempt := 0; ; attempt++ {
		pr, err := probe(ctx, hc, url)
		if err != nil {
			return nil, err
		}
		t, err := p.refundTerms(pr, want)
		if err != nil {
			return nil, err
		}
		sr, retry, err := p.refundOnce(ctx, hc, url, pr, t, amount)
		if err != nil || !retry || attempt > 0 {
			if err == nil && retry {
				err = errors.New("evm/batchsettlement: refund refused again after recovering the channel state")
			}
			return sr, err
		}
	}
}

// probe reads the 402 of url.
func probe(ctx context.Context, hc *http.Client, url string) (*x402.PaymentRequired, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: refund probe: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	h := resp.Header.Get(x402.HeaderPaymentRequired)
	if resp.StatusCode != http.StatusPaymentRequired || h == "" {
		return nil, fmt.Errorf("evm/batchsettlement: refund probe of %s: expected a 402 with %s, got HTTP %d", resp.Request.URL.Redacted(), x402.HeaderPaymentRequired, resp.StatusCode)
	}
	pr, err := x402.DecodePaymentRequired(h)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: refund probe: %w", err)
	}
	return pr, nil
}

// refundTerms picks the batch-settlement entry of pr that leads to want (or
// the first one when want is zero).
func (p *Payer) refundTerms(pr *x402.PaymentRequired, want common.Hash) (*terms, error) {
	for _, a := range pr.Accepts {
		if a.Scheme != Scheme {
			continue
		}
		t, err := p.terms(a)
		if err != nil {
			continue
		}
		if want == (common.Hash{}) || t.id == want {
			return t, nil
		}
	}
	if want != (common.Hash{}) {
		return nil, fmt.Errorf("evm/batchsettlement: the server offers no batch-settlement terms for channel %s", want.Hex())
	}
	return nil, errors.New("evm/batchsettlement: the server offers no batch-settlement terms the payer can use")
}

// refundOnce signs and sends one refund payload under the channel's lock.
func (p *Payer) refundOnce(ctx context.Context, hc *http.Client, url string, pr *x402.PaymentRequired, t *terms, amount *x402.Amount) (*RefundResult, bool, error) {
	key := recordKey(t.req.Network, t.id)
	if err := p.acquire(ctx, key); err != nil {
		return nil, false, err
	}
	p.mu.Lock()
	p.pending[key] = pendingPayment{refund: true}
	p.mu.Unlock()
	held := true
	defer func() {
		if held {
			p.release(key)
		}
	}()
	rec, err := p.record(ctx, t)
	if err != nil {
		return nil, false, err
	}
	if rec.Balance.Cmp(rec.Charged) <= 0 {
		return nil, false, fmt.Errorf("%w (balance %s, charged %s)", ErrNothingToRefund, rec.Balance, rec.Charged)
	}
	refunded := rec.Unclaimed()
	if amount != nil && amount.Cmp(refunded) < 0 {
		refunded = *amount
	}
	vo, err := SignVoucher(ctx, p.cfg.Signer, t.chainID, t.id, rec.Charged)
	if err != nil {
		return nil, false, err
	}
	obj, err := Object(&RefundPayload{ChannelConfig: t.config, Voucher: vo, Amount: amount})
	if err != nil {
		return nil, false, err
	}
	res := pr.Resource
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &res, Accepted: t.req, Payload: obj, Extensions: pr.Extensions})
	if err != nil {
		return nil, false, err
	}
	ans, err := send(ctx, hc, url, h)
	if err != nil {
		return nil, false, err
	}
	held = false // Conclude releases the channel
	retry, err := p.Conclude(ctx, x402.V2, t.req, obj, ans)
	if err != nil || retry {
		return nil, retry, err
	}
	sr := ans.Settlement
	if ans.StatusCode >= 300 || sr == nil || !sr.Success {
		re := &RefundError{StatusCode: ans.StatusCode}
		if sr != nil {
			re.Reason, re.Message = sr.ErrorReason, sr.ErrorMessage
		} else if ans.Required != nil {
			re.Reason = x402.Reason(ans.Required.Error)
		}
		return nil, false, re
	}
	return &RefundResult{Network: t.req.Network.Canonical(), Asset: t.req.Asset, ChannelID: t.id, Refunded: refunded, Settlement: sr}, false, nil
}

// send sends the refund request and reads what the answer says.
func send(ctx context.Context, hc *http.Client, url, header string) (x402.PaymentAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return x402.PaymentAnswer{}, err
	}
	req.Header.Set(x402.HeaderPaymentSignature, header)
	resp, err := hc.Do(req)
	if err != nil {
		return x402.PaymentAnswer{}, fmt.Errorf("evm/batchsettlement: sending the refund: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	ans := x402.PaymentAnswer{StatusCode: resp.StatusCode, Delivered: true}
	if v := resp.Header.Get(x402.HeaderPaymentResponse); v != "" {
		if sr, err := x402.DecodeChannelPaymentResponse(v); err == nil {
			ans.Settlement = sr
		}
	}
	if v := resp.Header.Get(x402.HeaderPaymentRequired); v != "" && resp.StatusCode == http.StatusPaymentRequired {
		if pr, err := x402.DecodePaymentRequired(v); err == nil {
			ans.Required = pr
		}
	}
	return ans, nil
}
