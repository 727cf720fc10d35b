// Package service assembles a complete go402 facilitator from its
// configuration, for embedding in a program or running as `go402
// facilitator`. It owns everything between the parsed configuration
// ([config.Config]) and an [http.Handler]:
//
//   - the ledger: opening SQLite (a temporary file when none is configured
//     for the devnet or for hosts that bring their own chains) or
//     PostgreSQL, with its migrations;
//   - the chains: dialing each configured network's RPC endpoint (checking
//     its chain id, and scrubbing the endpoint's URL, API key included,
//     from every error), or starting the embedded devnet, or using the
//     backends a host already dialed ([Deps].Networks);
//   - the settlement keys and the "exact" scheme of each network, with its
//     batched settlement and batched chain reads, registered for x402 v1
//     and v2;
//   - the reconciler: unfinished settlements are repaired before New
//     returns, then in the background;
//   - the shutdown order: [Service.Shutdown] waits for settlements in
//     flight; [Service.Close] then stops the reconciler and closes the
//     chains, the ledger and the temporary files, in that order.
//
// Serving HTTP (listening, timeouts) is left to the host: mount
// [Service.Handler], or call [Service.Facilitator] in process.
package service

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/health"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// Deps is what a host injects into a [Service]. Its zero value works.
type Deps struct {
	// Logger receives the service's logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Now is the facilitator's clock, against which the age of unfinished
	// settlements is judged. If nil, time.Now.
	Now func() time.Time
	// Getenv reads the environment variables that hold the settlement key
	// or its keystore password (config.Signer). If nil, os.Getenv.
	Getenv func(string) string
	// Networks, if not empty, are the chains served, already dialed by the
	// host (an embedded devnet in a test, for instance), each with its
	// settlement key. They replace the configuration's networks and
	// devnet; the service does not close their backends.
	Networks []Network
	// Store, if not nil, is the ledger to use instead of the configured
	// database. It must be migrated; the service does not close it.
	Store ledger.Store
}

// Network is a chain a host dialed itself (see [Deps].Networks).
type Network struct {
	// Network is the chain's CAIP-2 id, "eip155:<chain id>".
	Network x402.Network
	// Backend is the chain's client.
	Backend evm.ChainBackend
	// Key is the settlement key, which pays the gas.
	Key *ecdsa.PrivateKey
	// Assets are the tokens accepted.
	Assets []evm.Asset
	// Batch is batched settlement; the zero value is off.
	Batch evm.BatchConfig
	// RPC sends the batched chain reads; nil means the backend's own
	// client, if it has one.
	RPC evm.BatchCaller
	// ReadBatchSize bounds the eth_calls of one batch request; 0 means
	// evm.DefaultReadBatchSize.
	ReadBatchSize int
	// PollInterval is how often a receipt is polled for; 0 means the
	// evm.Sender's default.
	PollInterval time.Duration
	// ReceiverAuthorizer, if set, is the batch-settlement
	// receiver-authorizer key: /supported advertises its address, and it
	// signs the claim batches and refunds servers delegate (see
	// batchsettlement.FacilitatorConfig). Nil advertises none.
	ReceiverAuthorizer *ecdsa.PrivateKey
	// ERC6492Factories are the smart-wallet factories whose ERC-6492
	// signatures are accepted (see evm.ExactFacilitatorConfig).
	ERC6492Factories []common.Address
}

// NetworkInfo describes one network a [Service] serves.
type NetworkInfo struct {
	Network x402.Network
	Assets  []evm.Asset
	Batch   evm.BatchConfig // zero when settlements are not batched
	Signer  common.Address
}

// Service is a running facilitator: its ledger, chains, schemes and
// reconciler.
type Service struct {
	cfg     config.Config
	log     *slog.Logger
	fac     *facilitator.Facilitator
	handler http.Handler
	nets    []NetworkInfo
	dev     *devnet.Devnet
	dbDesc  string
	dbTemp  bool
	metrics *serviceMetrics
	store   ledger.Store
	probes  []netProbe      // what GET /ready checks (see ready.go)
	ready   *health.Checker // GET /ready
	now     func() time.Time

	cleanup   closers
	shutdown  atomic.Bool // Shutdown was called
	closeOnce sync.Once
	closeErr  error
}

// New opens the ledger, connects to the chains, registers the schemes and
// repairs the settlements a previous run left unfinished. cfg is the
// parsed (and validated) configuration; nil is the zero Config, which
// suits a host that brings its own chains: a temporary SQLite ledger, the
// default timeouts. Everything New started is closed again if it fails.
// A ctx canceled during start-up makes New return ctx's error.
func New(ctx context.Context, cfg *config.Config, deps Deps) (_ *Service, err error) {
	s := &Service{log: deps.Logger, now: deps.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg != nil {
		s.cfg = *cfg
	}
	// Everything the service starts logs through it: no RPC key or
	// database password shows.
	s.log = redact.Logger(s.log)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.cleanup.close())
		}
	}()
	if s.metrics, err = newServiceMetrics(); err != nil {
		return nil, err
	}
	store := deps.Store
	if store == nil {
		if store, err = s.openLedger(ctx); err != nil {
			return nil, err
		}
	} else {
		s.dbDesc = "(provided by the host)"
	}
	s.store = store
	schemes, err := s.startNetworks(ctx, deps)
	if err != nil {
		return nil, err
	}
	if s.cfg.Database.Postgres != "" && s.cfg.Instance == "" {
		s.log.Warn("no instance name configured: using the host name; with several instances on one PostgreSQL ledger, give each a unique name that survives restarts (instance, or GO402_INSTANCE)")
	}
	s.fac, err = facilitator.New(facilitator.Config{
		Store: store, Logger: s.log, Instance: s.cfg.Instance, SettleTimeout: s.cfg.SettleTimeout, Now: deps.Now,
		Assets: s.assetInfo, // see discovery.go
	})
	if err != nil {
		return nil, err
	}
	for i, sch := range schemes {
		for _, v := range []int{x402.V1, x402.V2} {
			if err := s.fac.Register(v, s.nets[i].Network, sch.exact); err != nil {
				return nil, fmt.Errorf("registering %s for x402 v%d: %w", s.nets[i].Network, v, err)
			}
		}
		// batch-settlement exists in x402 v2 only.
		if err := s.fac.Register(x402.V2, s.nets[i].Network, sch.batch); err != nil {
			return nil, fmt.Errorf("registering batch-settlement on %s: %w", s.nets[i].Network, err)
		}
		// upto exists in x402 v2 only.
		if err := s.fac.Register(x402.V2, s.nets[i].Network, sch.upto); err != nil {
			return nil, fmt.Errorf("registering upto on %s: %w", s.nets[i].Network, err)
		}
	}
	if err := s.startReconciler(ctx); err != nil {
		return nil, err
	}
	counted, err := s.metrics.instrument(ctx, s.fac)
	if err != nil {
		return nil, err
	}
	s.handler, err = facilitator.NewHandler(counted, facilitator.HandlerConfig{APIKeyHashes: s.cfg.Auth.APIKeyHashes, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.newReadiness()
	s.handler = s.metrics.withMetrics(s.withReadiness(s.handler))
	return s, nil
}

// startReconciler repairs what a crash interrupted, then keeps repairing
// what this instance or others leave unfinished, until Close.
func (s *Service) startReconciler(ctx context.Context) error {
	resolved, err := s.fac.Reconcile(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("reconciling the ledger: %w", err)
	}
	s.log.Info("reconciled unfinished settlements", "resolved", resolved, "instance", s.fac.Instance())
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.fac.RunReconciler(rctx, s.cfg.ReconcileInterval)
	}()
	s.cleanup.add(func() error {
		stop()
		<-done
		return nil
	})
	return nil
}

// Handler serves the facilitator over HTTP: POST /verify, POST /settle
// (behind the configured API keys), GET /supported, GET /health
// (liveness) and GET /ready (readiness: the ledger, each network's RPC
// endpoint and each signer's gas balance; 503 with the failing checks),
// and GET /metrics (Prometheus, see MetricsHandler).
func (s *Service) Handler() http.Handler { return s.handler }

// Facilitator is the facilitator itself, for in-process use as an
// [x402.Facilitator].
func (s *Service) Facilitator() *facilitator.Facilitator { return s.fac }

// Networks are the networks served, in configuration order.
func (s *Service) Networks() []NetworkInfo { return append([]NetworkInfo(nil), s.nets...) }

// Signers are the distinct settlement addresses, in network order.
func (s *Service) Signers() []common.Address {
	var out []common.Address
	seen := map[common.Address]bool{}
	for _, n := range s.nets {
		if !seen[n.Signer] {
			seen[n.Signer] = true
			out = append(out, n.Signer)
		}
	}
	return out
}

// Database describes the ledger, "sqlite PATH" or "postgres URL" with the
// password hidden.
func (s *Service) Database() string { return s.dbDesc }

// TemporaryDatabase reports whether the ledger is a SQLite file in a
// temporary directory that Close removes.
func (s *Service) TemporaryDatabase() bool { return s.dbTemp }

// Devnet is the embedded devnet the service started (config.Devnet), or
// nil.
func (s *Service) Devnet() *devnet.Devnet { return s.dev }

// ShutdownWait is how long Close waits for settlements in flight when
// Shutdown was not called ([config.Config.ShutdownWait]).
func (s *Service) ShutdownWait() time.Duration { return s.cfg.ShutdownWait() }

// Shutdown refuses new settlements and waits for the ones in flight, whose
// callers may have gone, to finish and be recorded, until ctx is done.
// Those still running then are in the ledger with their transaction hash,
// and the next start (or another instance) reconciles them. Call it after
// the HTTP server stopped taking requests, and before Close.
func (s *Service) Shutdown(ctx context.Context) error {
	s.shutdown.Store(true)
	if err := s.fac.Shutdown(ctx); err != nil {
		return fmt.Errorf("%w (they will be reconciled at the next start)", err)
	}
	return nil
}

// Close stops the reconciler and closes the chains, the ledger and the
// temporary files. Unless Shutdown was called (whatever its outcome), it
// first drains the settlements in flight, within ShutdownWait. It returns
// the same result when called again.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		var drained error
		if !s.shutdown.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), s.ShutdownWait())
			drained = s.Shutdown(ctx)
			cancel()
		}
		s.closeErr = errors.Join(drained, s.cleanup.close())
	})
	return s.closeErr
}

// closers runs clean-up functions in reverse order of registration.
type closers []func() error

func (c *closers) add(f func() error) { *c = append(*c, f) }

func (c *closers) close() error {
	var errs []error
	for i := len(*c) - 1; i >= 0; i-- {
		if err := (*c)[i](); err != nil {
			errs = append(errs, err)
		}
	}
	*c = nil
	return errors.Join(errs...)
}

// getenv is deps.Getenv, or os.Getenv.
func getenv(deps Deps) func(string) string {
	if deps.Getenv != nil {
		return deps.Getenv
	}
	return os.Getenv
}
