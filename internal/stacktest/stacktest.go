// Package stacktest builds the full go402 stack for tests: an embedded
// devnet, a facilitator service (facilitator/service) on it with a SQLite
// ledger in the test's temporary directory, and, on request, a paid
// server behind the x402http middleware. Everything is real: EIP-712
// signatures, a mining chain, HTTP on loopback. Every piece is closed
// when the test ends (through t.Cleanup), the facilitator draining its
// settlements before the chain stops.
package stacktest

import (
	"context"
	"crypto/ecdsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// DefaultPollInterval is the receipt polling of the fixture's facilitator.
const DefaultPollInterval = 20 * time.Millisecond

// Config configures a [Stack]. Its zero value works: the devnet's default
// chain and accounts, the last account settling.
type Config struct {
	// Devnet configures the chain (chain id, accounts, timestamp lead,
	// JSON-RPC address).
	Devnet devnet.Config
	// Signer is the index of the devnet account that settles; negative
	// counts from the end, and 0 means the last account.
	Signer int
	// Facilitator configures the facilitator the same way as
	// FacilitatorOn's options.
	Facilitator Options
}

// Options configure the facilitator of [FacilitatorOn].
type Options struct {
	// PollInterval is the receipt polling; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// Batch is batched settlement; the zero value is off.
	Batch evm.BatchConfig
	// Instance names the facilitator in the ledger; empty means the host
	// name.
	Instance string
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
	// Now is the facilitator's clock; nil means time.Now.
	Now func() time.Time
	// Store is the ledger; nil means SQLite at SQLitePath.
	Store ledger.Store
	// SQLitePath is the SQLite ledger's file when Store is nil; "" means a
	// new file in the test's temporary directory.
	SQLitePath string
	// Backend reads and writes the chain; nil means the devnet's client.
	Backend evm.ChainBackend
	// ReceiverAuthorizer is the batch-settlement receiver-authorizer key
	// the facilitator holds; nil means none.
	ReceiverAuthorizer *ecdsa.PrivateKey
	// ERC6492Factories are the accepted ERC-6492 wallet factories; nil
	// means none.
	ERC6492Factories []common.Address
}

// Stack is a devnet with a facilitator.
type Stack struct {
	Devnet  *devnet.Devnet
	Network x402.Network
	// Service is the facilitator service; Facilitator is its
	// in-process facilitator.
	Service     *service.Service
	Facilitator *facilitator.Facilitator
	// Networks holds the devnet, for the server and client schemes.
	Networks *evm.Networks
	// Accounts are the devnet's funded accounts; Signer is the one that
	// settles.
	Accounts []devnet.Account
	Signer   devnet.Account
}

// New starts a devnet and a facilitator on it.
func New(t testing.TB, cfg Config) *Stack {
	t.Helper()
	d, err := devnet.Start(t.Context(), cfg.Devnet)
	if err != nil {
		t.Fatalf("stacktest: starting the devnet: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	accts := d.Accounts()
	i := cfg.Signer
	if i == 0 {
		i = -1
	}
	if i < 0 {
		i += len(accts)
	}
	if i < 0 || i >= len(accts) {
		t.Fatalf("stacktest: signer account %d of %d", i, len(accts))
	}
	nets := &evm.Networks{}
	if err := d.Register(nets); err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	svc := FacilitatorOn(t, d, accts[i], cfg.Facilitator)
	return &Stack{
		Devnet: d, Network: x402.Network(d.Network()), Service: svc, Facilitator: svc.Facilitator(),
		Networks: nets, Accounts: accts, Signer: accts[i],
	}
}

// FacilitatorOn runs a facilitator service on d (for x402 v1 and v2, with
// d's assets and its Permit2 test token), settling from signer, with a SQLite ledger in a temporary
// directory. It is closed, its settlements drained, when the test ends,
// before d is (if d was started before the call).
func FacilitatorOn(t testing.TB, d *devnet.Devnet, signer devnet.Account, opts Options) *service.Service {
	t.Helper()
	poll := opts.PollInterval
	if poll == 0 {
		poll = DefaultPollInterval
	}
	nc := d.NetworkConfig()
	cfg := &config.Config{Instance: opts.Instance}
	if opts.Store == nil {
		cfg.Database.SQLite = opts.SQLitePath
		if cfg.Database.SQLite == "" {
			cfg.Database.SQLite = filepath.Join(t.TempDir(), "ledger.db")
		}
	}
	backend := opts.Backend
	if backend == nil {
		backend = d.Client()
	}
	svc, err := service.New(t.Context(), cfg, service.Deps{
		Logger: opts.Logger, Now: opts.Now, Store: opts.Store,
		Networks: []service.Network{{
			Network: nc.Network, Backend: backend, Key: signer.PrivateKey, Assets: append(nc.Assets, d.PermitTokenAsset()),
			Batch: opts.Batch, PollInterval: poll, ReceiverAuthorizer: opts.ReceiverAuthorizer,
			ERC6492Factories: opts.ERC6492Factories,
		}},
	})
	if err != nil {
		t.Fatalf("stacktest: starting the facilitator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = svc.Shutdown(ctx)
		_ = svc.Close()
	})
	return svc
}

// FacilitatorURL serves the facilitator over HTTP on loopback until the
// test ends and returns its base URL.
func (s *Stack) FacilitatorURL(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(s.Service.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// Option is a payment option on the devnet: price (such as "$0.01") to
// payTo.
func (s *Stack) Option(price, payTo string) x402http.PaymentOption {
	return x402http.PaymentOption{Network: s.Network, Price: price, PayTo: payTo}
}

// Serve puts next behind x402http middleware built from cfg, whose
// Facilitator (if nil) is the stack's in-process facilitator and whose
// Schemes (if nil) are the EVM server schemes of the devnet, and serves it
// on loopback until the test ends.
func (s *Stack) Serve(t testing.TB, cfg x402http.Config, next http.Handler) (*x402http.Middleware, *httptest.Server) {
	t.Helper()
	if cfg.Facilitator == nil {
		cfg.Facilitator = s.Facilitator
	}
	if cfg.Schemes == nil {
		cfg.Schemes = evm.ServerSchemes(s.Networks)
	}
	mw, err := x402http.New(cfg)
	if err != nil {
		t.Fatalf("stacktest: building the middleware: %v", err)
	}
	srv := httptest.NewServer(mw.Handler(next))
	t.Cleanup(srv.Close)
	return mw, srv
}
