package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go402/go402/x402"
)

// Defaults of [Options].
const (
	DefaultCooldown     = 30 * time.Second
	DefaultMaxCooldown  = 5 * time.Minute
	DefaultSupportedTTL = 5 * time.Minute
	DefaultPinTTL       = time.Hour
	DefaultHoldTTL      = 7 * 24 * time.Hour
	DefaultMaxPins      = 100_000
)

// Options configure a [Facilitator]. The zero value selects the defaults.
type Options struct {
	// Names name the members in logs and errors, in order; a missing or
	// empty name is "facilitator[i]". Give URLs without credentials.
	Names []string
	// Cooldown is how long a member that failed is skipped; it doubles
	// with each further failure up to MaxCooldown. 0 means
	// DefaultCooldown and DefaultMaxCooldown.
	Cooldown, MaxCooldown time.Duration
	// SupportedTTL is how long a member's /supported answer is reused.
	// 0 means DefaultSupportedTTL.
	SupportedTTL time.Duration
	// PinTTL is how long a verified payment is remembered, to be settled
	// by the member that verified it; HoldTTL how long a payment held by
	// a member (its settle reached it) is. 0 means the defaults.
	PinTTL, HoldTTL time.Duration
	// MaxPins bounds the verified payments remembered (held ones are
	// never dropped before HoldTTL). 0 means DefaultMaxPins.
	MaxPins int
	// Now is the clock of back-offs and pins; nil means time.Now.
	Now func() time.Time
	// Logger receives which member served each call and each failure;
	// nil discards them.
	Logger *slog.Logger
}

// Facilitator is an [x402.Facilitator] over several members, used in
// order with failover (see the package documentation). It is safe for
// concurrent use.
type Facilitator struct {
	members []*member
	opts    Options
	log     *slog.Logger
	now     func() time.Time

	mu   sync.Mutex
	pins map[string]pin
}

var _ x402.Facilitator = (*Facilitator)(nil)

// New returns a Facilitator over members, tried in their order.
func New(members []x402.Facilitator, opts Options) (*Facilitator, error) {
	if len(members) == 0 {
		return nil, errors.New("facilitator/failover: no facilitators")
	}
	setDefaults(&opts)
	f := &Facilitator{opts: opts, log: opts.Logger, now: opts.Now, pins: map[string]pin{}}
	for i, m := range members {
		if m == nil {
			return nil, fmt.Errorf("facilitator/failover: facilitator %d is nil", i)
		}
		name := ""
		if i < len(opts.Names) {
			name = opts.Names[i]
		}
		if name == "" {
			name = fmt.Sprintf("facilitator[%d]", i)
		}
		f.members = append(f.members, &member{name: name, f: m})
	}
	return f, nil
}

func setDefaults(o *Options) {
	if o.Cooldown <= 0 {
		o.Cooldown = DefaultCooldown
	}
	if o.MaxCooldown <= 0 {
		o.MaxCooldown = max(DefaultMaxCooldown, o.Cooldown)
	}
	if o.SupportedTTL <= 0 {
		o.SupportedTTL = DefaultSupportedTTL
	}
	if o.PinTTL <= 0 {
		o.PinTTL = DefaultPinTTL
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = DefaultHoldTTL
	}
	if o.MaxPins <= 0 {
		o.MaxPins = DefaultMaxPins
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ReservesFunds reports whether every member reserves a payer's funds
// between verify and settle (has a ReservesFunds method answering true),
// for x402http's bound on unsettled payments.
func (f *Facilitator) ReservesFunds() bool {
	for _, m := range f.members {
		rf, ok := m.f.(interface{ ReservesFunds() bool })
		if !ok || !rf.ReservesFunds() {
			return false
		}
	}
	return true
}

// Holder returns the name of the member that holds req's payment (a settle
// of it reached that member, see the package documentation) and whether
// one does.
func (f *Facilitator) Holder(req *x402.FacilitatorRequest) (string, bool) {
	key, ok := paymentKey(req)
	if !ok {
		return "", false
	}
	if p, ok := f.pin(key); ok && p.held {
		return f.members[p.member].name, true
	}
	return "", false
}

// Verify asks the members able to verify req, in order, until one gives a
// verdict.
func (f *Facilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	key, keyed := paymentKey(req)
	order, held, err := f.route(ctx, req, key, keyed)
	if err != nil {
		return nil, err
	}
	var errs []error
	for n, i := range order {
		m := f.members[i]
		resp, err := m.f.Verify(ctx, req)
		if err == nil {
			f.succeeded(m)
			if keyed && !held {
				f.setPin(key, i, false)
			}
			lvl := slog.LevelDebug
			if n > 0 {
				lvl = slog.LevelInfo
			}
			f.log.Log(ctx, lvl, "facilitator served verify", "facilitator", m.name, "valid", resp.IsValid, "failovers", n)
			return resp, nil
		}
		if ctx.Err() != nil || refused(err) {
			return nil, fmt.Errorf("facilitator/failover: verify at %s: %w", m.name, err)
		}
		f.failed(ctx, m, "verify", err)
		errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
	}
	return nil, fmt.Errorf("%w: verify: %w", ErrNoFacilitator, errors.Join(errs...))
}

// Settle asks the member that verified req (or holds it) first; it moves
// to the next only while the request provably never reached a member.
func (f *Facilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	key, keyed := paymentKey(req)
	order, held, err := f.route(ctx, req, key, keyed)
	if err != nil {
		return nil, err
	}
	var errs []error
	for n, i := range order {
		m := f.members[i]
		resp, err := m.f.Settle(ctx, req)
		if err == nil {
			f.succeeded(m)
			if keyed {
				f.setPin(key, i, true) // the member has it: a retry goes there
			}
			f.log.InfoContext(ctx, "facilitator served settle", "facilitator", m.name, "success", resp.Success,
				"reason", resp.ErrorReason, "tx", resp.Transaction, "failovers", n)
			return resp, nil
		}
		if held || ctx.Err() != nil || Classify(err) != Unreachable {
			// The request may have reached m: its outcome is m's.
			if ctx.Err() == nil && !refused(err) {
				f.failed(ctx, m, "settle", err)
			}
			if keyed {
				f.setPin(key, i, true)
			}
			f.log.WarnContext(ctx, "settle outcome unknown; the payment stays with this facilitator",
				"facilitator", m.name, "err", err)
			return nil, &UnknownOutcomeError{Facilitator: m.name, Err: err}
		}
		f.failed(ctx, m, "settle", err)
		errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
	}
	return nil, fmt.Errorf("%w: settle never reached a facilitator: %w", ErrNoFacilitator, errors.Join(errs...))
}

// route returns the members to ask for req, in order, and whether the
// payment is held by one (then it is the only one).
func (f *Facilitator) route(ctx context.Context, req *x402.FacilitatorRequest, key string, keyed bool) ([]int, bool, error) {
	var first = -1
	if keyed {
		if p, ok := f.pin(key); ok {
			if p.held {
				return []int{p.member}, true, nil
			}
			first = p.member
		}
	}
	up, down := f.eligible(ctx, req)
	order := make([]int, 0, len(up)+len(down))
	if first >= 0 {
		order = append(order, first)
	}
	for _, i := range append(up, down...) {
		if i != first {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return nil, false, fmt.Errorf("%w: none supports %s on %s (x402 v%d)", ErrNoFacilitator, req.Scheme(), req.Network(), req.X402Version)
	}
	return order, false, nil
}
