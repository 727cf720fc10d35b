package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/health"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// netProbe is what GET /ready reads about one network.
type netProbe struct {
	network x402.Network
	chainID uint64
	backend health.ChainReader
	balance health.BalanceReader // nil when the backend cannot read balances
	signer  common.Address
	byAge   bool // judge the latest block's age (not on the embedded devnet)
}

// probeKey is a settlement key no payment has: reading it is the ledger's
// readiness query (it answers ErrNotFound when the ledger works).
var probeKey = x402.SettlementKey{Network: "eip155:0", Asset: "readiness", Payer: "readiness", Nonce: "readiness"}

// addProbe records network n for the readiness checks.
func (s *Service) addProbe(n Network, chainID uint64, byAge bool) {
	p := netProbe{network: n.Network, chainID: chainID, backend: n.Backend, byAge: byAge}
	if n.Key != nil {
		p.signer = crypto.PubkeyToAddress(n.Key.PublicKey)
	}
	if b, ok := n.Backend.(health.BalanceReader); ok {
		p.balance = b
	}
	s.probes = append(s.probes, p)
}

// readinessChecks are the checks of GET /ready: the ledger, then the
// chain and the signer's gas balance of every network.
func (s *Service) readinessChecks() []health.Check {
	store := s.store
	checks := []health.Check{{Name: "ledger", Run: func(ctx context.Context) (string, error) {
		_, err := store.Get(ctx, probeKey)
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return "", err
		}
		return s.dbKind() + " answers", nil
	}}}
	floor := s.cfg.Readiness.GasFloor()
	for _, p := range s.probes {
		maxAge := s.cfg.Readiness.MaxBlockAge
		if !p.byAge {
			maxAge = 0
		}
		checks = append(checks, health.ChainCheck("rpc "+string(p.network), p.backend, p.chainID, maxAge, s.now))
		if p.balance == nil {
			checks = append(checks, health.Check{Name: "gas " + string(p.network), Run: func(context.Context) (string, error) {
				return "", fmt.Errorf("the backend of %s cannot read balances", p.network)
			}})
			continue
		}
		checks = append(checks, health.GasCheck("gas "+string(p.network), p.balance, p.signer, floor))
	}
	return checks
}

// dbKind is "sqlite" or "postgres" (never the DSN).
func (s *Service) dbKind() string {
	if s.cfg.Database.Postgres != "" && s.dbDesc != "(provided by the host)" {
		return "postgres"
	}
	if s.dbDesc == "(provided by the host)" {
		return "the ledger"
	}
	return "sqlite"
}

// newReadiness builds the /ready checker; the configured RPC URLs and the
// database URL are the secrets it never shows.
func (s *Service) newReadiness() {
	secrets := []string{s.cfg.Database.Postgres}
	for _, n := range s.cfg.Networks {
		secrets = append(secrets, n.RPCURLs...)
	}
	s.ready = health.New(health.Config{Checks: s.readinessChecks, Secrets: secrets, Now: s.now})
}

// ReadyChecks are the checks GET /ready runs, for a host that serves its
// own readiness endpoint (`go402 gateway --devnet` adds them to the
// gateway's): the ledger, then each network's chain and signer gas.
func (s *Service) ReadyChecks() []health.Check { return s.readinessChecks() }

// Ready runs the readiness checks (the report is cached for a second).
func (s *Service) Ready(ctx context.Context) health.Report { return s.ready.Run(ctx) }

// withReadiness adds GET /ready to the facilitator's handler.
func (s *Service) withReadiness(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ready", s.ready)
	mux.Handle("/", h)
	return mux
}
