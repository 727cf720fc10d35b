// Package facilitator is go402's x402 facilitator: an [x402.Facilitator]
// that verifies and settles payments through the registered schemes, keeps
// a durable ledger of every verify and settle, and settles each
// authorization at most once, across retries, concurrent resource servers,
// several facilitator instances sharing one database, and crashes.
//
// [Handler] serves it over HTTP (POST /verify, POST /settle, GET /supported,
// GET /health) with the status codes reference clients expect. The HTTP
// client for a remote facilitator is in facilitator/remote.
//
// # Settling at most once
//
// For schemes that implement [x402.Identifier], Settle first claims the
// authorization's key in the ledger (a database unique constraint decides
// between concurrent claimants). The claimant settles; every other request
// for the key waits for and returns the first result. The transaction hash
// is written to the ledger before the transaction is broadcast (through
// [x402.SettleTrace]), so after a crash [Facilitator.Reconcile] finds every
// interrupted settlement and asks the scheme ([x402.Reconciler]) what the
// chain says: settled, reverted, still pending, or never sent.
package facilitator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// ErrShuttingDown is returned by Settle after Shutdown began.
var ErrShuttingDown = errors.New("facilitator: shutting down")

// Defaults for [Config].
const (
	DefaultSettleTimeout = 2 * time.Minute
	DefaultPollInterval  = 100 * time.Millisecond
)

// Config configures a [Facilitator]. Store is required.
type Config struct {
	// Store is the durable ledger.
	Store ledger.Store
	// Logger receives structured logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Instance names this facilitator in the ledger. It must be stable
	// across restarts and unique among instances sharing one database:
	// at start-up, Reconcile repairs this instance's interrupted
	// settlements at once, and other instances' only once they are older
	// than SettleTimeout plus a minute (their owner may still be at work).
	// If empty, the host name.
	Instance string
	// SettleTimeout bounds one settlement (broadcast and receipt wait),
	// which runs to completion even if the caller goes away. If zero,
	// DefaultSettleTimeout.
	SettleTimeout time.Duration
	// PollInterval is how often a request waiting for a settlement owned by
	// another instance re-reads the ledger. If zero, DefaultPollInterval.
	PollInterval time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
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
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
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
		log:     cfg.Logger.With("component", "facilitator"),
		flights: map[x402.SettlementKey]*flight{},
	}, nil
}

// Register adds a scheme for a protocol version on a network or network
// pattern ("eip155:8453", "eip155:*"). A v1 registration with a CAIP-2
// network also serves the network's legacy name.
func (f *Facilitator) Register(version int, network x402.Network, s x402.SchemeFacilitator) error {
	return f.schemes.Register(version, s.Scheme(), network, s)
}

// Verify checks a payment without moving funds.
func (f *Facilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	start := f.cfg.Now()
	s, p, rej := f.resolve(req)
	var resp *x402.VerifyResponse
	var err error
	switch {
	case rej != nil:
		resp = &x402.VerifyResponse{InvalidReason: rej.Reason, InvalidMessage: rej.Message}
	default:
		resp, err = f.verifyAgainstLedger(ctx, s, p)
	}
	ev := f.event(ledger.EventVerify, req, p)
	switch {
	case err != nil:
		ev.Status, ev.Message = "error", err.Error()
	case resp.IsValid:
		ev.Status, ev.Payer = "valid", resp.Payer
	default:
		ev.Status, ev.Payer, ev.Reason, ev.Message = "invalid", resp.Payer, resp.InvalidReason, resp.InvalidMessage
	}
	f.record(ctx, ev)
	f.log.Debug("verify", "status", ev.Status, "reason", ev.Reason, "network", ev.Network, "payer", ev.Payer, "elapsed", f.cfg.Now().Sub(start))
	return resp, err
}

// verifyAgainstLedger runs the scheme's verify, and refuses an
// authorization whose settlement is under way: until it is mined the chain
// still shows it unused, and serving it twice would give away a resource.
func (f *Facilitator) verifyAgainstLedger(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment) (*x402.VerifyResponse, error) {
	if id, ok := s.(x402.Identifier); ok {
		if key, _, err := id.Identify(p); err == nil {
			rec, err := f.cfg.Store.Get(ctx, key)
			switch {
			case err == nil && !rec.Status.Final():
				return &x402.VerifyResponse{Payer: payerOf(rec.Response), InvalidReason: x402.ReasonDuplicateSettlement,
					InvalidMessage: "this authorization is already being settled"}, nil
			case err != nil && !errors.Is(err, ledger.ErrNotFound):
				return nil, fmt.Errorf("facilitator: reading ledger: %w", err)
			}
		}
	}
	return s.Verify(ctx, p)
}

// Settle settles a payment, at most once per authorization. A repeated
// settle of the same payment returns the first result.
func (f *Facilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	s, p, rej := f.resolve(req)
	if rej != nil {
		resp := &x402.SettleResponse{ErrorReason: rej.Reason, ErrorMessage: rej.Message, Network: req.Network()}
		f.recordSettle(ctx, req, p, resp, nil)
		return resp, nil
	}
	id, ok := s.(x402.Identifier)
	if !ok {
		// The scheme has no replay key: settle directly.
		resp, err := s.Settle(ctx, p)
		f.recordSettle(ctx, req, p, resp, err)
		return resp, err
	}
	key, fp, err := id.Identify(p)
	if err != nil {
		// Undecodable payload: the scheme rejects it without moving funds.
		resp, err := s.Settle(ctx, p)
		f.recordSettle(ctx, req, p, resp, err)
		return resp, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("facilitator: encoding request: %w", err)
	}
	rec := &ledger.Settlement{
		Key: key, Fingerprint: fp, Request: body, Scheme: s.Scheme(), Version: p.Version,
		PayTo: p.Requirements.PayTo, Amount: p.Requirements.Amount.String(), Owner: f.cfg.Instance,
	}
	if p.Resource != nil {
		rec.Resource = p.Resource.URL
	}

	for attempt := 0; ; attempt++ {
		resp, owned, err := f.settleKeyed(ctx, req, s, p, rec)
		if errors.Is(err, errRetryClaim) && attempt < maxClaimAttempts {
			continue
		}
		if !owned {
			// The owner recorded the settlement itself; record this answer
			// as a repeat of it.
			f.recordRepeat(ctx, req, p, resp, err)
		}
		return resp, err
	}
}

func (f *Facilitator) recordRepeat(ctx context.Context, req *x402.FacilitatorRequest, p *x402.Payment, resp *x402.SettleResponse, err error) {
	ev := f.event(ledger.EventSettle, req, p)
	if err != nil {
		ev.Status, ev.Message = "error", err.Error()
	} else {
		ev.Status, ev.Payer, ev.TxHash, ev.Reason = settleStatus(resp), resp.Payer, resp.Transaction, resp.ErrorReason
		ev.Message = "repeat of an earlier settle of this authorization"
		if resp.ErrorMessage != "" {
			ev.Message += ": " + resp.ErrorMessage
		}
	}
	f.record(ctx, ev)
}

// maxClaimAttempts bounds how often one request re-claims a key that an
// earlier claimant released without settling.
const maxClaimAttempts = 3

// settleKeyed claims rec's key and settles, or waits for the request that
// claimed it first.
//
// owned reports whether this request settled (and recorded) it itself.
func (f *Facilitator) settleKeyed(ctx context.Context, req *x402.FacilitatorRequest, s x402.SchemeFacilitator, p *x402.Payment, rec *ledger.Settlement) (resp *x402.SettleResponse, owned bool, err error) {
	key, fp := rec.Key, rec.Fingerprint
	if fl := f.flight(key); fl != nil {
		resp, err := f.awaitFlight(ctx, fl, key, fp, p)
		return resp, false, err
	}
	// Count the request as in flight before claiming, so that Shutdown
	// waits for any settlement it may start.
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, true, ErrShuttingDown
	}
	f.wg.Add(1)
	f.mu.Unlock()
	existing, claimed, err := f.cfg.Store.Claim(ctx, rec)
	if err != nil || !claimed {
		f.wg.Done()
		if err != nil {
			return nil, true, fmt.Errorf("facilitator: claiming settlement: %w", err)
		}
		resp, err := f.awaitRecord(ctx, s, existing, fp, p)
		return resp, false, err
	}
	fl := &flight{done: make(chan struct{}), fingerprint: fp}
	f.mu.Lock()
	f.flights[key] = fl
	f.mu.Unlock()

	// The settlement runs to completion whatever happens to the caller.
	go func() {
		defer f.wg.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.SettleTimeout)
		defer cancel()
		func() {
			defer func() {
				if r := recover(); r != nil {
					// Keep the claim (a transaction may be out): start-up
					// reconciliation resolves it.
					f.log.Error("settlement panicked; claim kept for reconciliation", "panic", r)
					fl.resp, fl.err = nil, fmt.Errorf("facilitator: settlement failed unexpectedly: %v", r)
				}
			}()
			fl.resp, fl.err = f.settleOwned(sctx, s, p, key)
			if fl.resp == nil && fl.err == nil {
				fl.err = errors.New("facilitator: scheme returned no settlement response")
			}
		}()
		f.recordSettle(sctx, req, p, fl.resp, fl.err)
		f.mu.Lock()
		delete(f.flights, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	resp, err = f.awaitFlight(ctx, fl, key, fp, p)
	return resp, true, err
}

// flight returns this process's settlement in progress for key, if any.
func (f *Facilitator) flight(key x402.SettlementKey) *flight {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flights[key]
}

func payerOf(r *x402.SettleResponse) string {
	if r == nil {
		return ""
	}
	return r.Payer
}

// settleOwned settles a claimed authorization and records the outcome.
func (f *Facilitator) settleOwned(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey) (*x402.SettleResponse, error) {
	var lastTx string
	trace := &x402.SettleTrace{Broadcast: func(ctx context.Context, tx string) error {
		if err := f.cfg.Store.Update(ctx, key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: tx}); err != nil {
			return fmt.Errorf("facilitator: recording transaction before broadcast: %w", err)
		}
		lastTx = tx
		return nil
	}}
	resp, err := s.Settle(x402.WithSettleTrace(ctx, trace), p)
	// Ledger writes after a possible broadcast must not fail because the
	// settlement's own deadline ran out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	if err != nil {
		// No verdict. A recorded transaction was not sent (the scheme
		// reports a possibly-sent one as pending, not as an error), but
		// let the chain confirm that before giving the key back.
		if verdict := f.release(wctx, s, p, key, lastTx); verdict != nil {
			return verdict, nil
		}
		return nil, err
	}
	var u ledger.Update
	switch {
	case resp.Success:
		u = ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettled, TxHash: resp.Transaction, Response: resp}
	case resp.ErrorReason == x402.ReasonSettlementPending:
		u = ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: resp.Transaction, Response: resp}
	case resp.Transaction != "":
		// Mined and reverted. Ask the chain: the authorization may have
		// been used anyway (the payment happened), or still be unused (the
		// key is given back so a retry can settle it).
		if verdict := f.release(wctx, s, p, key, resp.Transaction); verdict != nil {
			return verdict, nil
		}
		if _, err := f.cfg.Store.Get(wctx, key); errors.Is(err, ledger.ErrNotFound) {
			return resp, nil // released
		}
		u = ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusFailed, TxHash: resp.Transaction, Response: resp}
	default:
		// Rejected before anything was broadcast: give the key back so a
		// corrected retry (say, after a top-up) can settle.
		f.release(wctx, s, p, key, lastTx)
		return resp, nil
	}
	if err := f.cfg.Store.Update(wctx, key, u); err != nil {
		// Funds may have moved: report the truth to the caller; start-up
		// reconciliation repairs the ledger from the recorded hash.
		f.log.Error("settlement outcome not recorded; will be reconciled", "tx", resp.Transaction, "status", u.Status, "err", err)
	}
	return resp, nil
}

// ledgerWriteTimeout bounds a ledger write made after a broadcast.
const ledgerWriteTimeout = 30 * time.Second

// release gives an authorization's key back after a settlement that moved
// no funds, after checking with the chain when a transaction was recorded.
// If the chain shows the authorization was used after all (or a transaction
// is still pending), it records that outcome instead and returns it.
func (f *Facilitator) release(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey, tx string) *x402.SettleResponse {
	if tx != "" {
		rc, ok := s.(x402.Reconciler)
		if !ok {
			f.log.Warn("keeping settlement claim: recorded transaction cannot be checked", "tx", tx)
			return nil
		}
		resp, err := rc.Reconcile(ctx, p, key, tx)
		switch {
		case err == nil:
			if rec, gerr := f.cfg.Store.Get(ctx, key); gerr == nil {
				f.finish(ctx, rec, resp)
			}
			return resp
		case !errors.Is(err, x402.ErrNotSettled):
			f.log.Warn("keeping settlement claim for reconciliation", "tx", tx, "err", err)
			return nil
		}
	}
	if err := f.cfg.Store.Release(ctx, key, tx); err != nil {
		f.log.Error("releasing settlement claim", "err", err)
	}
	return nil
}

// awaitFlight waits for a settlement owned by this process.
func (f *Facilitator) awaitFlight(ctx context.Context, fl *flight, key x402.SettlementKey, fp string, p *x402.Payment) (*x402.SettleResponse, error) {
	select {
	case <-fl.done:
	case <-ctx.Done():
		return f.pendingFromLedger(key, p, ctx.Err())
	}
	if fl.fingerprint != fp {
		// Another payment with the same key: answer from the ledger.
		rec, err := f.cfg.Store.Get(ctx, key)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			return nil, errRetryClaim // it was released: this one may settle
		case err != nil:
			return nil, fmt.Errorf("facilitator: reading ledger: %w", err)
		}
		return conflict(p, rec), nil
	}
	if fl.err != nil {
		return nil, fl.err
	}
	return fl.resp, nil
}

// awaitRecord answers a settle whose key another request claimed first.
func (f *Facilitator) awaitRecord(ctx context.Context, s x402.SchemeFacilitator, rec *ledger.Settlement, fp string, p *x402.Payment) (*x402.SettleResponse, error) {
	key := rec.Key
	for {
		if rec.Fingerprint != fp {
			return conflict(p, rec), nil
		}
		switch rec.Status {
		case ledger.StatusSettled, ledger.StatusFailed:
			return rec.Response, nil
		case ledger.StatusPending:
			return f.refreshPending(ctx, s, rec, p)
		}
		// Settling elsewhere: wait for the owner.
		if fl := f.flight(key); fl != nil {
			return f.awaitFlight(ctx, fl, key, fp, p)
		}
		select {
		case <-ctx.Done():
			return f.pendingFromLedger(key, p, ctx.Err())
		case <-time.After(f.cfg.PollInterval):
		}
		next, err := f.cfg.Store.Get(ctx, key)
		if errors.Is(err, ledger.ErrNotFound) {
			// The owner released it without settling: settle ourselves.
			return nil, errRetryClaim
		}
		if err != nil {
			return nil, fmt.Errorf("facilitator: reading ledger: %w", err)
		}
		rec = next
	}
}

var errRetryClaim = errors.New("facilitator: the earlier settlement of this authorization did not broadcast; settle again")

// refreshPending asks the chain whether a pending settlement is done.
func (f *Facilitator) refreshPending(ctx context.Context, s x402.SchemeFacilitator, rec *ledger.Settlement, p *x402.Payment) (*x402.SettleResponse, error) {
	rc, ok := s.(x402.Reconciler)
	if !ok {
		return rec.Response, nil
	}
	resp, err := rc.Reconcile(ctx, p, rec.Key, rec.TxHash)
	if err != nil || resp.ErrorReason == x402.ReasonSettlementPending {
		return rec.Response, nil
	}
	f.finish(ctx, rec, resp)
	return resp, nil
}

// finish records the final outcome of a pending or interrupted settlement.
func (f *Facilitator) finish(ctx context.Context, rec *ledger.Settlement, resp *x402.SettleResponse) {
	status := ledger.StatusFailed
	switch {
	case resp.Success:
		status = ledger.StatusSettled
	case resp.ErrorReason == x402.ReasonSettlementPending:
		status = ledger.StatusPending
	}
	if err := f.cfg.Store.Update(ctx, rec.Key, ledger.Update{From: rec.Status, Status: status, TxHash: resp.Transaction, Response: resp}); err != nil && !errors.Is(err, ledger.ErrConflict) {
		f.log.Error("recording reconciled settlement", "tx", resp.Transaction, "err", err)
	}
}

// pendingFromLedger answers a caller who stopped waiting: with the stored
// answer of a settlement that has one (pending or final), else with the
// context error. A claim whose transaction may not have left is not
// reported as pending.
func (f *Facilitator) pendingFromLedger(key x402.SettlementKey, p *x402.Payment, cause error) (*x402.SettleResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ledgerWriteTimeout)
	defer cancel()
	rec, err := f.cfg.Store.Get(ctx, key)
	if err == nil && rec.Response != nil && rec.Status != ledger.StatusSettling {
		return rec.Response, nil
	}
	return nil, fmt.Errorf("facilitator: gave up waiting for the settlement: %w", cause)
}

// conflict answers a settle whose key is taken by different content: the
// same payer and nonce presented with another amount, recipient or
// signature. It never returns the other payment's result.
func conflict(p *x402.Payment, rec *ledger.Settlement) *x402.SettleResponse {
	return &x402.SettleResponse{
		ErrorReason:  x402.ReasonDuplicateSettlement,
		ErrorMessage: "this authorization nonce was already presented for a different payment",
		Network:      wireNetwork(p),
		Payer:        payerOf(rec.Response),
	}
}

func wireNetwork(p *x402.Payment) x402.Network {
	if p == nil {
		return ""
	}
	if p.Version == x402.V1 {
		if name, ok := p.Requirements.Network.V1Name(); ok {
			return x402.Network(name)
		}
	}
	return p.Requirements.Network
}

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

// Supported lists the kinds of payment this facilitator handles, and the
// addresses that settle them.
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
		resp.Kinds = append(resp.Kinds, x402.SupportedKind{X402Version: k.Version, Scheme: k.Scheme, Network: network})
		s, _, err := f.schemes.Lookup(k.Version, k.Scheme, k.Network)
		if err != nil {
			continue
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

// Reconcile settles the ledger's unfinished settlements with the chain: it
// runs at start-up, before serving, to repair what a crash interrupted.
// It returns how many settlements it resolved.
func (f *Facilitator) Reconcile(ctx context.Context) (int, error) {
	recs, err := f.cfg.Store.Unfinished(ctx)
	if err != nil {
		return 0, fmt.Errorf("facilitator: listing unfinished settlements: %w", err)
	}
	resolved := 0
	staleBefore := f.cfg.Now().Add(-(f.cfg.SettleTimeout + time.Minute))
	for _, rec := range recs {
		if rec.Owner != f.cfg.Instance && rec.UpdatedAt.After(staleBefore) {
			continue // another live instance may own it
		}
		req, err := x402.DecodeFacilitatorRequest(rec.Request)
		if err != nil {
			f.log.Error("cannot reconcile: stored request undecodable", "payer", rec.Key.Payer, "err", err)
			continue
		}
		s, p, rej := f.resolve(req)
		if rej != nil {
			f.log.Error("cannot reconcile: scheme not registered", "payer", rec.Key.Payer, "reason", rej.Reason)
			continue
		}
		rc, ok := s.(x402.Reconciler)
		if !ok {
			continue
		}
		resp, err := rc.Reconcile(ctx, p, rec.Key, rec.TxHash)
		switch {
		case errors.Is(err, x402.ErrNotSettled):
			if rec.Status == ledger.StatusSettling {
				if err := f.cfg.Store.Release(ctx, rec.Key, rec.TxHash); err != nil {
					f.log.Error("releasing unsent settlement", "err", err)
					continue
				}
				f.log.Info("reconciled: settlement was never sent; released", "payer", rec.Key.Payer, "tx", rec.TxHash)
				resolved++
			}
		case err != nil:
			f.log.Error("reconciling settlement", "payer", rec.Key.Payer, "tx", rec.TxHash, "err", err)
		default:
			f.finish(ctx, rec, resp)
			if resp.ErrorReason != x402.ReasonSettlementPending {
				resolved++
				ev := f.event(ledger.EventSettle, req, p)
				ev.Payer, ev.TxHash, ev.Status, ev.Reason, ev.Message = resp.Payer, resp.Transaction, settleStatus(resp), resp.ErrorReason, "reconciled at start-up"
				f.record(ctx, ev)
			}
			f.log.Info("reconciled settlement", "payer", rec.Key.Payer, "tx", resp.Transaction, "success", resp.Success, "reason", resp.ErrorReason)
		}
	}
	return resolved, nil
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

func (f *Facilitator) event(kind ledger.EventKind, req *x402.FacilitatorRequest, p *x402.Payment) *ledger.Event {
	ev := &ledger.Event{Time: f.cfg.Now(), Kind: kind, Version: req.X402Version, Scheme: req.Scheme(), Network: req.Network()}
	if p != nil {
		ev.Network, ev.Asset, ev.PayTo, ev.Amount = p.Requirements.Network, p.Requirements.Asset, p.Requirements.PayTo, p.Requirements.Amount.String()
		if p.Resource != nil {
			ev.Resource = p.Resource.URL
		}
	}
	return ev
}

func (f *Facilitator) recordSettle(ctx context.Context, req *x402.FacilitatorRequest, p *x402.Payment, resp *x402.SettleResponse, err error) {
	ev := f.event(ledger.EventSettle, req, p)
	if err != nil {
		ev.Status, ev.Message = "error", err.Error()
	} else {
		ev.Status, ev.Payer, ev.TxHash, ev.Reason, ev.Message = settleStatus(resp), resp.Payer, resp.Transaction, resp.ErrorReason, resp.ErrorMessage
	}
	f.record(ctx, ev)
	f.log.Info("settle", "status", ev.Status, "reason", ev.Reason, "network", ev.Network, "payer", ev.Payer, "tx", ev.TxHash, "amount", ev.Amount)
}

func settleStatus(r *x402.SettleResponse) string {
	switch {
	case r.Success:
		return "settled"
	case r.ErrorReason == x402.ReasonSettlementPending:
		return "pending"
	case r.Transaction != "":
		return "failed"
	}
	return "rejected"
}

// record appends an event; a ledger failure is logged, not returned, because
// the verdict it records has already been reached.
func (f *Facilitator) record(ctx context.Context, ev *ledger.Event) {
	if err := f.cfg.Store.Record(context.WithoutCancel(ctx), ev); err != nil {
		f.log.Error("recording ledger event", "kind", ev.Kind, "err", err)
	}
}

var _ x402.Facilitator = (*Facilitator)(nil)
