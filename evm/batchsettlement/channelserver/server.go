// Package channelserver is the resource server's stateful side of the EVM
// "batch-settlement" scheme: it keeps each channel's charged total and
// latest voucher in a [channels.Store], admits paid requests through the
// [x402.ChargeAdmitter] seam of x402http (voucher verified locally, with no
// facilitator call, while the mirrored chain state is fresh; deposits,
// refunds and unknown channels through the facilitator), serialises the
// requests of a channel in process and across replicas (the store's
// lease), commits a charge only when the handler's answer is charged (the
// store's compare-and-set), and claims the vouchers in batches ([Claimer]).
//
// On the wire it follows @x402/evm 2.27's server: a voucher must sign
// exactly charged + price, else a corrective 402 carries channelState and
// voucherState; PAYMENT-RESPONSE carries transaction "", extra.chargedAmount
// and extra.channelState.chargedCumulativeAmount; a deposit's carries the
// deposit transaction; a refund is answered without running the handler.
package channelserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// Defaults.
const (
	// DefaultWait is how long a request waits for its channel while
	// another request of the same channel is being served.
	DefaultWait = 5 * time.Second
	// DefaultLease bounds how long a request holds its channel (the
	// handler's time); a crashed holder's lease expires after it.
	DefaultLease = 2 * time.Minute
)

// Config configures [New].
type Config struct {
	// Scheme builds the requirements and reads payloads. Required.
	Scheme *batchsettlement.Server
	// Store keeps the channels. Required.
	Store channels.Store
	// Facilitator verifies and settles deposits, refunds, claims, and
	// vouchers the server cannot verify locally. Required.
	Facilitator x402.Facilitator
	// Authorizer, if set, is the receiver-authorizer key (it must be
	// Scheme.ReceiverAuthorizer): the server signs claim batches and
	// refunds. If nil the facilitator holds that key and signs them.
	Authorizer evm.Signer
	// OnchainTTL is how long the mirrored chain state of a channel is
	// trusted for local verification; 0 means a third of the channels'
	// withdrawal delay (as @x402/evm's default). After it, a voucher goes
	// to the facilitator, which reads the chain.
	OnchainTTL time.Duration
	// Wait and Lease: see DefaultWait and DefaultLease.
	Wait, Lease time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server is an [x402.SchemeServer] and [x402.ChargeAdmitter] for
// batch-settlement. Register it in the server's scheme registry in place
// of a bare batchsettlement.Server.
type Server struct {
	*batchsettlement.Server
	cfg   Config
	log   *slog.Logger
	locks keyedLocks
	// verifiers caches a ChannelVerifier per channel id and chain.
	verifiers sync.Map // string -> *batchsettlement.ChannelVerifier
	// extras caches the parsed requirements extra per extra JSON.
	extras sync.Map // string -> *batchsettlement.RequirementsExtra
	prefix string
	seq    atomic.Uint64
	// wake is signalled when the claimer should run at once (a payer
	// asked to withdraw, the threshold is reached); buffered 1.
	wake chan struct{}
	// threshold is the claimer's ClaimConfig.Threshold once it runs;
	// sinceClaim what was charged since the last claim round.
	threshold  atomic.Pointer[x402.Amount]
	chargedMu  sync.Mutex
	sinceClaim x402.Amount
}

var (
	_ x402.SchemeServer   = (*Server)(nil)
	_ x402.ChargeAdmitter = (*Server)(nil)
)

// New checks cfg and returns the server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Scheme == nil:
		return nil, errors.New("evm/batchsettlement/channelserver: Config.Scheme is required")
	case cfg.Store == nil:
		return nil, errors.New("evm/batchsettlement/channelserver: Config.Store is required")
	case cfg.Facilitator == nil:
		return nil, errors.New("evm/batchsettlement/channelserver: Config.Facilitator is required")
	}
	if err := cfg.Scheme.Validate(); err != nil {
		return nil, err
	}
	if cfg.Authorizer != nil && cfg.Authorizer.Address() != cfg.Scheme.ReceiverAuthorizer {
		return nil, fmt.Errorf("evm/batchsettlement/channelserver: Authorizer %s is not the scheme's ReceiverAuthorizer %s", cfg.Authorizer.Address().Hex(), cfg.Scheme.ReceiverAuthorizer.Hex())
	}
	if cfg.OnchainTTL <= 0 {
		d := cfg.Scheme.WithdrawDelay
		if d == 0 {
			d = batchsettlement.DefaultWithdrawDelay
		}
		cfg.OnchainTTL = time.Duration(d) * time.Second / 3
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &Server{Server: cfg.Scheme, cfg: cfg, log: log.With("component", "channelserver"),
		locks: keyedLocks{m: map[string]*keyedLock{}}, prefix: hex.EncodeToString(b) + "-", wake: make(chan struct{}, 1)}, nil
}

// holderID is a lease holder id unique to one request.
func (s *Server) holderID() string {
	return s.prefix + strconv.FormatUint(s.seq.Add(1), 36)
}

// request is what Admit works out about a payment before touching state.
type request struct {
	p        *x402.Payment
	payload  batchsettlement.ChannelPayload
	verifier *batchsettlement.ChannelVerifier
	extra    *batchsettlement.RequirementsExtra
	id       string // channel id, lower-case hex
	price    x402.Amount
	payer    string
}

// Admit implements [x402.ChargeAdmitter].
func (s *Server) Admit(ctx context.Context, p *x402.Payment) (*x402.Admission, error) {
	rq, refusal := s.read(p)
	if refusal != nil {
		return refusal, nil
	}
	release, err := s.locks.acquire(ctx, rq.id, s.cfg.Wait)
	if err != nil {
		return refuse(rq.payer, x402.ReasonBatchChannelBusy, "channel is serving another request"), nil
	}
	holder := s.holderID()
	ch, err := s.reserve(ctx, rq.id, holder)
	var adm *x402.Admission
	switch {
	case errors.Is(err, channels.ErrBusy):
		adm = refuse(rq.payer, x402.ReasonBatchChannelBusy, "channel is serving another request")
	case errors.Is(err, channels.ErrNotFound):
		adm, err = s.admitNew(ctx, rq, holder, release)
	case err == nil:
		adm, err = s.admitKnown(ctx, rq, &ch, holder, release)
	}
	if err != nil || adm.Charge == nil {
		// Refused or failed: nothing holds the channel any more.
		s.releaseLease(rq.id, holder)
		release()
	}
	return adm, err
}

// read decodes and checks what needs no state: the payload, the channel's
// id and its terms against the requirements.
func (s *Server) read(p *x402.Payment) (*request, *x402.Admission) {
	pl, err := batchsettlement.Decode(p)
	if err != nil {
		return nil, refuseErr("", x402.ReasonInvalidPayload, err)
	}
	cp, ok := pl.(batchsettlement.ChannelPayload)
	if !ok {
		return nil, refuse("", x402.ReasonBatchPayloadType, "a "+pl.Type()+" payload does not pay a request")
	}
	cfg := cp.Channel()
	payer := lowerHex(cfg.Payer[:])
	chainID, err := p.Requirements.Network.ChainID()
	if err != nil {
		return nil, refuseErr(payer, x402.ReasonBatchNetworkMismatch, err)
	}
	v := s.verifier(cfg, chainID)
	vo := cp.SignedVoucher()
	if vo.ChannelID != v.ChannelID() {
		return nil, refuse(payer, x402.ReasonBatchChannelIDMismatch, "channel id does not match the channel config")
	}
	extra, err := s.extra(p.Requirements.Extra)
	if err != nil {
		return nil, refuseErr(payer, x402.ReasonInvalidPaymentRequirements, err)
	}
	if err := batchsettlement.CheckChannelTerms(cfg, &p.Requirements, extra); err != nil {
		return nil, refuseErr(payer, x402.ReasonInvalidPayload, err)
	}
	return &request{p: p, payload: cp, verifier: v, extra: extra, id: lowerHex(vo.ChannelID[:]), price: p.Requirements.Amount, payer: payer}, nil
}

// verifier returns the cached verifier of cfg on chainID.
func (s *Server) verifier(cfg *batchsettlement.ChannelConfig, chainID uint64) *batchsettlement.ChannelVerifier {
	key := string(cfg.Salt[:]) + string(cfg.Payer[:]) + strconv.FormatUint(chainID, 10)
	if v, ok := s.verifiers.Load(key); ok {
		if v := v.(*batchsettlement.ChannelVerifier); v.Config() == *cfg {
			return v
		}
	}
	v := batchsettlement.NewChannelVerifier(*cfg, chainID)
	s.verifiers.Store(key, v)
	return v
}

// extra returns the parsed requirements extra, cached.
func (s *Server) extra(o x402.Object) (*batchsettlement.RequirementsExtra, error) {
	if e, ok := s.extras.Load(string(o)); ok {
		return e.(*batchsettlement.RequirementsExtra), nil
	}
	e, err := batchsettlement.ParseRequirementsExtra(o)
	if err != nil {
		return nil, err
	}
	s.extras.Store(string(o), e)
	return e, nil
}

// reserve takes the channel's lease, waiting up to cfg.Wait for another
// replica's request to end.
func (s *Server) reserve(ctx context.Context, id, holder string) (channels.Channel, error) {
	deadline := s.cfg.Now().Add(s.cfg.Wait)
	pause := time.Millisecond
	for {
		now := s.cfg.Now()
		ch, err := s.cfg.Store.Reserve(ctx, id, holder, now.Add(s.cfg.Lease), now)
		if !errors.Is(err, channels.ErrBusy) || !now.Before(deadline) {
			return ch, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ch, err
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// releaseLease ends holder's lease.
func (s *Server) releaseLease(id, holder string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.cfg.Store.Release(ctx, id, holder); err != nil {
		s.log.Warn("releasing a channel lease failed; it expires by itself", "channel", id, "err", err)
	}
}

// refuse is a refusal with reason.
func refuse(payer string, reason x402.Reason, msg string) *x402.Admission {
	return &x402.Admission{Payer: payer, Refused: &x402.VerifyResponse{InvalidReason: reason, InvalidMessage: msg, Payer: payer}}
}

// refuseErr is a refusal for err: its reason if it is an *x402.Error.
func refuseErr(payer string, reason x402.Reason, err error) *x402.Admission {
	var xe *x402.Error
	if errors.As(err, &xe) && xe.Reason != "" {
		reason = xe.Reason
	}
	return refuse(payer, reason, err.Error())
}

func lowerHex(b []byte) string { return "0x" + hex.EncodeToString(b) }
