package channelserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// admitKnown decides on a payment for a channel the store knows, under the
// channel's lease.
func (s *Server) admitKnown(ctx context.Context, rq *request, ch *channels.Channel, holder string, release func()) (*x402.Admission, error) {
	switch pl := rq.payload.(type) {
	case *batchsettlement.VoucherPayload:
		return s.admitVoucher(ctx, rq, ch, &pl.Voucher, holder, release)
	case *batchsettlement.DepositPayload:
		return s.admitDeposit(ctx, rq, ch, pl, holder, release)
	case *batchsettlement.RefundPayload:
		return s.refund(ctx, rq, ch, pl)
	}
	return refuse(rq.payer, x402.ReasonBatchPayloadType, "unsupported payload"), nil
}

// admitVoucher checks a voucher against the channel: locally when the
// channel's payer authorizer is an EOA and the mirrored chain state is
// fresh, else through the facilitator.
func (s *Server) admitVoucher(ctx context.Context, rq *request, ch *channels.Channel, vo *batchsettlement.Voucher, holder string, release func()) (*x402.Admission, error) {
	next, ok := ch.Charged.Add(rq.price)
	if !ok || vo.MaxClaimableAmount != next {
		return s.corrective(rq, ch, x402.ReasonBatchCumulativeAmountMismatch, "voucher does not sign charged + price"), nil
	}
	now := s.cfg.Now()
	if s.withdrawing(ch) {
		if s.withdrawalDue(rq, ch, now) {
			// The payer could finalise the withdrawal before this voucher
			// is claimed: serving on it would be serving unpaid.
			return refuse(rq.payer, x402.ReasonBatchChannelBusy, "the payer is withdrawing the channel"), nil
		}
	}
	fresh := !ch.Onchain.SyncedAt.IsZero() && now.Sub(ch.Onchain.SyncedAt) <= s.cfg.OnchainTTL
	if fresh && rq.verifier.LocallyVerifiable() {
		e := batchsettlement.Expectation{Charged: ch.Charged, Price: rq.price, Balance: ch.Onchain.Balance, TotalClaimed: ch.Onchain.TotalClaimed}
		if err := rq.verifier.Verify(vo, &e); err != nil {
			return refuseErr(rq.payer, x402.ReasonBatchVoucherSignature, err), nil
		}
	} else {
		vr, err := s.cfg.Facilitator.Verify(ctx, facilitatorRequest(rq.p))
		if err != nil {
			return nil, fmt.Errorf("evm/batchsettlement/channelserver: facilitator verify: %w", err)
		}
		if !vr.IsValid {
			return &x402.Admission{Payer: rq.payer, Refused: vr}, nil
		}
		if err := s.syncFrom(ctx, rq.id, vr.Extra, now); err != nil {
			return nil, err
		}
	}
	return &x402.Admission{Payer: rq.payer, Charge: s.newCharge(rq, ch, vo, holder, release)}, nil
}

// withdrawing reports whether the payer asked to withdraw the channel.
func (s *Server) withdrawing(ch *channels.Channel) bool { return ch.Onchain.WithdrawRequestedAt != 0 }

// WithdrawMargin is how long before a requested withdrawal can be
// finalised the server stops accepting the channel's vouchers: the time it
// needs to claim them.
const WithdrawMargin = 5 * time.Minute

// withdrawalDue reports whether the channel's requested withdrawal can be
// finalised within WithdrawMargin of now.
func (s *Server) withdrawalDue(rq *request, ch *channels.Channel, now time.Time) bool {
	at := time.Unix(ch.Onchain.WithdrawRequestedAt, 0).Add(time.Duration(rq.verifier.Config().WithdrawDelay) * time.Second)
	return !now.Add(WithdrawMargin).Before(at)
}

// corrective is a corrective 402: the requirements the payment accepted,
// with the channel's state and the server's last voucher in extra, so
// that a payer that lost its state can resume from the server's.
func (s *Server) corrective(rq *request, ch *channels.Channel, reason x402.Reason, msg string) *x402.Admission {
	adm := refuse(rq.payer, reason, msg)
	e := *rq.extra
	st := channelState(ch, ch.Charged)
	e.ChannelState = &st
	sig, err := hexutil.Decode(ch.Signature)
	if err == nil {
		e.VoucherState = &batchsettlement.VoucherState{SignedMaxClaimable: ch.SignedMax, Signature: sig}
	}
	obj, err := e.Object()
	if err != nil {
		s.log.Error("encoding a corrective 402's extra", "err", err)
		return adm
	}
	req := rq.p.Requirements
	req.Extra = obj
	adm.Corrected = &req
	return adm
}

// channelState is the channel's snapshot for a 402 or PAYMENT-RESPONSE,
// with charged as its chargedCumulativeAmount.
func channelState(ch *channels.Channel, charged x402.Amount) batchsettlement.ChannelState {
	var id [32]byte
	_ = decodeHash(ch.ID, id[:])
	return batchsettlement.NewChannelState(id, ch.Onchain.Balance, ch.Onchain.TotalClaimed,
		uint64(max(ch.Onchain.WithdrawRequestedAt, 0)), x402.NewAmount(ch.Onchain.RefundNonce), charged)
}

func decodeHash(s string, dst []byte) error {
	b, err := hexutil.Decode(s)
	if err != nil || len(b) != len(dst) {
		return errors.Join(errors.New("evm/batchsettlement/channelserver: bad channel id"), err)
	}
	copy(dst, b)
	return nil
}

// charge is a reserved voucher charge ([x402.PendingCharge]).
type charge struct {
	s       *Server
	rq      *request
	ch      channels.Channel // as reserved
	vo      *batchsettlement.Voucher
	holder  string
	release func()
	// settle, if set, runs before the charge is recorded (a deposit's
	// on-chain settlement); it returns the response to send, or one with
	// Success false to refuse.
	settle func(ctx context.Context) (*x402.SettleResponse, error)
	once   sync.Once
}

func (s *Server) newCharge(rq *request, ch *channels.Channel, vo *batchsettlement.Voucher, holder string, release func()) *charge {
	return &charge{s: s, rq: rq, ch: *ch, vo: vo, holder: holder, release: release}
}

// Commit records charged + price with the voucher, compare-and-set on
// the charged amount read when the request was admitted.
func (c *charge) Commit(ctx context.Context) (sr *x402.SettleResponse, err error) {
	done := false
	c.once.Do(func() {
		done = true
		defer c.release()
		sr, err = c.commit(ctx)
		if err != nil || !sr.Success {
			c.s.releaseLease(c.rq.id, c.holder)
		}
	})
	if !done {
		return nil, errors.New("evm/batchsettlement/channelserver: charge already committed or aborted")
	}
	return sr, err
}

func (c *charge) commit(ctx context.Context) (*x402.SettleResponse, error) {
	sr := &x402.SettleResponse{Success: true, Network: c.rq.p.Requirements.Network, Payer: c.rq.payer}
	if c.settle != nil {
		var err error
		if sr, err = c.settle(ctx); err != nil || !sr.Success {
			return sr, err
		}
	}
	next, _ := c.ch.Charged.Add(c.rq.price)
	_, err := c.s.cfg.Store.Commit(ctx, channels.Charge{
		ID: c.rq.id, Holder: c.holder, Expected: c.ch.Charged, Charged: next,
		SignedMax: c.vo.MaxClaimableAmount, Signature: hexutil.Encode(c.vo.Signature), At: c.s.cfg.Now(),
	})
	if errors.Is(err, channels.ErrConflict) {
		return &x402.SettleResponse{Network: sr.Network, Payer: sr.Payer, ErrorReason: x402.ReasonBatchChannelBusy,
			ErrorMessage: "the channel was charged concurrently"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement/channelserver: committing the charge: %w", err)
	}
	c.s.noteCharged(c.rq.price)
	if c.s.withdrawing(&c.ch) {
		c.s.Wake() // claim this voucher now: the payer is leaving
	}
	st := channelState(&c.ch, next)
	price := c.rq.price
	extra, err := batchsettlement.ResponseExtra{ChargedAmount: &price, ChannelState: &st}.Object()
	if err != nil {
		return nil, err
	}
	sr.Extra = extra
	return sr, nil
}

// Abort releases the channel: nothing is charged.
func (c *charge) Abort(context.Context) error {
	c.once.Do(func() {
		c.s.releaseLease(c.rq.id, c.holder)
		c.release()
	})
	return nil
}

// facilitatorRequest is the facilitator request of a payment.
func facilitatorRequest(p *x402.Payment) *x402.FacilitatorRequest {
	pp := &x402.PaymentPayload{X402Version: x402.V2, Resource: p.Resource, Accepted: p.Accepted, Payload: p.Payload, Extensions: p.Extensions}
	req := p.Requirements
	return x402.NewFacilitatorRequest(pp, &req)
}

// syncFrom records the channel snapshot of a facilitator's verify or
// settle extra ({channelId, balance, totalClaimed, withdrawRequestedAt,
// refundNonce}, possibly under "channelState").
func (s *Server) syncFrom(ctx context.Context, id string, extra x402.Object, now time.Time) error {
	st, ok := snapshot(extra)
	if !ok {
		return nil
	}
	cur, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("evm/batchsettlement/channelserver: %w", err)
	}
	o := cur.Onchain
	applySnapshot(&o, st, now)
	if err := s.cfg.Store.Sync(ctx, id, o); err != nil {
		return fmt.Errorf("evm/batchsettlement/channelserver: recording chain state: %w", err)
	}
	return nil
}
