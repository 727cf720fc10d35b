package channelserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// Claimer defaults.
const (
	DefaultClaimInterval = time.Minute
	DefaultIdle          = 5 * time.Second
	// DefaultMaxPerBatch keeps a claim transaction under go402's
	// facilitator gas cap (evm.DefaultGasCap, 1,000,000): a claimed
	// channel costs about 22,000-25,000 gas, so 32 channels need about
	// 800,000. A larger batch would be refused as over the cap.
	DefaultMaxPerBatch = 32
	// claimTimeoutSeconds is the maxTimeoutSeconds of the requirements of
	// a server-authored claim or settle (@x402/evm sends 0, which go402's
	// facilitator also accepts for batch-settlement; nothing expires in
	// these payloads).
	claimTimeoutSeconds = 60
)

// ClaimConfig configures [Server.RunClaims].
type ClaimConfig struct {
	// Interval is how often idle channels' vouchers are claimed; 0 means
	// DefaultClaimInterval.
	Interval time.Duration
	// Idle is how long a channel must have had no request before the
	// interval claims it, so that claims fall between bursts rather than
	// in them; 0 means DefaultIdle.
	Idle time.Duration
	// Threshold, if not zero, claims every channel at once when this
	// server has charged that much since its last claim.
	Threshold x402.Amount
	// MaxPerBatch bounds the vouchers of one claim transaction; 0 means
	// DefaultMaxPerBatch.
	MaxPerBatch int
	// Chain, if set, is read every Interval/4 for the channels with
	// unclaimed vouchers, so that a payer's withdrawal request is seen
	// (and its vouchers claimed) well before the withdrawal delay ends.
	Chain ChainReader
}

// ChainReader reads a channel's state from the chain.
type ChainReader interface {
	ChannelState(ctx context.Context, network x402.Network, channelID common.Hash) (channels.Onchain, error)
}

// ClaimResult is what a claim round did.
type ClaimResult struct {
	Vouchers     int      // vouchers claimed
	Transactions []string // claim and settle transactions
}

// RunClaims claims vouchers until ctx ends: every Interval the channels
// idle for Idle, at once every channel whose payer asked to withdraw (or
// all, past Threshold), and, when ctx ends, every unclaimed voucher (the
// shutdown claim, with a fresh two-minute deadline). It returns the
// shutdown claim's error.
func (s *Server) RunClaims(ctx context.Context, cc ClaimConfig) error {
	cc = claimDefaults(cc)
	s.threshold.Store(&cc.Threshold)
	tick := time.NewTicker(cc.Interval)
	defer tick.Stop()
	watch := time.NewTicker(cc.Interval / 4)
	defer watch.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			_, err = s.Claim(sctx, cc, true)
			return err
		case <-tick.C:
			_, err = s.Claim(ctx, cc, false)
		case <-s.wake:
			_, err = s.Claim(ctx, cc, s.overThreshold())
		case <-watch.C:
			if cc.Chain != nil && s.watch(ctx, cc.Chain) {
				_, err = s.Claim(ctx, cc, false)
			}
		}
		if err != nil && ctx.Err() == nil {
			s.log.Error("claiming vouchers failed; retrying on the next round", "err", err)
		}
	}
}

func claimDefaults(cc ClaimConfig) ClaimConfig {
	if cc.Interval <= 0 {
		cc.Interval = DefaultClaimInterval
	}
	if cc.Idle <= 0 {
		cc.Idle = DefaultIdle
	}
	if cc.MaxPerBatch <= 0 {
		cc.MaxPerBatch = DefaultMaxPerBatch
	}
	return cc
}

// noteCharged counts a committed charge towards the claim threshold.
func (s *Server) noteCharged(a x402.Amount) {
	t := s.threshold.Load()
	if t == nil || t.IsZero() {
		return
	}
	s.chargedMu.Lock()
	s.sinceClaim, _ = s.sinceClaim.Add(a)
	over := s.sinceClaim.Cmp(*t) >= 0
	s.chargedMu.Unlock()
	if over {
		s.Wake()
	}
}

func (s *Server) overThreshold() bool {
	t := s.threshold.Load()
	if t == nil || t.IsZero() {
		return false
	}
	s.chargedMu.Lock()
	defer s.chargedMu.Unlock()
	return s.sinceClaim.Cmp(*t) >= 0
}

// watch reads the chain state of the channels with unclaimed vouchers and
// reports whether one has a withdrawal requested.
func (s *Server) watch(ctx context.Context, chain ChainReader) bool {
	list, err := s.cfg.Store.Unclaimed(ctx)
	if err != nil {
		s.log.Warn("listing unclaimed channels failed", "err", err)
		return false
	}
	found := false
	for i := range list {
		var id common.Hash
		if decodeHash(list[i].ID, id[:]) != nil {
			continue
		}
		o, err := chain.ChannelState(ctx, list[i].Network, id)
		if err != nil {
			s.log.Warn("reading a channel's chain state failed", "channel", list[i].ID, "err", err)
			continue
		}
		if err := s.cfg.Store.Sync(ctx, list[i].ID, o); err != nil {
			s.log.Warn("recording a channel's chain state failed", "channel", list[i].ID, "err", err)
		}
		found = found || o.WithdrawRequestedAt != 0
	}
	return found
}

// group is the claims of one (network, receiver, token).
type group struct {
	network         x402.Network
	receiver, token common.Address
	claims          []batchsettlement.VoucherClaim
	ids             []string
	charged         []x402.Amount
}

// Claim claims the unclaimed vouchers due: with all, every one; else
// those of channels idle for cc.Idle or whose payer asked to withdraw.
// Each (network, receiver, token) is claimed in batches of cc.MaxPerBatch
// and then settled to the receiver.
func (s *Server) Claim(ctx context.Context, cc ClaimConfig, all bool) (ClaimResult, error) {
	cc = claimDefaults(cc)
	list, err := s.cfg.Store.Unclaimed(ctx)
	if err != nil {
		return ClaimResult{}, fmt.Errorf("evm/batchsettlement/channelserver: listing unclaimed channels: %w", err)
	}
	s.chargedMu.Lock()
	s.sinceClaim = x402.Amount{}
	s.chargedMu.Unlock()
	now := s.cfg.Now()
	groups := map[string]*group{}
	var order []*group
	for i := range list {
		ch := &list[i]
		if !all && !s.withdrawing(ch) && now.Sub(ch.LastRequestAt) < cc.Idle {
			continue // mid-burst: claim it when idle
		}
		var cfg batchsettlement.ChannelConfig
		sig, err := hexutil.Decode(ch.Signature)
		if err != nil || json.Unmarshal(ch.Config, &cfg) != nil {
			s.log.Error("unreadable channel record; not claimed", "channel", ch.ID)
			continue
		}
		key := string(ch.Network) + "|" + strings.ToLower(cfg.Receiver.Hex()+cfg.Token.Hex())
		g := groups[key]
		if g == nil {
			g = &group{network: ch.Network, receiver: cfg.Receiver, token: cfg.Token}
			groups[key] = g
			order = append(order, g)
		}
		g.claims = append(g.claims, batchsettlement.VoucherClaim{Channel: cfg, MaxClaimableAmount: ch.SignedMax, Signature: sig, TotalClaimed: ch.Charged})
		g.ids = append(g.ids, ch.ID)
		g.charged = append(g.charged, ch.Charged)
	}
	var res ClaimResult
	var errs []error
	for _, g := range order {
		if err := s.claimGroup(ctx, g, cc.MaxPerBatch, &res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// claimGroup claims a group's vouchers in batches, records the claims,
// and settles the claimed funds to the receiver.
func (s *Server) claimGroup(ctx context.Context, g *group, per int, res *ClaimResult) error {
	chainID, err := g.network.ChainID()
	if err != nil {
		return err
	}
	claimed := 0
	for start := 0; start < len(g.claims); start += per {
		end := min(start+per, len(g.claims))
		p := batchsettlement.ClaimPayload{Claims: g.claims[start:end]}
		if s.cfg.Authorizer != nil {
			sig, err := batchsettlement.SignClaimBatch(ctx, s.cfg.Authorizer, chainID, p.Claims)
			if err != nil {
				return err
			}
			p.ClaimAuthorizerSignature = sig[:]
		}
		tx, err := s.settleOwn(ctx, g, &p)
		if err != nil {
			return fmt.Errorf("evm/batchsettlement/channelserver: claim: %w", err)
		}
		res.Transactions = append(res.Transactions, tx)
		for i := start; i < end; i++ {
			if err := s.cfg.Store.RecordClaim(ctx, g.ids[i], g.charged[i]); err != nil {
				s.log.Error("recording a claim failed; the next round claims it again (the contract ignores it)", "channel", g.ids[i], "err", err)
			}
		}
		claimed += end - start
		res.Vouchers += end - start
	}
	if claimed == 0 {
		return nil
	}
	tx, err := s.settleOwn(ctx, g, &batchsettlement.SettlePayload{Receiver: g.receiver, Token: g.token})
	if err != nil {
		return fmt.Errorf("evm/batchsettlement/channelserver: settle: %w", err)
	}
	res.Transactions = append(res.Transactions, tx)
	return nil
}

// settleOwn sends a server-authored payload to the facilitator's /settle
// and returns its transaction.
func (s *Server) settleOwn(ctx context.Context, g *group, pl batchsettlement.Payload) (string, error) {
	obj, err := batchsettlement.Object(pl)
	if err != nil {
		return "", err
	}
	req := x402.PaymentRequirements{Scheme: batchsettlement.Scheme, Network: g.network, Amount: x402.Amount{},
		Asset: g.token.Hex(), PayTo: g.receiver.Hex(), MaxTimeoutSeconds: claimTimeoutSeconds, Extra: x402.Object("{}")}
	fr := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}, &req)
	sr, err := s.cfg.Facilitator.Settle(ctx, fr)
	if err != nil {
		return "", err
	}
	if !sr.Success {
		return "", fmt.Errorf("%s refused: %s %s", pl.Type(), sr.ErrorReason, sr.ErrorMessage)
	}
	return sr.Transaction, nil
}
