package batchsettlement

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// DefaultDepositMultiplier is the multiple of the price a payer deposits
// when the server announces no minDeposit, as @x402/evm's client does.
const DefaultDepositMultiplier = 5

// Errors of the payer side. Each refusal is returned before anything is
// signed.
var (
	// ErrServerViolation is wrapped by a *ViolationError: the server broke
	// one of the spec's client verification rules.
	ErrServerViolation = errors.New("evm/batchsettlement: the server broke the scheme's rules")
	// ErrChannelBroken refuses a payment on a channel where the server was
	// caught breaking the rules: the payer signs nothing more on it (refund
	// or withdraw what it holds).
	ErrChannelBroken = errors.New("evm/batchsettlement: the payer stopped signing on this channel")
	// ErrDepositCap refuses a payment whose least deposit exceeds
	// PayerConfig.MaxDeposit.
	ErrDepositCap = errors.New("evm/batchsettlement: the deposit needed exceeds the payer's maximum deposit")
	// ErrFundingChanged refuses a payment whose deposit, decided before
	// signing, no longer covers what the channel needs (another payment
	// moved it meanwhile).
	ErrFundingChanged = errors.New("evm/batchsettlement: the channel changed since the deposit was decided")
	// ErrUnsupported refuses requirements the payer cannot pay (a Permit2
	// deposit, a missing EIP-712 domain, an x402 v1 offer).
	ErrUnsupported = errors.New("evm/batchsettlement: requirements not supported by the payer")
)

// ViolationError reports a server that broke a client verification rule
// on a channel. The payer has marked the channel broken.
type ViolationError struct {
	Network   x402.Network
	ChannelID common.Hash
	Rule      string
}

func (e *ViolationError) Error() string {
	return fmt.Sprintf("evm/batchsettlement: server broke the rules on channel %s (%s): %s", e.ChannelID.Hex(), e.Network, e.Rule)
}

// Unwrap returns ErrServerViolation.
func (e *ViolationError) Unwrap() error { return ErrServerViolation }

// PayerConfig configures a [Payer].
type PayerConfig struct {
	// Signer is the payer: it signs deposits and vouchers (it is both
	// the channel's payer and its payerAuthorizer). Required.
	Signer evm.Signer
	// Store keeps the channels; if nil, a memory store.
	Store *ChannelStore
	// Reader reads channels on chain (cold start, recovery); if nil, no
	// chain reads are made. NewRPCChannelReader(cfg.RPCURLs) is the usual.
	Reader ChannelReader
	// DepositMultiplier: a deposit is max(needed, extra.minDeposit) or, when
	// the server announces none, max(needed, DepositMultiplier × price).
	// Zero means DefaultDepositMultiplier.
	DepositMultiplier uint64
	// MaxDeposit caps one deposit (atomic units); zero means no cap besides
	// the client's budget.
	MaxDeposit x402.Amount
	// Salt of the channels' configs; the zero salt by default, as @x402/evm.
	Salt common.Hash
	// Now returns the current time; if nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Payer is the payer's side of the batch-settlement scheme: an
// x402.ChannelSchemeClient. It keeps each channel's state in its store,
// signs a deposit when the channel's balance cannot cover the next voucher,
// advances the charged total only on what the server reports and checks,
// recovers from corrective 402s and from the chain, and asks for
// cooperative refunds. Payments on one channel are serialised in the
// process: a payload created with CreateFundedPayload holds its channel
// until Conclude. It is safe for concurrent use.
type Payer struct {
	cfg   PayerConfig
	log   *slog.Logger
	locks sync.Map // record key → chan struct{} (a one-slot semaphore)

	mu      sync.Mutex
	pending map[string]pendingPayment // by record key, while held
}

// pendingPayment is a payload created and not yet concluded.
type pendingPayment struct {
	deposit      x402.Amount
	maxClaimable x402.Amount
	refund       bool
}

// NewPayer validates cfg and returns a Payer.
func NewPayer(cfg PayerConfig) (*Payer, error) {
	if cfg.Signer == nil {
		return nil, errors.New("evm/batchsettlement: PayerConfig.Signer is required")
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryChannelStore()
	}
	if cfg.DepositMultiplier == 0 {
		cfg.DepositMultiplier = DefaultDepositMultiplier
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Payer{cfg: cfg, log: l.With("component", "batchsettlement-payer"), pending: map[string]pendingPayment{}}, nil
}

// Scheme returns "batch-settlement".
func (*Payer) Scheme() string { return Scheme }

// Payer returns the payer's address.
func (p *Payer) Payer() string { return p.cfg.Signer.Address().Hex() }

// Store returns the payer's channel store.
func (p *Payer) Store() *ChannelStore { return p.cfg.Store }

// terms are what the payer reads of requirements.
type terms struct {
	req     x402.PaymentRequirements
	extra   *RequirementsExtra
	chainID uint64
	config  ChannelConfig
	id      common.Hash
}

// CanPay reports whether the payer can pay req: an x402 v2 batch-settlement
// entry on an eip155 network, ERC-3009 deposits, the token's EIP-712 domain.
func (p *Payer) CanPay(version int, req x402.PaymentRequirements) error {
	if version != x402.V2 {
		return fmt.Errorf("%w: x402 v%d", ErrUnsupported, version)
	}
	_, err := p.terms(req)
	return err
}

func (p *Payer) terms(req x402.PaymentRequirements) (*terms, error) {
	if req.Scheme != Scheme {
		return nil, fmt.Errorf("%w: scheme %q", ErrUnsupported, req.Scheme)
	}
	chainID, err := req.Network.ChainID()
	if err != nil {
		return nil, fmt.Errorf("%w: network %s: %w", ErrUnsupported, req.Network, err)
	}
	extra, err := ParseRequirementsExtra(req.Extra)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if extra.AssetTransferMethod == TransferPermit2 {
		return nil, fmt.Errorf("%w: Permit2 deposits", ErrUnsupported)
	}
	if extra.Name == "" || extra.Version == "" {
		return nil, fmt.Errorf("%w: extra.name and extra.version (the token's EIP-712 domain) are required", ErrUnsupported)
	}
	payTo, ok1 := hexAddr(req.PayTo)
	token, ok2 := hexAddr(req.Asset)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: payTo and asset must be addresses", ErrUnsupported)
	}
	me := p.cfg.Signer.Address()
	cfg := ChannelConfig{Payer: me, PayerAuthorizer: me, Receiver: payTo, ReceiverAuthorizer: extra.ReceiverAuthorizer,
		Token: token, WithdrawDelay: extra.EffectiveWithdrawDelay(), Salt: p.cfg.Salt}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return &terms{req: req, extra: extra, chainID: chainID, config: cfg, id: ChannelID(cfg, chainID)}, nil
}

func hexAddr(s string) (common.Address, bool) {
	if !common.IsHexAddress(s) || len(s) != 42 {
		return common.Address{}, false
	}
	return common.HexToAddress(s), true
}

// Channel returns the channel id that paying req uses.
func (p *Payer) Channel(req x402.PaymentRequirements) (common.Hash, error) {
	t, err := p.terms(req)
	if err != nil {
		return common.Hash{}, err
	}
	return t.id, nil
}

// record returns the channel's record; a channel unknown to the store is
// read from the chain when a reader is configured (a cold start), and a
// record with a deposit of unknown outcome is refreshed from it.
func (p *Payer) record(ctx context.Context, t *terms) (ChannelRecord, error) {
	rec, ok, err := p.cfg.Store.Get(ctx, t.req.Network, t.id)
	if err != nil {
		return rec, err
	}
	if ok && rec.Broken != "" {
		return rec, fmt.Errorf("%w %s: %s", ErrChannelBroken, t.id.Hex(), rec.Broken)
	}
	if !ok {
		rec = ChannelRecord{Network: t.req.Network.Canonical(), ChannelID: t.id, Config: t.config}
	}
	if ok && rec.PendingDeposit.IsZero() || p.cfg.Reader == nil {
		return rec, nil
	}
	synced, err := p.syncFromChain(ctx, t)
	if err != nil {
		// Unreadable: pay on what is known; a server holding more answers
		// with a corrective 402.
		p.log.DebugContext(ctx, "cannot read the channel on chain", "channel", t.id.Hex(), "err", err)
		return rec, nil
	}
	return synced, nil
}

// syncFromChain reads channels(id) and adopts it: the balance, and a charged
// total of at least totalClaimed (what the receiver has already claimed).
func (p *Payer) syncFromChain(ctx context.Context, t *terms) (ChannelRecord, error) {
	bal, claimed, err := p.cfg.Reader.ReadChannel(ctx, t.req.Network, t.id)
	if err != nil {
		return ChannelRecord{}, fmt.Errorf("evm/batchsettlement: reading channel %s: %w", t.id.Hex(), err)
	}
	var out ChannelRecord
	err = p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			rec = ChannelRecord{Config: t.config}
		}
		rec.Balance, rec.TotalClaimed, rec.PendingDeposit = bal, claimed, x402.Amount{}
		if rec.Charged.Cmp(claimed) < 0 {
			rec.Charged = claimed
		}
		rec.Updated = p.cfg.Now().UTC()
		out = rec
		return &rec, nil
	})
	out.Network, out.ChannelID = t.req.Network.Canonical(), t.id
	return out, err
}

// sizeDeposit returns the deposit a payment of price on rec would make (want)
// and the least that would do (need); both zero when a voucher suffices.
func (p *Payer) sizeDeposit(t *terms, rec *ChannelRecord) (want, need x402.Amount, err error) {
	price := t.req.Amount
	maxClaimable, ok := rec.Charged.Add(price)
	if !ok || !fitsUint128(maxClaimable) {
		return want, need, fmt.Errorf("evm/batchsettlement: cumulative amount overflows on channel %s", t.id.Hex())
	}
	if maxClaimable.Cmp(rec.Balance) <= 0 && !rec.Balance.IsZero() {
		return want, need, nil
	}
	need, _ = maxClaimable.Sub(rec.Balance)
	target, err := x402.AmountFromBig(new(big.Int).Mul(price.Big(), new(big.Int).SetUint64(p.cfg.DepositMultiplier)))
	if err != nil {
		target = need
	}
	if md := t.extra.MinDeposit; md != nil && !md.IsZero() && md.Cmp(price) >= 0 {
		target = *md
	}
	want = need
	if target.Cmp(want) > 0 {
		want = target
	}
	if cap := p.cfg.MaxDeposit; !cap.IsZero() {
		if need.Cmp(cap) > 0 {
			return x402.Amount{}, x402.Amount{}, fmt.Errorf("%w: %s needed, at most %s", ErrDepositCap, need, cap)
		}
		if want.Cmp(cap) > 0 {
			want = cap
		}
	}
	return want, need, nil
}

// Funding returns the deposit that paying req would make now (want) and the
// least that would do (need): both zero when a voucher against the balance
// suffices. It signs nothing.
func (p *Payer) Funding(ctx context.Context, version int, req x402.PaymentRequirements) (want, need x402.Amount, err error) {
	if err := p.CanPay(version, req); err != nil {
		return want, need, err
	}
	t, _ := p.terms(req)
	rec, err := p.record(ctx, t)
	if err != nil {
		return want, need, err
	}
	return p.sizeDeposit(t, &rec)
}

// CreatePayload signs a payment of req with the deposit Funding proposes.
// Used alone (not through a ChannelSchemeClient-aware client) the channel's
// state never advances: call Conclude with the answer.
func (p *Payer) CreatePayload(ctx context.Context, version int, req x402.PaymentRequirements) (x402.Object, error) {
	want, _, err := p.Funding(ctx, version, req)
	if err != nil {
		return nil, err
	}
	return p.CreateFundedPayload(ctx, version, req, want)
}

// acquire takes the channel's in-process lock, honouring ctx.
func (p *Payer) acquire(ctx context.Context, key string) error {
	v, _ := p.locks.LoadOrStore(key, make(chan struct{}, 1))
	select {
	case v.(chan struct{}) <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Payer) release(key string) {
	p.mu.Lock()
	delete(p.pending, key)
	p.mu.Unlock()
	if v, ok := p.locks.Load(key); ok {
		select {
		case <-v.(chan struct{}):
		default:
		}
	}
}

// CreateFundedPayload signs a payment of req that deposits exactly deposit
// (zero: a voucher only), or, having signed nothing, fails with
// ErrFundingChanged when deposit no longer covers what the channel needs.
// The channel is held until Conclude is called with the payload.
func (p *Payer) CreateFundedPayload(ctx context.Context, version int, req x402.PaymentRequirements, deposit x402.Amount) (x402.Object, error) {
	if err := p.CanPay(version, req); err != nil {
		return nil, err
	}
	t, _ := p.terms(req)
	key := recordKey(t.req.Network, t.id)
	if err := p.acquire(ctx, key); err != nil {
		return nil, err
	}
	obj, pp, err := p.signPayment(ctx, t, deposit)
	if err != nil {
		p.release(key)
		return nil, err
	}
	p.mu.Lock()
	p.pending[key] = pp
	p.mu.Unlock()
	return obj, nil
}

// signPayment signs the voucher (and the deposit) of a payment on t and
// records the signed ceiling (and the pending deposit) before the payload
// leaves.
func (p *Payer) signPayment(ctx context.Context, t *terms, deposit x402.Amount) (x402.Object, pendingPayment, error) {
	rec, err := p.record(ctx, t)
	if err != nil {
		return nil, pendingPayment{}, err
	}
	_, need, err := p.sizeDeposit(t, &rec)
	if err != nil {
		return nil, pendingPayment{}, err
	}
	if deposit.Cmp(need) < 0 {
		return nil, pendingPayment{}, fmt.Errorf("%w: a deposit of %s was allowed, %s is now needed", ErrFundingChanged, deposit, need)
	}
	maxClaimable, _ := rec.Charged.Add(t.req.Amount)
	vo, err := SignVoucher(ctx, p.cfg.Signer, t.chainID, t.id, maxClaimable)
	if err != nil {
		return nil, pendingPayment{}, err
	}
	var payload Payload = &VoucherPayload{ChannelConfig: t.config, Voucher: vo}
	if !deposit.IsZero() {
		dp, err := p.signDeposit(ctx, t, deposit, vo)
		if err != nil {
			return nil, pendingPayment{}, err
		}
		payload = dp
	}
	obj, err := Object(payload)
	if err != nil {
		return nil, pendingPayment{}, err
	}
	if err := p.noteSigned(ctx, t, vo, deposit); err != nil {
		return nil, pendingPayment{}, err
	}
	return obj, pendingPayment{deposit: deposit, maxClaimable: maxClaimable}, nil
}

// signDeposit signs the ERC-3009 deposit authorization, valid from 0 to now
// + maxTimeoutSeconds, with a random EIP-3009 salt, as @x402/evm does.
func (p *Payer) signDeposit(ctx context.Context, t *terms, deposit x402.Amount, vo Voucher) (*DepositPayload, error) {
	var salt common.Hash
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: deposit salt: %w", err)
	}
	timeout := t.req.MaxTimeoutSeconds
	if timeout <= 0 {
		timeout = 60
	}
	dt := DepositTerms{Amount: deposit, ValidBefore: uint64(p.cfg.Now().Unix()) + uint64(timeout), Salt: salt}
	token := evm.Domain{Name: t.extra.Name, Version: t.extra.Version, ChainID: t.chainID, VerifyingContract: t.config.Token}
	auth, err := SignERC3009Deposit(ctx, p.cfg.Signer, token, t.config, dt)
	if err != nil {
		return nil, err
	}
	return &DepositPayload{ChannelConfig: t.config, Voucher: vo, Deposit: Deposit{Amount: deposit, Authorization: DepositAuthorization{ERC3009Authorization: auth}}}, nil
}

// noteSigned records the highest voucher signed and a deposit whose
// outcome is not known yet, before the payload is sent.
func (p *Payer) noteSigned(ctx context.Context, t *terms, vo Voucher, deposit x402.Amount) error {
	return p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			rec = ChannelRecord{Config: t.config}
		}
		if vo.MaxClaimableAmount.Cmp(rec.SignedMaxClaimable) >= 0 {
			rec.SignedMaxClaimable, rec.Signature = vo.MaxClaimableAmount, vo.Signature
		}
		if !deposit.IsZero() {
			rec.PendingDeposit = deposit
		}
		if t.req.Extra != nil {
			rec.Config = t.config
		}
		rec.Updated = p.cfg.Now().UTC()
		return &rec, nil
	})
}
