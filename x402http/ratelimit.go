package x402http

import (
	"container/list"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultLimiterEntries bounds each table of a [RateLimiter] (the buckets
// per client IP, per payer, and the free-tier counters) when
// [RateLimits.MaxEntries] is zero.
const DefaultLimiterEntries = 65536

// Limit is a token bucket: Requests requests per Per sustained, in bursts
// of up to Burst. The zero value is no limit.
type Limit struct {
	// Requests is how many requests are allowed per Per; zero: no limit.
	Requests int
	// Per is the period Requests are counted over, such as time.Minute.
	Per time.Duration
	// Burst is the bucket's size; if zero, Requests.
	Burst int
}

// FreeTier serves the first Requests requests without payment of each
// client IP in each Window (a fixed window starting at the IP's first
// request). The zero value is no free tier.
type FreeTier struct {
	Requests int
	Window   time.Duration
}

// RateLimits are the request limits of one route ([Route.RateLimits]) or
// of every route together ([NewRateLimiter], [Config.RateLimiter]). The
// zero value limits nothing. See "Rate limits and free tiers" in the
// package documentation.
type RateLimits struct {
	// PerIP limits the requests of one client IP (an IPv6 client by its
	// /64), paid, free or unpaid alike; over it, 429 with Retry-After.
	PerIP Limit
	// PerPayer limits the paid requests of one payer, counted once the
	// payment is verified and before it is used: a request over it is
	// answered 429 with Retry-After and its payment is not used (not
	// settled, and accepted again later).
	PerPayer Limit
	// Free is the free tier of each client IP: requests without a
	// payment are served free while it lasts, then answered 402.
	Free FreeTier
	// MaxEntries bounds each table of client IPs or payers; when full,
	// the least recently seen entry is dropped (it starts afresh if it
	// comes back). Entries idle long enough to be full again are dropped
	// first. If zero, DefaultLimiterEntries.
	MaxEntries int
}

func (l Limit) check(name string) error {
	switch {
	case l.Requests < 0 || l.Burst < 0:
		return fmt.Errorf("%s: Requests and Burst must not be negative", name)
	case l.Requests > 0 && l.Per <= 0:
		return fmt.Errorf("%s: Per must be positive", name)
	case l.Requests == 0 && (l.Burst != 0 || l.Per != 0):
		return fmt.Errorf("%s: Requests is required with Per or Burst", name)
	}
	return nil
}

// check returns an error for a negative or incomplete limit.
func (l RateLimits) check() error {
	f := l.Free
	switch {
	case f.Requests < 0 || (f.Requests > 0 && f.Window <= 0) || (f.Requests == 0 && f.Window != 0):
		return errors.New("rate limits: Free needs Requests > 0 and a positive Window")
	case l.MaxEntries < 0:
		return errors.New("rate limits: MaxEntries must not be negative")
	}
	return errors.Join(l.PerIP.check("rate limits: PerIP"), l.PerPayer.check("rate limits: PerPayer"))
}

// RateLimiter holds the buckets and counters of one [RateLimits]. It is
// safe for concurrent use, and may be shared by several middlewares (as
// [Config.RateLimiter]) to limit their routes together.
type RateLimiter struct {
	limits      RateLimits
	ips, payers *bucketTable
	free        *freeTable
}

// NewRateLimiter checks l and returns its limiter.
func NewRateLimiter(l RateLimits) (*RateLimiter, error) {
	if err := l.check(); err != nil {
		return nil, fmt.Errorf("x402http: %w", err)
	}
	max := l.MaxEntries
	if max == 0 {
		max = DefaultLimiterEntries
	}
	rl := &RateLimiter{limits: l}
	if l.PerIP.Requests > 0 {
		rl.ips = newBucketTable(l.PerIP, max)
	}
	if l.PerPayer.Requests > 0 {
		rl.payers = newBucketTable(l.PerPayer, max)
	}
	if l.Free.Requests > 0 {
		rl.free = &freeTable{n: l.Free.Requests, window: l.Free.Window, lru: newLRU(max)}
	}
	return rl, nil
}

// Len returns how many client IPs and payers the limiter tracks (for
// tests and monitoring).
func (rl *RateLimiter) Len() int {
	if rl == nil {
		return 0
	}
	return rl.ips.len() + rl.payers.len() + rl.free.len()
}

// takeIP takes a token of ip's bucket; it returns how long to wait if none
// is left.
func (rl *RateLimiter) takeIP(ip string, now time.Time) time.Duration {
	if rl == nil {
		return 0
	}
	return rl.ips.take(ip, now)
}

func (rl *RateLimiter) takePayer(payer string, now time.Time) time.Duration {
	if rl == nil {
		return 0
	}
	return rl.payers.take(payer, now)
}

// takeFree counts a free request of ip; false when the tier is used up or
// there is none.
func (rl *RateLimiter) takeFree(ip string, now time.Time) bool {
	if rl == nil || rl.free == nil {
		return false
	}
	return rl.free.take(ip, now)
}

func (rl *RateLimiter) hasFree() bool { return rl != nil && rl.free != nil }

// lru is a map with a recency list, bounded to max entries.
type lru struct {
	max     int
	entries map[string]*list.Element
	order   *list.List // front: most recently used
}

type lruEntry struct {
	key  string
	last time.Time
	val  any
}

func newLRU(max int) lru {
	return lru{max: max, entries: make(map[string]*list.Element), order: list.New()}
}

// get returns key's entry, creating it with mk; it drops entries idle for
// idle (at most two per call, so a lookup stays cheap) and, when full,
// the least recently used one.
func (l *lru) get(key string, now time.Time, idle time.Duration, mk func() any) *lruEntry {
	for range 2 {
		back := l.order.Back()
		if back == nil || now.Sub(back.Value.(*lruEntry).last) < idle {
			break
		}
		l.remove(back)
	}
	if el, ok := l.entries[key]; ok {
		l.order.MoveToFront(el)
		e := el.Value.(*lruEntry)
		e.last = now
		return e
	}
	if len(l.entries) >= l.max {
		l.remove(l.order.Back())
	}
	e := &lruEntry{key: key, last: now, val: mk()}
	l.entries[key] = l.order.PushFront(e)
	return e
}

func (l *lru) remove(el *list.Element) {
	delete(l.entries, el.Value.(*lruEntry).key)
	l.order.Remove(el)
}

// bucketTable holds a token bucket per key.
type bucketTable struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	idle  time.Duration // time for an empty bucket to fill again
	lru   lru
}

func newBucketTable(l Limit, max int) *bucketTable {
	burst := l.Burst
	if burst == 0 {
		burst = l.Requests
	}
	every := l.Per / time.Duration(l.Requests)
	if every <= 0 {
		every = 1
	}
	return &bucketTable{limit: rate.Every(every), burst: burst, idle: every * time.Duration(burst), lru: newLRU(max)}
}

func (t *bucketTable) take(key string, now time.Time) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.lru.get(key, now, t.idle, func() any { return rate.NewLimiter(t.limit, t.burst) })
	lim := e.val.(*rate.Limiter)
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return t.idle
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// wait returns how long key must wait for a token, without taking one
// and without adding key to the table.
func (t *bucketTable) wait(key string, now time.Time) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.lru.entries[key]
	if !ok {
		return 0
	}
	missing := 1 - el.Value.(*lruEntry).val.(*rate.Limiter).TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(t.limit) * float64(time.Second))
}

func (t *bucketTable) len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.lru.entries)
}

// freeTable counts each key's free requests in fixed windows.
type freeTable struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	lru    lru
}

type freeCount struct {
	start time.Time
	used  int
}

func (t *freeTable) take(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.lru.get(key, now, t.window, func() any { return &freeCount{start: now} }).val.(*freeCount)
	if now.Sub(c.start) >= t.window || now.Before(c.start) {
		*c = freeCount{start: now}
	}
	if c.used >= t.n {
		return false
	}
	c.used++
	return true
}

func (t *freeTable) len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.lru.entries)
}

// tooMany answers 429 with Retry-After: wait, rounded up to a second.
func tooMany(w http.ResponseWriter, wait time.Duration, what string) {
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeJSON(w, http.StatusTooManyRequests, "too many requests "+what+"; retry later")
}

// limiters are the limiters that apply to a route: the route's own and
// the shared one.
func (m *Middleware) limiters(route *compiledRoute) [2]*RateLimiter {
	return [2]*RateLimiter{route.limiter, m.cfg.RateLimiter}
}

// limitIP applies the per-IP limits to r; it answers 429 itself and
// returns true when r is over one. ip is the client's key, for the free
// tier.
func (m *Middleware) limitIP(w http.ResponseWriter, r *http.Request, route *compiledRoute) (ip string, limited bool) {
	ls := m.limiters(route)
	if ls[0] == nil && ls[1] == nil {
		return "", false
	}
	ip = clientKey(r, m.cfg.TrustedProxies)
	now := m.cfg.Now()
	for _, l := range ls {
		if wait := l.takeIP(ip, now); wait > 0 {
			m.log.Info("client over its rate limit", "route", route.Pattern, "ip", ip, "retryAfter", wait)
			tooMany(w, wait, "from this address")
			return ip, true
		}
	}
	return ip, false
}

// freeRequest reports whether a request without payment from ip is
// served free: every free tier configured (the route's, the shared one)
// must have one left.
func (m *Middleware) freeRequest(ip string, route *compiledRoute) bool {
	ls := m.limiters(route)
	if !ls[0].hasFree() && !ls[1].hasFree() {
		return false
	}
	now := m.cfg.Now()
	for _, l := range ls {
		if l.hasFree() && !l.takeFree(ip, now) {
			return false
		}
	}
	return true
}

// payerWaits answers 429 and returns true when the payer a payment names
// (not verified yet) has no token left in a per-payer bucket. It takes no
// token: only a verified payment does ([Middleware.limitPayer]), so that a
// forged payment naming someone else cannot use up their tokens; and a
// payment refused here is never verified, so that a facilitator that
// reserves a verified authorization (go402's) holds nothing for it and it
// may be sent again later.
func (m *Middleware) payerWaits(w http.ResponseWriter, route *compiledRoute, payer string) bool {
	if payer == "" {
		return false
	}
	payer = strings.ToLower(payer)
	now := m.cfg.Now()
	for _, l := range m.limiters(route) {
		if l == nil {
			continue
		}
		if wait := l.payers.wait(payer, now); wait > 0 {
			m.log.Info("payer over its rate limit; the payment is not verified", "route", route.Pattern, "payer", payer, "retryAfter", wait)
			tooMany(w, wait, "from this payer")
			return true
		}
	}
	return false
}

// limitPayer takes a token of the per-payer buckets once the payment is
// verified; it answers 429 itself and returns true when the payer is over
// one (a race with the payer's concurrent requests past payerWaits).
func (m *Middleware) limitPayer(w http.ResponseWriter, route *compiledRoute, payer string) bool {
	payer = strings.ToLower(payer)
	now := m.cfg.Now()
	for _, l := range m.limiters(route) {
		if wait := l.takePayer(payer, now); wait > 0 {
			m.log.Info("payer over its rate limit; the payment is not used", "route", route.Pattern, "payer", payer, "retryAfter", wait)
			tooMany(w, wait, "from this payer")
			return true
		}
	}
	return false
}

// routeLimiter builds the limiter of r's RateLimits; nil if it has none.
func routeLimiter(r Route) (*RateLimiter, error) {
	if r.RateLimits == (RateLimits{}) {
		return nil, nil
	}
	if err := r.RateLimits.check(); err != nil {
		return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
	}
	return NewRateLimiter(r.RateLimits)
}
