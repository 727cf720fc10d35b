package chainmetrics

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go402/go402/metrics"
	"github.com/go402/go402/x402"
)

// Signer is a settlement key's address on a network, with the backend that
// reads its balance.
type Signer struct {
	Network x402.Network
	Address common.Address
	// Backend reads the balance (balanceReader) and, if it can,
	// the mined and pending nonces (NonceAt and PendingNonceAt).
	Backend any
}

type balanceReader interface {
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error)
}

type nonceReader interface {
	NonceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (uint64, error)
}

type pendingNonceReader interface {
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
}

// signerCollector reads each signer's balance and nonce lag when scraped.
type signerCollector struct {
	signers []Signer
	timeout time.Duration
	balance *prometheus.Desc
	lag     *prometheus.Desc
}

// RegisterSigners registers, on reg, gauges read from the chain at every
// scrape (each read bounded by timeout; 0 means 2 s):
//
//   - go402_facilitator_signer_balance_eth{network,signer}: the native
//     balance that pays the gas, in ether;
//   - go402_facilitator_signer_nonce_lag{network,signer}: pending minus
//     mined nonce, the signer's transactions not yet mined.
//
// A signer whose read fails has no sample in that scrape.
func RegisterSigners(reg prometheus.Registerer, signers []Signer, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	l := []string{"network", "signer"}
	c := &signerCollector{signers: append([]Signer(nil), signers...), timeout: timeout,
		balance: prometheus.NewDesc(metrics.Namespace+"_facilitator_signer_balance_eth", "Native (gas) balance of a settlement key, in ether.", l, nil),
		lag:     prometheus.NewDesc(metrics.Namespace+"_facilitator_signer_nonce_lag", "Pending minus mined nonce of a settlement key.", l, nil),
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("metrics/chainmetrics: %w", err)
	}
	return nil
}

func (c *signerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.balance; ch <- c.lag }

func (c *signerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.signers {
		c.collect(ch, s)
	}
}

func (c *signerCollector) collect(ch chan<- prometheus.Metric, s Signer) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	labels := []string{string(s.Network), s.Address.Hex()}
	if r, ok := s.Backend.(balanceReader); ok {
		if wei, err := r.BalanceAt(ctx, s.Address, nil); err == nil {
			eth, _ := new(big.Float).Quo(new(big.Float).SetInt(wei), big.NewFloat(1e18)).Float64()
			ch <- prometheus.MustNewConstMetric(c.balance, prometheus.GaugeValue, eth, labels...)
		}
	}
	mined, ok1 := s.Backend.(nonceReader)
	pending, ok2 := s.Backend.(pendingNonceReader)
	if !ok1 || !ok2 {
		return
	}
	m, err := mined.NonceAt(ctx, s.Address, nil)
	if err != nil {
		return
	}
	p, err := pending.PendingNonceAt(ctx, s.Address)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(p)-float64(m), labels...)
}
