package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go402/go402/x402"
)

// Facilitator counts and times the verifies and settlements of an
// [x402.Facilitator]: see [InstrumentFacilitator].
type Facilitator struct {
	next              x402.Facilitator
	schemes, networks map[string]bool
	verifies, settles *prometheus.CounterVec
	verifyDur         *prometheus.HistogramVec
	settleDur         *prometheus.HistogramVec
	inFlight          prometheus.Gauge
}

// InstrumentFacilitator returns f counting its verifies and settlements on
// reg:
//
//   - go402_facilitator_verifies_total{scheme,network,result,reason},
//     result valid, invalid or error;
//   - go402_facilitator_settlements_total{scheme,network,result,reason},
//     result success, failure, pending or error;
//   - go402_facilitator_verify_duration_seconds{scheme,network} and
//     go402_facilitator_settle_duration_seconds{scheme,network};
//   - go402_facilitator_settlements_in_flight.
//
// The schemes and networks labelled are those f.Supported lists now; any
// other is "other".
func InstrumentFacilitator(ctx context.Context, reg prometheus.Registerer, f x402.Facilitator) (*Facilitator, error) {
	sup, err := f.Supported(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: reading the supported kinds: %w", err)
	}
	m := &Facilitator{next: f, schemes: map[string]bool{}, networks: map[string]bool{}}
	for _, k := range sup.Kinds {
		m.schemes[k.Scheme], m.networks[string(k.Network)] = true, true
	}
	labels := []string{"scheme", "network", "result", "reason"}
	m.verifies = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "facilitator", Name: "verifies_total",
		Help: "Payments verified, by scheme, network, result (valid, invalid, error) and reason code."}, labels)
	m.settles = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "facilitator", Name: "settlements_total",
		Help: "Settlements, by scheme, network, result (success, failure, pending, error) and reason code."}, labels)
	m.verifyDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "facilitator", Name: "verify_duration_seconds",
		Help: "Time to verify a payment.", Buckets: LatencyBuckets()}, []string{"scheme", "network"})
	m.settleDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "facilitator", Name: "settle_duration_seconds",
		Help: "Time to settle a payment, until its receipt (or pending).", Buckets: LatencyBuckets()}, []string{"scheme", "network"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "facilitator", Name: "settlements_in_flight",
		Help: "Settlements being processed now."})
	if err := register(reg, m.verifies, m.settles, m.verifyDur, m.settleDur, m.inFlight); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

func (m *Facilitator) labels(req *x402.FacilitatorRequest) (string, string) {
	return bounded(m.schemes, req.Scheme()), bounded(m.networks, string(req.Network()))
}

// Verify verifies through the wrapped facilitator and counts the verdict.
func (m *Facilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	start := time.Now()
	resp, err := m.next.Verify(ctx, req)
	scheme, network := m.labels(req)
	m.verifyDur.WithLabelValues(scheme, network).Observe(time.Since(start).Seconds())
	result, why := "error", ""
	switch {
	case err != nil:
		why = errReason(err)
	case resp.IsValid:
		result = "valid"
	default:
		result, why = "invalid", string(resp.InvalidReason)
	}
	m.verifies.WithLabelValues(scheme, network, result, reason(why)).Inc()
	return resp, err
}

// Settle settles through the wrapped facilitator and counts the outcome.
func (m *Facilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	m.inFlight.Inc()
	defer m.inFlight.Dec()
	start := time.Now()
	resp, err := m.next.Settle(ctx, req)
	scheme, network := m.labels(req)
	m.settleDur.WithLabelValues(scheme, network).Observe(time.Since(start).Seconds())
	result, why := "error", ""
	switch {
	case err != nil:
		why = errReason(err)
	case resp.Success:
		result = "success"
	case resp.ErrorReason == x402.ReasonSettlementPending:
		result, why = "pending", string(resp.ErrorReason)
	default:
		result, why = "failure", string(resp.ErrorReason)
	}
	m.settles.WithLabelValues(scheme, network, result, reason(why)).Inc()
	return resp, err
}

// Supported is the wrapped facilitator's.
func (m *Facilitator) Supported(ctx context.Context) (*x402.SupportedResponse, error) {
	return m.next.Supported(ctx)
}

// errReason is the reason code of an *x402.Error, or "".
func errReason(err error) string {
	var e *x402.Error
	if errors.As(err, &e) {
		return string(e.Reason)
	}
	return ""
}
