package failover

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go402/go402/x402"
)

// member is one facilitator with its health and its /supported answer.
type member struct {
	name string
	f    x402.Facilitator

	mu        sync.Mutex
	sup       *x402.SupportedResponse // last good answer; nil: none yet
	supAt     time.Time
	fails     int       // consecutive failures
	downUntil time.Time // backing off until then
}

// backingOff reports whether m is skipped at now.
func (m *member) backingOff(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return now.Before(m.downUntil)
}

// cached returns m's /supported answer if it is fresh (or any, if stale
// is true).
func (m *member) cached(now time.Time, ttl time.Duration, stale bool) *x402.SupportedResponse {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sup == nil || (!stale && now.Sub(m.supAt) >= ttl) {
		return nil
	}
	return m.sup
}

// supported returns m's /supported answer, from the cache while fresh.
func (f *Facilitator) supported(ctx context.Context, m *member) (*x402.SupportedResponse, error) {
	if s := m.cached(f.now(), f.opts.SupportedTTL, false); s != nil {
		return s, nil
	}
	s, err := m.f.Supported(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.failed(ctx, m, "supported", err)
		}
		return nil, err
	}
	m.mu.Lock()
	m.sup, m.supAt = s, f.now()
	m.mu.Unlock()
	f.succeeded(m)
	return s, nil
}

// failed starts or lengthens m's back-off.
func (f *Facilitator) failed(ctx context.Context, m *member, op string, err error) {
	now := f.now()
	m.mu.Lock()
	m.fails++
	d := f.opts.Cooldown
	for i := 1; i < m.fails && d < f.opts.MaxCooldown; i++ {
		d *= 2
	}
	d = min(d, f.opts.MaxCooldown)
	m.downUntil = now.Add(d)
	m.mu.Unlock()
	f.log.WarnContext(ctx, "facilitator failed; backing off", "facilitator", m.name, "op", op,
		"kind", Classify(err).String(), "backoff", d, "err", err)
}

// succeeded ends m's back-off.
func (f *Facilitator) succeeded(m *member) {
	m.mu.Lock()
	m.fails, m.downUntil = 0, time.Time{}
	m.mu.Unlock()
}

// eligible returns the members that support req: up, those not backing
// off, and down, those backing off (to be tried last). A member backing
// off is judged by its last /supported answer, however old; one without
// any is asked only when no other member can take the payment.
func (f *Facilitator) eligible(ctx context.Context, req *x402.FacilitatorRequest) (up, down []int) {
	now := f.now()
	var unknown []int
	for i, m := range f.members {
		if m.backingOff(now) {
			if s := m.cached(now, 0, true); s == nil {
				unknown = append(unknown, i)
			} else if supports(s, req) {
				down = append(down, i)
			}
			continue
		}
		s, err := f.supported(ctx, m)
		if err == nil && supports(s, req) {
			up = append(up, i)
		}
	}
	if len(up) > 0 || len(down) > 0 || ctx.Err() != nil {
		return up, down
	}
	for _, i := range unknown {
		m := f.members[i]
		s, err := m.f.Supported(ctx)
		if err != nil {
			continue
		}
		m.mu.Lock()
		m.sup, m.supAt = s, f.now()
		m.mu.Unlock()
		if supports(s, req) {
			down = append(down, i)
		}
	}
	return up, down
}

// supports reports whether a facilitator answering s can take req: a
// kind of req's version, scheme and network whose extra agrees with req's
// requirements on every string field both have.
func supports(s *x402.SupportedResponse, req *x402.FacilitatorRequest) bool {
	scheme, network := req.Scheme(), req.Network()
	var extra x402.Object
	switch {
	case req.Requirements != nil:
		extra = req.Requirements.Extra
	case req.RequirementsV1 != nil:
		extra = req.RequirementsV1.Extra
	}
	for _, k := range s.Kinds {
		if k.X402Version != req.X402Version || k.Scheme != scheme || !networkMatches(k.Network, network) {
			continue
		}
		if extraAgrees(k.Extra, extra) {
			return true
		}
	}
	return false
}

func networkMatches(kind, n x402.Network) bool {
	if kind == n || kind.Canonical() == n.Canonical() {
		return true
	}
	ns, ok := strings.CutSuffix(string(kind), ":*")
	return ok && strings.HasPrefix(string(n.Canonical()), ns+":")
}

// extraAgrees reports whether every string field of kind is, when req has
// it as a string too, equal to it (ignoring case: addresses).
func extraAgrees(kind, req x402.Object) bool {
	if kind.IsNull() || req.IsNull() {
		return true
	}
	var k, r map[string]json.RawMessage
	if json.Unmarshal(kind, &k) != nil || json.Unmarshal(req, &r) != nil {
		return true
	}
	for name, kv := range k {
		rv, ok := r[name]
		if !ok {
			continue
		}
		var ks, rs string
		if json.Unmarshal(kv, &ks) != nil || json.Unmarshal(rv, &rs) != nil {
			continue
		}
		if !strings.EqualFold(ks, rs) {
			return false
		}
	}
	return true
}

// Supported merges the members' answers (see the package documentation).
// It fails only when no member answers.
func (f *Facilitator) Supported(ctx context.Context) (*x402.SupportedResponse, error) {
	answers := make([]*x402.SupportedResponse, len(f.members))
	errs := make([]error, len(f.members))
	var wg sync.WaitGroup
	for i, m := range f.members {
		wg.Go(func() {
			answers[i], errs[i] = f.supported(ctx, m)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", m.name, errs[i])
			}
		})
	}
	wg.Wait()
	out := &x402.SupportedResponse{Signers: map[string][]string{}}
	got := false
	for _, s := range answers {
		if s == nil {
			continue
		}
		got = true
		for _, k := range s.Kinds {
			if !slices.ContainsFunc(out.Kinds, func(o x402.SupportedKind) bool {
				return o.X402Version == k.X402Version && o.Scheme == k.Scheme && o.Network == k.Network && o.Extra.Equal(k.Extra)
			}) {
				out.Kinds = append(out.Kinds, k)
			}
		}
		for _, e := range s.Extensions {
			if !slices.Contains(out.Extensions, e) {
				out.Extensions = append(out.Extensions, e)
			}
		}
		for p, addrs := range s.Signers {
			for _, a := range addrs {
				if !slices.Contains(out.Signers[p], a) {
					out.Signers[p] = append(out.Signers[p], a)
				}
			}
		}
	}
	if !got {
		return nil, fmt.Errorf("%w: supported: %w", ErrNoFacilitator, errors.Join(errs...))
	}
	return out, nil
}

// pin records which member verified (held false) or holds (held true) a
// payment.
type pin struct {
	member int
	held   bool
	until  time.Time
}

func (f *Facilitator) pin(key string) (pin, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pins[key]
	if ok && !f.now().Before(p.until) {
		delete(f.pins, key)
		return pin{}, false
	}
	return p, ok
}

func (f *Facilitator) setPin(key string, i int, held bool) {
	now := f.now()
	ttl := f.opts.PinTTL
	if held {
		ttl = f.opts.HoldTTL
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.pins[key]; ok && old.held && !held {
		return // a verify never releases a hold
	}
	if _, ok := f.pins[key]; !ok && len(f.pins) >= f.opts.MaxPins {
		f.prune(now)
	}
	f.pins[key] = pin{member: i, held: held, until: now.Add(ttl)}
}

// prune drops expired pins and, if still above nine tenths of the bound,
// verified (not held) ones down to that, so that a full map is not walked
// on every insert. f.mu is held.
func (f *Facilitator) prune(now time.Time) {
	for k, p := range f.pins {
		if !now.Before(p.until) {
			delete(f.pins, k)
		}
	}
	target := f.opts.MaxPins - f.opts.MaxPins/10 - 1
	for k, p := range f.pins {
		if len(f.pins) <= target {
			return
		}
		if !p.held {
			delete(f.pins, k)
		}
	}
}

// paymentKey identifies req's payment: its version, scheme, network and
// payload, the payload re-encoded canonically (sorted keys) so that a
// request decoded again (from a settlement queue) has the same key.
func paymentKey(req *x402.FacilitatorRequest) (string, bool) {
	var payload x402.Object
	switch {
	case req.Payload != nil:
		payload = req.Payload.Payload
	case req.PayloadV1 != nil:
		payload = req.PayloadV1.Payload
	}
	if payload.IsNull() {
		return "", false
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return "", false
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00", req.X402Version, req.Scheme(), req.Network().Canonical())
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil)), true
}
