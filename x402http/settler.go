package x402http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go402/go402/x402"
)

// Defaults of the settlement worker pool.
const (
	// DefaultSettleWorkers is how many queued settlements RunSettlements
	// settles at once.
	DefaultSettleWorkers = 16
	// DefaultBackPressure is the share of its time the oldest queued
	// settlement may have used before ServeThenSettle routes refuse new
	// payments.
	DefaultBackPressure = 0.5
)

// BackPressureRetryAfter is the Retry-After, in seconds, of the 503 a
// ServeThenSettle route answers while its settlement queue is behind.
const BackPressureRetryAfter = 2

// assumedSettleTime is the longest a settlement is assumed to take when
// the queue's recent throughput is lower: an Ethereum mainnet block.
const assumedSettleTime = 12 * time.Second

// backlogCheck is how long a reading of the queue's backlog is reused, so
// that a busy route does not read the queue on every request.
const backlogCheck = 100 * time.Millisecond

// ReasonExpiredInQueue is the reason recorded (through Queue.Done) for a
// queued settlement that expired before it could be settled.
const ReasonExpiredInQueue x402.Reason = "expired_in_queue"

// QueuedSettlement is a settlement a Queue holds.
type QueuedSettlement struct {
	// ID identifies the item for Queue.Done.
	ID string
	// Request is what the facilitator is asked to settle; nil in the
	// Oldest of a Backlog.
	Request *x402.FacilitatorRequest
	// Claimed is when the payment was claimed, just before it was served.
	Claimed time.Time
	// Expires is when the payment's claim ends: when its authorization
	// expires. Zero if unknown.
	Expires time.Time
	// Attempts counts the times the item was handed out, this one
	// included.
	Attempts int
}

// ExpiringQueue is implemented by a Queue that knows when the payments it
// holds expire (x402http/sqlitequeue does). With it, RunSettlements
// settles the most urgent payment first and drops one that expired, and
// ServeThenSettle routes refuse new payments while the queue is behind
// (see [Config.BackPressure]).
type ExpiringQueue interface {
	// NextSettlement is Next, returning the due item whose claim ends
	// first. It must be safe for concurrent callers, in this process
	// and in every other sharing the queue: each item is handed to one.
	NextSettlement(ctx context.Context) (QueuedSettlement, error)
	// Backlog reports how far behind the queue is.
	Backlog(ctx context.Context) (Backlog, error)
}

// Backlog is what an ExpiringQueue reports of the settlements it holds.
type Backlog struct {
	// Queued is the number of settlements not finished yet, leased or
	// not.
	Queued int
	// Oldest is the queued settlement that has used the largest share of
	// its time, from Claimed to Expires (its Request is nil); the zero
	// value if no queued settlement has a known expiry.
	Oldest QueuedSettlement
	// Throughput is how many settlements a second were finished
	// recently, by every worker sharing the queue; 0 if none.
	Throughput float64
}

// SettlementStats counts what RunSettlements did with queued settlements
// since the middleware was built.
type SettlementStats struct {
	// Settled is the number settled; Rejected, refused by the facilitator
	// (the response was served unpaid); Expired, dropped because their
	// authorization expired before they could be settled (served unpaid
	// too). Retried counts attempts that will be tried again.
	Settled, Rejected, Expired, Retried uint64
}

// settling is the state of the settlement pool and of back-pressure.
type settling struct {
	settled, rejected, expired, retried atomic.Uint64

	mu      sync.Mutex
	checked time.Time // when backlog was read; zero: never
	backlog Backlog
}

// SettlementStats returns the counts of queued settlements handled by
// RunSettlements so far.
func (m *Middleware) SettlementStats() SettlementStats {
	s := &m.settling
	return SettlementStats{Settled: s.settled.Load(), Rejected: s.rejected.Load(), Expired: s.expired.Load(), Retried: s.retried.Load()}
}

// settleDefaults fills in and checks the pool's configuration.
func settleDefaults(cfg *Config) error {
	if cfg.SettleWorkers <= 0 {
		cfg.SettleWorkers = DefaultSettleWorkers
	}
	switch {
	case cfg.BackPressure == 0:
		cfg.BackPressure = DefaultBackPressure
	case cfg.BackPressure < 0 || cfg.BackPressure > 1:
		return fmt.Errorf("x402http: BackPressure %v must be between 0 and 1", cfg.BackPressure)
	}
	return nil
}

// RunSettlements settles the payments queued by ServeThenSettle routes until
// ctx ends; run it in a goroutine beside the server. It settles up to
// [Config.SettleWorkers] payments at once, the most urgent first when the
// queue is an [ExpiringQueue]. Settlements queued before a restart are
// settled when it runs again. A settlement that fails for a reason a retry
// can fix (the facilitator unreachable, or pending confirmation) is retried
// by the queue, with a backoff, until its authorization expires; then it is
// dropped as expired and logged as an error. A rejected one is logged,
// since the response was already served. When ctx ends, it waits for the
// settlements in flight to return. Once a settlement is settled or given
// up, its payer's unsettled-payment hold ends (see "Unsettled payments" in
// the package documentation): run it on the middleware serving the routes,
// or on one built with the same Claims and Schemes.
func (m *Middleware) RunSettlements(ctx context.Context) error {
	if m.cfg.Queue == nil {
		return errors.New("x402http: no Queue configured")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, m.cfg.SettleWorkers)
	// The items being settled here: a queue whose lease ran out while an
	// item was still being settled (a slow chain) hands it out again, and
	// a second worker must not settle it beside the first.
	var mu sync.Mutex
	busy := map[string]bool{}
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		it, err := m.nextSettlement(ctx)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			m.log.Error("reading settlement queue", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		mu.Lock()
		if busy[it.ID] {
			mu.Unlock()
			<-slots
			m.log.Warn("queued settlement handed out again while still being settled; the queue's lease is shorter than a settlement", "id", it.ID)
			continue
		}
		busy[it.ID] = true
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(busy, it.ID)
				mu.Unlock()
				<-slots
			}()
			m.settleQueued(ctx, it)
		})
	}
}

// nextSettlement waits for the next due item of the queue.
func (m *Middleware) nextSettlement(ctx context.Context) (QueuedSettlement, error) {
	if eq, ok := m.cfg.Queue.(ExpiringQueue); ok {
		return eq.NextSettlement(ctx)
	}
	id, req, err := m.cfg.Queue.Next(ctx)
	return QueuedSettlement{ID: id, Request: req}, err
}

// settleQueued settles one queued item and records its outcome.
func (m *Middleware) settleQueued(ctx context.Context, it QueuedSettlement) {
	s := &m.settling
	if !it.Expires.IsZero() && !m.cfg.Now().Before(it.Expires) {
		s.expired.Add(1)
		m.log.Error("queued settlement expired before it was settled: its response was served unpaid",
			"id", it.ID, "expired", it.Expires, "attempts", it.Attempts)
		m.queueDone(ctx, it.ID, &x402.SettleResponse{ErrorReason: ReasonExpiredInQueue, ErrorMessage: "authorization expired in the settlement queue", Network: it.Request.Network()}, false)
		m.settled(it.Request)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, settleTimeout)
	resp, err := m.cfg.Facilitator.Settle(sctx, it.Request)
	cancel()
	retry := false
	switch {
	case err != nil:
		retry = true
		if ctx.Err() == nil {
			m.log.Warn("queued settlement: facilitator unavailable; will retry", "id", it.ID, "err", err)
		}
	case resp.Success:
		// The payment's claims stay until they expire: the queue's row
		// keeps refusing copies of it.
		s.settled.Add(1)
		m.countSettled(m.routeOfResource(it.Request), it.Request, resp)
		m.log.Info("queued settlement settled", "payer", resp.Payer, "tx", resp.Transaction)
	case resp.ErrorReason == x402.ReasonSettlementPending:
		retry = true
	default:
		s.rejected.Add(1)
		m.log.Warn("queued settlement rejected after serving", "payer", resp.Payer, "reason", resp.ErrorReason, "message", resp.ErrorMessage)
	}
	m.queueDone(ctx, it.ID, resp, retry)
	if retry {
		s.retried.Add(1)
		return
	}
	m.settled(it.Request)
}

// queueDone records an item's outcome, even as ctx ends.
func (m *Middleware) queueDone(ctx context.Context, id string, resp *x402.SettleResponse, retry bool) {
	if err := m.cfg.Queue.Done(context.WithoutCancel(ctx), id, resp, retry); err != nil {
		m.log.Error("recording queued settlement outcome", "id", id, "err", err)
	}
}

// backPressure answers 503 with Retry-After, and returns true, while the
// queue is behind: the oldest queued settlement has used more than
// Config.BackPressure of its time, or a new payment, valid for
// timeoutSeconds, would wait longer than that share of it behind the
// settlements queued, at the rate they were settled over the last
// seconds (but no less than one per worker every 12 s). New
// serve-then-settle payments would only lengthen a queue that is not
// keeping up, and could expire in it unpaid. The payment is not used; the
// client may send it again after Retry-After while it is valid.
func (m *Middleware) backPressure(w http.ResponseWriter, r *http.Request, timeoutSeconds int) bool {
	if m.cfg.BackPressure >= 1 {
		return false
	}
	eq, ok := m.cfg.Queue.(ExpiringQueue)
	if !ok {
		return false
	}
	if timeoutSeconds <= 0 {
		timeoutSeconds = DefaultMaxTimeoutSeconds
	}
	now := m.cfg.Now()
	b := m.backlog(r.Context(), eq, now)
	used := 0.0
	if o := b.Oldest; !o.Expires.IsZero() && o.Expires.After(o.Claimed) {
		used = float64(now.Sub(o.Claimed)) / float64(o.Expires.Sub(o.Claimed))
	}
	// The recent rate, but no less than one payment per worker per slow
	// block: after a quiet spell, or while the first settlements of a
	// burst are in flight, the rate says how few arrived, not how many
	// the pool can settle.
	rate := max(b.Throughput, float64(m.cfg.SettleWorkers)/assumedSettleTime.Seconds())
	wait := float64(b.Queued) / rate // seconds
	used = max(used, wait/float64(timeoutSeconds))
	if used <= m.cfg.BackPressure {
		return false
	}
	m.log.Warn("settlement queue is behind; refusing a serve-then-settle payment with 503",
		"used", used, "limit", m.cfg.BackPressure, "queued", b.Queued, "throughput", b.Throughput)
	w.Header().Set("Retry-After", strconv.Itoa(BackPressureRetryAfter))
	writeJSON(w, http.StatusServiceUnavailable, "settlements are behind; retry later")
	return true
}

// backlog returns the queue's backlog, read at most every backlogCheck. A
// queue that cannot be read counts as keeping up: claiming and queueing
// the payment would fail anyway.
func (m *Middleware) backlog(ctx context.Context, eq ExpiringQueue, now time.Time) Backlog {
	s := &m.settling
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checked.IsZero() && now.Sub(s.checked) < backlogCheck && !now.Before(s.checked) {
		return s.backlog
	}
	b, err := eq.Backlog(ctx)
	if err != nil {
		m.log.Error("reading the settlement queue's backlog", "err", err)
		b = Backlog{}
	}
	s.checked, s.backlog = now, b
	return b
}
