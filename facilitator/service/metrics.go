package service

import (
	"context"
	"net/http"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/metrics"
	"github.com/go402/go402/metrics/chainmetrics"
	"github.com/go402/go402/x402"
)

// serviceMetrics is a service's Prometheus registry and RPC counters.
type serviceMetrics struct {
	reg     *prometheus.Registry
	rpc     *chainmetrics.RPC
	signers []chainmetrics.Signer
}

func newServiceMetrics() (*serviceMetrics, error) {
	reg := metrics.NewRegistry()
	rpc, err := chainmetrics.NewRPC(reg)
	if err != nil {
		return nil, err
	}
	return &serviceMetrics{reg: reg, rpc: rpc}, nil
}

// instrumentNetwork counts n's RPC calls and watches its signer's balance.
func (m *serviceMetrics) instrumentNetwork(n Network) Network {
	if n.RPC == nil {
		// The batched reads would otherwise go to the backend's own
		// client, around the counting wrapper.
		if c, ok := n.Backend.(interface{ Client() *rpc.Client }); ok && c.Client() != nil {
			n.RPC = c.Client()
		}
	}
	if n.RPC != nil {
		n.RPC = m.rpc.BatchCaller(n.Network, n.RPC)
	}
	n.Backend = m.rpc.Backend(n.Network, n.Backend)
	if n.Key != nil {
		m.signers = append(m.signers, chainmetrics.Signer{Network: n.Network, Address: crypto.PubkeyToAddress(n.Key.PublicKey), Backend: n.Backend})
	}
	return n
}

// instrument registers the signer gauges and returns f counting its
// verifies and settlements.
func (m *serviceMetrics) instrument(ctx context.Context, f x402.Facilitator) (x402.Facilitator, error) {
	if err := chainmetrics.RegisterSigners(m.reg, m.signers, 0); err != nil {
		return nil, err
	}
	counted, err := metrics.InstrumentFacilitator(ctx, m.reg, f)
	if err != nil {
		return nil, err
	}
	if d, ok := f.(facilitator.Discoverer); ok {
		return countedDiscoverer{counted, d}, nil
	}
	return counted, nil
}

// countedDiscoverer is a counted facilitator that keeps serving the
// discovery catalogue of the facilitator it counts.
type countedDiscoverer struct {
	*metrics.Facilitator
	d facilitator.Discoverer
}

func (c countedDiscoverer) DiscoveryResources(ctx context.Context, q bazaar.ListParams) (*bazaar.ListResponse, error) {
	return c.d.DiscoveryResources(ctx, q)
}

// withMetrics serves GET /metrics from the registry, the rest from h
// (untouched: no ServeMux path cleaning in front of it).
func (m *serviceMetrics) withMetrics(h http.Handler) http.Handler {
	return metrics.WithPath(h, m.reg)
}

// MetricsHandler serves the facilitator's Prometheus metrics (GET
// /metrics), for a separate listen address (config metricsListen).
func (s *Service) MetricsHandler() http.Handler { return metrics.Handler(s.metrics.reg) }

// MetricsRegistry is the facilitator's Prometheus registry, on which a
// host may register its own collectors.
func (s *Service) MetricsRegistry() *prometheus.Registry { return s.metrics.reg }
