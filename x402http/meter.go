package x402http

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"

	"github.com/go402/go402/x402"
)

// Errors of [Charge] and [Use].
var (
	// ErrNotMetered: the request was not paid with a metered scheme
	// (see [x402.MeteredScheme]), so it pays its full price whatever the
	// handler reports; nothing is recorded.
	ErrNotMetered = errors.New("x402http: the request is not paid with a metered scheme")
	// ErrOverMaximum: the usage reported so far exceeds the maximum the
	// payment authorized. The charge is capped at the maximum; the
	// handler should stop producing what it cannot be paid for.
	ErrOverMaximum = errors.New("x402http: usage exceeds the maximum the payment authorized")
	// ErrNoUnitPrice: [Use] on a route without a per-unit price.
	ErrNoUnitPrice = errors.New("x402http: the route has no unit price")
	// ErrMeterClosed: the handler returned; the charge was taken and
	// later reports are ignored.
	ErrMeterClosed = errors.New("x402http: the request's charge is already settled")
)

// meter is the usage of one request paid with a metered scheme.
type meter struct {
	mu     sync.Mutex
	max    x402.Amount // what the payment authorized
	unit   x402.Amount // the price of one unit (zero: no unit price)
	used   x402.Amount // capped at max
	over   bool        // a report went beyond max
	closed bool
}

type meterKey struct{}

func meterOf(r *http.Request) *meter {
	if r == nil {
		return nil
	}
	m, _ := r.Context().Value(meterKey{}).(*meter)
	return m
}

// Charge adds amount, in atomic units of the asset the payment accepted
// (see [PaymentFromContext]), to the charge of r, a request paid with a
// metered scheme ("upto"): the middleware settles the sum of the charges
// once the handler returns. Charges add up, so that a streaming handler
// charges as it delivers (one call per event or chunk); a handler that
// knows its total at the end calls it once.
//
// The charge never exceeds the maximum the payment authorized: a report
// beyond it records the maximum, is logged as an error, and returns
// [ErrOverMaximum]. A request not paid with a metered scheme returns
// [ErrNotMetered] (it pays its full price), and a report after the handler
// returned [ErrMeterClosed]. It is safe for concurrent use.
func Charge(r *http.Request, amount x402.Amount) error {
	m := meterOf(r)
	if m == nil {
		return ErrNotMetered
	}
	return m.add(amount)
}

// Use adds units to the usage of r, a request paid with a metered scheme
// on a route with a unit price ([Route.UnitPrice] or
// [PaymentOption.UnitAmount]): it charges units times the unit price, as
// [Charge] does, with the same cap and errors, and [ErrNoUnitPrice] when
// the route has no unit price.
func Use(r *http.Request, units uint64) error {
	m := meterOf(r)
	if m == nil {
		return ErrNotMetered
	}
	return useMeter(m, units)
}

// useMeter is Use on m.
func useMeter(m *meter, units uint64) error {
	if m.unit.IsZero() {
		return ErrNoUnitPrice
	}
	p := new(big.Int).Mul(m.unit.Big(), new(big.Int).SetUint64(units))
	a, err := x402.AmountFromBig(p)
	if err != nil {
		// Beyond 256 bits: beyond any maximum.
		return m.exceed()
	}
	return m.add(a)
}

func (m *meter) add(a x402.Amount) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMeterClosed
	}
	sum, ok := m.used.Add(a)
	if !ok || sum.Cmp(m.max) > 0 {
		m.used, m.over = m.max, true
		return fmt.Errorf("%w (%s)", ErrOverMaximum, m.max)
	}
	m.used = sum
	return nil
}

// exceed records a report beyond any maximum.
func (m *meter) exceed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrMeterClosed
	}
	m.used, m.over = m.max, true
	return fmt.Errorf("%w (%s)", ErrOverMaximum, m.max)
}

// close ends the metering: it returns the charge and whether a report went
// beyond the maximum; later reports are refused.
func (m *meter) close() (x402.Amount, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return m.used, m.over
}

// Usage is what a request paid with a metered scheme has used so far.
type Usage struct {
	// Max is the maximum the payment authorized; Used, the charge so far
	// (never more than Max); Unit, the route's price of one unit for the
	// option paid (zero if none). All in atomic units of the asset paid.
	Max, Used, Unit x402.Amount
}

// Remaining is what can still be charged: Max minus Used.
func (u Usage) Remaining() x402.Amount {
	d, _ := u.Max.Sub(u.Used)
	return d
}

// UsageFromContext returns the usage of the request being served, if it is
// paid with a metered scheme.
func UsageFromContext(ctx context.Context) (Usage, bool) {
	m, ok := ctx.Value(meterKey{}).(*meter)
	if !ok {
		return Usage{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return Usage{Max: m.max, Used: m.used, Unit: m.unit}, true
}
