// Package facilitator is go402's x402 facilitator: an [x402.Facilitator]
// that verifies and settles payments through the registered schemes, keeps
// a durable ledger of every verify and settle, and settles each
// authorization at most once, across retries, concurrent resource servers,
// several facilitator instances sharing one database, and crashes.
//
// [Handler] serves it over HTTP (POST /verify, POST /settle, GET /supported,
// GET /health) with the status codes reference clients expect. The HTTP
// client for a remote facilitator is in facilitator/remote. Package
// facilitator/service assembles a complete facilitator (ledger, chains,
// settlement keys, schemes, reconciler) from its configuration, as `go402
// facilitator` runs it.
//
// # Settling at most once
//
// For schemes that implement [x402.Identifier], Settle first claims the
// authorization's key in the ledger (a database unique constraint decides
// between concurrent claimants). The claimant settles; every other request
// for the key waits for the claim's outcome and returns it, or, when the
// claim was for different content under the same key, answers
// duplicate_settlement once that claim settled (and settles itself if the
// claim was given back). The transaction hash is written to the ledger
// before the transaction is broadcast (through [x402.SettleHooks]), so that
// an interrupted settlement can always be looked up on chain.
//
// # Repairing unfinished settlements
//
// A settlement can be left unfinished in the ledger: its process crashed,
// lost its database connection, or answered "pending" for a transaction
// that was later mined or dropped. [Facilitator.Reconcile] (at start-up)
// and [Facilitator.RunReconciler] (in the background) ask the scheme
// ([x402.Reconciler]) what the chain says and record it: settled, reverted,
// still pending, or never sent (the claim is then released so that the
// payment can be settled again). A claim is repaired by another instance
// only once it has not changed for SettleTimeout + [StaleMargin], when its
// owner can no longer be at work on it; a pending settlement whose
// transaction the node does not know is released only once it has been
// pending for SettleTimeout, so that a slow mempool is not taken for a
// dropped transaction. A request waiting for a settlement repairs it the
// same way rather than wait forever.
//
// # Reserving funds
//
// For schemes that report what their verify read ([x402.FundsVerifier]),
// a valid Verify also reserves the payment's amount in the ledger
// ([ledger.Store.Reserve]): the verify stays valid only if the payer's
// balance, less what their other verified but unsettled payments (and
// settlements under way) hold on the same asset, covers it, and if the
// authorization is not settling, settled or reserved already (an
// authorization verified once is refused by a second verify, from any
// server or instance, until it is settled or expires). The check
// and the write are atomic per payer across instances sharing a database.
// A reservation ends when its settlement is recorded final or released,
// and stops counting when the authorization expires; the reconciler
// deletes expired ones. Verify refuses an authorization the ledger shows
// settled without asking the chain, whose answer may lag behind the
// settlement.
//
// # Ledger events
//
// Verify and Settle each append an event to the ledger before they return,
// on a context detached from the caller's, so that an answer given is an
// answer recorded. The module's stores write the events of concurrent
// calls in one transaction (group commit): one fsync serves many verifies,
// and each call still returns only once its own event is committed. A
// failure to record is logged, not returned: the verdict was reached.
//
// See docs/facilitator.md in the repository for running go402 facilitator,
// and docs/configuration.md for its YAML keys.
package facilitator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// ErrShuttingDown is returned by Settle after Shutdown began.
var ErrShuttingDown = errors.New("facilitator: shutting down")

// Defaults for [Config] and [Facilitator.RunReconciler].
const (
	DefaultSettleTimeout     = 2 * time.Minute
	DefaultPollInterval      = 100 * time.Millisecond
	DefaultReconcileInterval = 30 * time.Second
)

// StaleMargin is how long past SettleTimeout a settlement claim must have
// gone unchanged before an instance other than its owner repairs it. An
// owner's settlement ends within SettleTimeout of its claim, and its last
// ledger writes within 30 s after that; the rest covers clock differences
// between instances.
const StaleMargin = time.Minute

// Timeouts of ledger calls made on a detached context.
const (
	ledgerWriteTimeout = 30 * time.Second
	ledgerReadTimeout  = 10 * time.Second
)

// Retries of ledger writes whose loss would leave a settlement unfinished.
const (
	ledgerWriteAttempts = 4
	ledgerRetryDelay    = 100 * time.Millisecond // doubled after each try
)

// repairEvery bounds how often one waiting request asks the chain about an
// abandoned settlement.
const repairEvery = time.Second

// Config configures a [Facilitator]. Store is required.
type Config struct {
	// Store is the durable ledger.
	Store ledger.Store
	// Logger receives structured logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Instance names this facilitator in the ledger (the owner of its
	// claims). It must be unique among the instances sharing one database,
	// and should be stable across restarts: at start-up, Reconcile repairs
	// the unfinished settlements of its own name at once, since no other
	// process can be working on them. Those of other names, a previous
	// name included, are repaired once they have not changed for
	// SettleTimeout + StaleMargin. If empty, the host name.
	Instance string
	// SettleTimeout bounds one settlement (broadcast and receipt wait),
	// which runs to completion even if the caller goes away. If zero,
	// DefaultSettleTimeout. All instances sharing a database must use the
	// same value: each relies on the others' to tell an abandoned claim.
	SettleTimeout time.Duration
	// PollInterval is how often a request waiting for a settlement owned by
	// another instance re-reads the ledger. If zero, DefaultPollInterval.
	PollInterval time.Duration
	// Now returns the current time, against which the age of unfinished
	// settlements is judged. If nil, time.Now.
	Now func() time.Time
	// Assets tells the symbol and decimals of an asset, for the prices
	// GET /discovery/resources shows in the asset's units. If nil, or
	// when it does not know the asset, prices are shown in atomic units
	// only.
	Assets func(network x402.Network, asset string) (AssetInfo, bool)
}

// Facilitator verifies and settles payments. It implements [x402.Facilitator].
type Facilitator struct {
	cfg     Config
	log     *slog.Logger
	schemes x402.Registry[x402.SchemeFacilitator]

	mu      sync.Mutex
	flights map[x402.SettlementKey]*flight // settlements owned by this process
	closed  bool
	wg      sync.WaitGroup // in-flight settlements
}

// flight is a settlement in progress in this process; done is closed when
// its result is in the ledger (or it was released).
type flight struct {
	done        chan struct{}
	fingerprint string
	resp        *x402.SettleResponse // nil if released without a verdict
	err         error
}

// New returns a facilitator with no schemes; add them with Register.
func New(cfg Config) (*Facilitator, error) {
	if cfg.Store == nil {
		return nil, errors.New("facilitator: a ledger Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Instance == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			var b [4]byte
			_, _ = rand.Read(b[:])
			host = "facilitator-" + hex.EncodeToString(b[:])
		}
		cfg.Instance = host
	}
	if cfg.SettleTimeout <= 0 {
		cfg.SettleTimeout = DefaultSettleTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Facilitator{
		cfg:     cfg,
		log:     redact.Logger(cfg.Logger).With("component", "facilitator"),
		flights: map[x402.SettlementKey]*flight{},
	}, nil
}

// Instance returns the name this facilitator claims settlements under.
func (f *Facilitator) Instance() string { return f.cfg.Instance }

// Register adds a scheme for a protocol version on a network or network
// pattern ("eip155:8453", "eip155:*"). A v1 registration with a CAIP-2
// network also serves the network's legacy name.
func (f *Facilitator) Register(version int, network x402.Network, s x402.SchemeFacilitator) error {
	return f.schemes.Register(version, s.Scheme(), network, s)
}

// maxClaimAttempts bounds how often one request re-claims a key that an
// earlier claimant released without settling.
const maxClaimAttempts = 3

// errClaimLost: a claimant found its claim gone or replaced when it went
// to record a transaction (another instance judged it abandoned).
var errClaimLost = errors.New("facilitator: the settlement claim was released by another instance")

var errRetryClaim = errors.New("facilitator: the earlier settlement of this authorization did not broadcast; settle again")

// resolve validates a request and finds its scheme.
func (f *Facilitator) resolve(req *x402.FacilitatorRequest) (x402.SchemeFacilitator, *x402.Payment, *x402.Error) {
	p, err := req.Payment()
	if err != nil {
		var xe *x402.Error
		if errors.As(err, &xe) {
			return nil, nil, xe
		}
		return nil, nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: err.Error()}
	}
	s, _, err := f.schemes.Lookup(req.X402Version, req.Scheme(), req.Network())
	if err != nil {
		reason := x402.ReasonInvalidNetwork
		if !f.knowsScheme(req.X402Version, req.Scheme()) {
			reason = x402.ReasonUnsupportedScheme
		}
		return nil, p, &x402.Error{Reason: reason, Message: fmt.Sprintf("this facilitator does not support x402 v%d scheme %q on network %q", req.X402Version, req.Scheme(), req.Network())}
	}
	if p.Accepted.Scheme != p.Requirements.Scheme {
		return nil, p, &x402.Error{Reason: x402.ReasonInvalidScheme, Message: fmt.Sprintf("payment uses scheme %q but the requirements say %q", p.Accepted.Scheme, p.Requirements.Scheme)}
	}
	return s, p, nil
}

func (f *Facilitator) knowsScheme(version int, scheme string) bool {
	for _, k := range f.schemes.Kinds() {
		if k.Version == version && k.Scheme == scheme {
			return true
		}
	}
	return false
}

// SupportedExtraer is implemented by a scheme whose /supported kind
// carries an extra (batch-settlement's receiverAuthorizer, say).
type SupportedExtraer interface {
	// SupportedExtra returns the kind's extra on network, or nil.
	SupportedExtra(network x402.Network) x402.Object
}

// SupportedExtensioner is implemented by a scheme that accepts payment
// extensions (the exact scheme's eip2612GasSponsoring, say).
type SupportedExtensioner interface {
	// SupportedExtensions returns the keys of the extensions it accepts.
	SupportedExtensions() []string
}

// Supported lists the kinds of payment this facilitator handles, with the
// extra of the schemes that have one ([SupportedExtraer]), the extensions
// they accept ([SupportedExtensioner]), and the addresses that settle them.
func (f *Facilitator) Supported(context.Context) (*x402.SupportedResponse, error) {
	resp := &x402.SupportedResponse{Kinds: []x402.SupportedKind{}, Extensions: []string{}, Signers: map[string][]string{}}
	seen := map[string]bool{}
	for _, k := range f.schemes.Kinds() {
		network := k.Network
		if k.Version == x402.V1 {
			if name, ok := network.V1Name(); ok {
				network = x402.Network(name)
			}
		}
		s, _, err := f.schemes.Lookup(k.Version, k.Scheme, k.Network)
		kind := x402.SupportedKind{X402Version: k.Version, Scheme: k.Scheme, Network: network}
		if err == nil {
			if se, ok := s.(SupportedExtraer); ok {
				kind.Extra = se.SupportedExtra(k.Network)
			}
		}
		resp.Kinds = append(resp.Kinds, kind)
		if err != nil {
			continue
		}
		if se, ok := s.(SupportedExtensioner); ok {
			for _, e := range se.SupportedExtensions() {
				if !seen["extension "+e] {
					seen["extension "+e] = true
					resp.Extensions = append(resp.Extensions, e)
				}
			}
		}
		if sg, ok := s.(interface{ Signers() []string }); ok {
			family := k.Network.Namespace() + ":*"
			for _, addr := range sg.Signers() {
				if !seen[family+addr] {
					seen[family+addr] = true
					resp.Signers[family] = append(resp.Signers[family], addr)
				}
			}
		}
	}
	return resp, nil
}

// Shutdown stops accepting settlements and waits for in-flight ones to
// finish and be recorded, or for ctx to end.
func (f *Facilitator) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("facilitator: settlements still in flight: %w", ctx.Err())
	}
}

var _ x402.Facilitator = (*Facilitator)(nil)
