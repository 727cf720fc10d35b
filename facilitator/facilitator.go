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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

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
		log:     redactLogs(cfg.Logger).With("component", "facilitator"),
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
// A settlement left unfinished (abandoned by its owner, or pending on a
// transaction since mined or dropped) is first checked with the chain.
func (f *Facilitator) verifyAgainstLedger(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment) (*x402.VerifyResponse, error) {
	if id, ok := s.(x402.Identifier); ok {
		if key, _, err := id.Identify(p); err == nil {
			rec, err := f.cfg.Store.Get(ctx, key)
			// Only an abandoned claim or a dropped transaction can turn the
			// answer into "valid": a pending one still being mined is left
			// to the reconciler, so replayed verifies cost no chain reads.
			if err == nil && f.flight(key) == nil && f.mayBeFree(rec) {
				if f.repair(ctx, rec, "checked by a verify") != repairUnchanged {
					rec, err = f.cfg.Store.Get(ctx, key)
				}
			}
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
		resp, err := s.Settle(ctx, p, x402.SettleHooks{})
		f.recordSettle(ctx, req, p, resp, err)
		return resp, err
	}
	key, fp, err := id.Identify(p)
	if err != nil {
		// Undecodable payload: the scheme rejects it without moving funds.
		resp, err := s.Settle(ctx, p, x402.SettleHooks{})
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

// settleKeyed claims rec's key and settles, or waits for the outcome of
// the request that claimed it first.
//
// owned reports whether this request settled (and recorded) it itself.
func (f *Facilitator) settleKeyed(ctx context.Context, req *x402.FacilitatorRequest, s x402.SchemeFacilitator, p *x402.Payment, rec *ledger.Settlement) (resp *x402.SettleResponse, owned bool, err error) {
	key, fp := rec.Key, rec.Fingerprint
	if fl := f.flight(key); fl != nil {
		resp, err := f.await(ctx, s, p, key, fp, nil, fl)
		return resp, false, err
	}
	// Count the request as in flight before claiming, so that Shutdown
	// waits for any settlement it may start.
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, false, ErrShuttingDown // recorded by the caller as an error event
	}
	f.wg.Add(1)
	f.mu.Unlock()
	// The settlement ends within SettleTimeout of the claim, counted from
	// before it: other instances rely on that to tell an abandoned claim.
	deadline := time.Now().Add(f.cfg.SettleTimeout)
	rec.ClaimID = newClaimID()
	existing, claimed, err := f.claim(ctx, rec)
	if err != nil || !claimed {
		f.wg.Done()
		if err != nil {
			return nil, false, err // recorded by the caller as an error event
		}
		resp, err := f.await(ctx, s, p, key, fp, existing, nil)
		return resp, false, err
	}
	fl := &flight{done: make(chan struct{}), fingerprint: fp}
	f.mu.Lock()
	f.flights[key] = fl
	f.mu.Unlock()

	// The settlement runs to completion whatever happens to the caller.
	go func() {
		defer f.wg.Done()
		sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		func() {
			defer func() {
				if r := recover(); r != nil {
					// Keep the claim (a transaction may be out): the
					// reconciler resolves it.
					f.log.Error("settlement panicked; claim kept for reconciliation", "panic", r)
					fl.resp, fl.err = nil, fmt.Errorf("facilitator: settlement failed unexpectedly: %v", r)
				}
			}()
			fl.resp, fl.err = f.settleOwned(sctx, s, p, key, rec.ClaimID)
			if fl.resp == nil && fl.err == nil {
				fl.err = errors.New("facilitator: scheme returned no settlement response")
			}
		}()
		if !errors.Is(fl.err, errRetryClaim) { // else the request settles again and records that
			f.recordSettle(sctx, req, p, fl.resp, fl.err)
		}
		f.mu.Lock()
		delete(f.flights, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	resp, err = f.await(ctx, s, p, key, fp, nil, fl)
	return resp, true, err
}

// newClaimID returns a random claim id.
func newClaimID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// claim claims rec's key on a context of its own: a claim cancelled with
// the caller's request could be written and still report an error. A
// failed claim is tried again; the claim id tells whether a try whose
// answer was lost was written.
func (f *Facilitator) claim(ctx context.Context, rec *ledger.Settlement) (*ledger.Settlement, bool, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	var existing *ledger.Settlement
	var claimed bool
	err := f.retryLedger(cctx, "claim", func(ctx context.Context) error {
		var err error
		existing, claimed, err = f.cfg.Store.Claim(ctx, rec)
		if err == nil && !claimed && existing != nil && existing.ClaimID == rec.ClaimID {
			// An earlier try was written though its answer was lost.
			existing, claimed = nil, true
		}
		return err
	})
	if err != nil {
		f.abandonClaim(rec)
		return nil, false, fmt.Errorf("facilitator: claiming settlement: %w", err)
	}
	return existing, claimed, nil
}

// abandonClaim deletes rec's claim if a failed Claim wrote it after all:
// nothing was sent under it. If the ledger cannot be reached, the
// reconciler releases the claim once it is stale.
func (f *Facilitator) abandonClaim(rec *ledger.Settlement) {
	ctx, cancel := context.WithTimeout(context.Background(), ledgerWriteTimeout)
	defer cancel()
	err := f.releaseKey(ctx, rec.Key, "", rec.ClaimID)
	if err != nil && !errors.Is(err, ledger.ErrConflict) { // a conflict: another claimant's row
		f.log.Warn("a failed claim may have been written; the reconciler will release it", "payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "err", err)
	}
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

// errClaimLost: a claimant found its claim gone or replaced when it went
// to record a transaction (another instance judged it abandoned).
var errClaimLost = errors.New("facilitator: the settlement claim was released by another instance")

// settleOwned settles a claimed authorization and records the outcome.
// Every ledger change names the claim, so that nothing is recorded on (or
// sent under) a claim made after this one was released.
func (f *Facilitator) settleOwned(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey, claimID string) (*x402.SettleResponse, error) {
	var lastTx string
	hooks := x402.SettleHooks{BeforeBroadcast: func(ctx context.Context, tx string) error {
		err := f.update(ctx, key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: tx, ClaimID: claimID})
		switch {
		case errors.Is(err, ledger.ErrConflict), errors.Is(err, ledger.ErrNotFound):
			return fmt.Errorf("facilitator: recording transaction before broadcast: %w: %w", errClaimLost, err)
		case err != nil:
			return fmt.Errorf("facilitator: recording transaction before broadcast: %w", err)
		}
		lastTx = tx
		return nil
	}}
	resp, err := s.Settle(ctx, p, hooks)
	// Ledger writes after a possible broadcast must not fail because the
	// settlement's own deadline ran out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	if err != nil {
		if errors.Is(err, errClaimLost) && lastTx == "" {
			// Nothing was sent: settle again (or wait for who claimed it).
			f.log.Warn("settlement claim lost before broadcast; claiming again", "payer", key.Payer, "nonce", key.Nonce)
			return nil, errRetryClaim
		}
		// No verdict. A recorded transaction was not sent (the scheme
		// reports a possibly-sent one as pending, not as an error), but
		// let the chain confirm that before giving the key back.
		if verdict := f.release(wctx, s, p, key, lastTx, claimID); verdict != nil {
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
		// key is given back so a retry can settle it). If the chain cannot
		// be asked now, the claim stays settling, with its transaction,
		// for the reconciler: a failure recorded now would be final,
		// though the authorization may still be good.
		if verdict := f.release(wctx, s, p, key, resp.Transaction, claimID); verdict != nil {
			return verdict, nil
		}
		return resp, nil
	default:
		// Rejected before anything was broadcast: give the key back so a
		// corrected retry (say, after a top-up) can settle.
		if verdict := f.release(wctx, s, p, key, lastTx, claimID); verdict != nil {
			return verdict, nil
		}
		return resp, nil
	}
	u.ClaimID = claimID
	if err := f.update(wctx, key, u); err != nil {
		// Funds may have moved: report the truth to the caller; the
		// reconciler repairs the ledger from the recorded hash.
		f.log.Error("settlement outcome not recorded; it will be reconciled", "tx", resp.Transaction, "status", u.Status, "err", err)
	}
	return resp, nil
}

// release gives back the key of the caller's claim, still settling,
// after a settlement that moved no funds, checking with the chain first
// when a transaction was recorded. If the chain shows the authorization
// was used after all (or a transaction is still pending), it records that
// outcome instead and returns it. If the chain or the ledger cannot be
// asked, the claim is kept for the reconciler.
//
// ctx is already detached from the caller's, and its deadline bounds the
// owner's last ledger writes (see StaleMargin).
func (f *Facilitator) release(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey, tx, claimID string) *x402.SettleResponse {
	rec := &ledger.Settlement{Key: key, Status: ledger.StatusSettling, TxHash: tx, ClaimID: claimID}
	if tx == "" {
		f.releaseUnused(ctx, rec)
		return nil
	}
	rc, ok := s.(x402.Reconciler)
	if !ok {
		f.log.Warn("keeping settlement claim: recorded transaction cannot be checked", "tx", tx)
		return nil
	}
	resp, _, err := f.checkChain(ctx, ctx, rc, p, rec) // ctx is detached already
	if err != nil && !errors.Is(err, x402.ErrNotSettled) {
		f.log.Warn("keeping settlement claim for reconciliation", "tx", tx, "err", err)
	}
	return answerFor(p, resp)
}

// checkChain asks the chain, through rc, what became of rec: an unfinished
// settlement, or a claim of the caller's. It records the answer: a pending
// or final outcome (finish); or, when the authorization is unused and no
// transaction for it is known (x402.ErrNotSettled), it gives the key back,
// a settling claim's at once, a pending settlement's once its transaction
// counts as dropped (until then the stored pending answer is returned). It
// returns the chain's answer, or the error that stood for one, and whether
// the ledger changed.
//
// ctx bounds the question. The writes run on detached, a context not
// cancelled with the caller's (a write cancelled mid-way may still be
// applied, and these are best finished), for at most ledgerWriteTimeout
// from the answer.
func (f *Facilitator) checkChain(ctx, detached context.Context, rc x402.Reconciler, p *x402.Payment, rec *ledger.Settlement) (*x402.SettleResponse, bool, error) {
	resp, err := rc.Reconcile(ctx, p, rec.Key, rec.TxHash)
	if err != nil && !errors.Is(err, x402.ErrNotSettled) {
		return nil, false, err
	}
	wctx, cancel := context.WithTimeout(detached, ledgerWriteTimeout)
	defer cancel()
	switch {
	case err == nil:
		return resp, f.finish(wctx, rec, resp), nil
	case rec.Status == ledger.StatusSettling:
		return nil, f.releaseUnused(wctx, rec), err
	case rec.Status == ledger.StatusPending && f.dropped(rec):
		return nil, f.requeue(wctx, rec), err
	case rec.Status == ledger.StatusPending:
		return storedPending(p, rec), false, nil // perhaps only slow to reach the node
	}
	return nil, false, err
}

// await answers a settle of p (fingerprint fp) whose key another request
// claimed: it waits for that claim's outcome, in this process (fl) or in
// the ledger (rec; read when nil), and answers with it when it is this very
// payment, with duplicate_settlement when it is another payment under the
// same key, and with errRetryClaim when the claim was given back. A claim
// abandoned by its owner is checked with the chain rather than waited for.
func (f *Facilitator) await(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey, fp string, rec *ledger.Settlement, fl *flight) (*x402.SettleResponse, error) {
	var nextRepair time.Time
	for {
		if fl != nil {
			select {
			case <-fl.done:
			case <-ctx.Done():
				return f.gaveUp(key, fp, p, ctx.Err())
			}
			if fl.fingerprint == fp {
				if fl.err != nil {
					return nil, fl.err
				}
				return answerFor(p, fl.resp), nil
			}
			// Another payment under the same key: its outcome is in the
			// ledger.
			fl, rec = nil, nil
		}
		if rec == nil {
			next, err := f.cfg.Store.Get(ctx, key)
			switch {
			case errors.Is(err, ledger.ErrNotFound):
				return nil, errRetryClaim // released without settling: this one may settle
			case err != nil:
				return nil, fmt.Errorf("facilitator: reading ledger: %w", err)
			}
			rec = next
		}
		if rec.Status != ledger.StatusSettling {
			return f.answerRecord(ctx, s, p, fp, rec)
		}
		// Still being settled, here or elsewhere.
		if fl = f.flight(key); fl != nil {
			continue
		}
		if f.stale(rec) && !time.Now().Before(nextRepair) {
			nextRepair = time.Now().Add(repairEvery)
			if f.repair(ctx, rec, "abandoned claim found by a waiting settle") != repairUnchanged {
				rec = nil
				continue
			}
		}
		t := time.NewTimer(f.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return f.gaveUp(key, fp, p, ctx.Err())
		case <-t.C:
		}
		rec = nil
	}
}

var errRetryClaim = errors.New("facilitator: the earlier settlement of this authorization did not broadcast; settle again")

// answerRecord answers from a settlement that is past settling.
func (f *Facilitator) answerRecord(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, fp string, rec *ledger.Settlement) (*x402.SettleResponse, error) {
	if rec.Fingerprint != fp {
		return conflict(p, rec), nil
	}
	if rec.Status == ledger.StatusPending {
		return f.refreshPending(ctx, s, p, rec)
	}
	if rec.Response == nil {
		return nil, fmt.Errorf("facilitator: the ledger holds no answer for a %s settlement", rec.Status)
	}
	return answerFor(p, rec.Response), nil
}

// refreshPending asks the chain whether a pending settlement is done. If
// its transaction was dropped, the key is given back (errRetryClaim) so
// that this request settles the payment anew.
func (f *Facilitator) refreshPending(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, rec *ledger.Settlement) (*x402.SettleResponse, error) {
	stored := storedPending(p, rec)
	rc, ok := s.(x402.Reconciler)
	if !ok {
		return stored, nil
	}
	resp, _, err := f.checkChain(ctx, context.WithoutCancel(ctx), rc, p, rec)
	switch {
	case errors.Is(err, x402.ErrNotSettled):
		// Dropped. Whether this request or a concurrent one gave the key
		// back, the settlement has moved on: claim again, or wait for who
		// did.
		return nil, errRetryClaim
	case err != nil:
		f.log.Warn("checking a pending settlement", "tx", rec.TxHash, "err", err)
		return stored, nil
	case resp.ErrorReason == x402.ReasonSettlementPending:
		return stored, nil
	}
	return answerFor(p, resp), nil
}

// storedPending is the answer stored for a pending settlement.
func storedPending(p *x402.Payment, rec *ledger.Settlement) *x402.SettleResponse {
	if rec.Response != nil {
		return answerFor(p, rec.Response)
	}
	return &x402.SettleResponse{
		ErrorReason: x402.ReasonSettlementPending, Transaction: rec.TxHash, Network: wireNetwork(p),
		ErrorMessage: "the settlement transaction was broadcast but is not confirmed yet; do not pay again",
	}
}

// finish records the final (or pending) outcome of an unfinished
// settlement, if rec is still in the status read and still the claim
// rec.ClaimID (rows from before claim ids have none, and match any). It
// reports whether it did. Callers pass the claim they read or own, so that
// a repair working from a stale read never touches a newer claim of the key.
func (f *Facilitator) finish(ctx context.Context, rec *ledger.Settlement, resp *x402.SettleResponse) bool {
	status := ledger.StatusFailed
	switch {
	case resp.Success:
		status = ledger.StatusSettled
	case resp.ErrorReason == x402.ReasonSettlementPending:
		status = ledger.StatusPending
	}
	if status == rec.Status {
		return false // still pending: nothing to record
	}
	err := f.update(ctx, rec.Key, ledger.Update{From: rec.Status, Status: status, TxHash: resp.Transaction, Response: resp, ClaimID: rec.ClaimID})
	if err != nil {
		if !errors.Is(err, ledger.ErrConflict) && !errors.Is(err, ledger.ErrNotFound) {
			f.log.Error("recording reconciled settlement", "tx", resp.Transaction, "err", err)
		}
		return false
	}
	return true
}

// requeue gives back the key of a pending settlement whose transaction the
// chain does not know (and whose authorization is unused): it moves the
// settlement back to settling (compare-and-set, so that only one instance
// does) and then releases it. It reports whether the key was released.
func (f *Facilitator) requeue(ctx context.Context, rec *ledger.Settlement) bool {
	if err := f.update(ctx, rec.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusSettling, ClaimID: rec.ClaimID}); err != nil {
		if !errors.Is(err, ledger.ErrConflict) && !errors.Is(err, ledger.ErrNotFound) {
			f.log.Error("returning a dropped settlement to settling", "tx", rec.TxHash, "err", err)
		}
		return false
	}
	if err := f.releaseKey(ctx, rec.Key, rec.TxHash, rec.ClaimID); err != nil {
		f.log.Error("releasing a dropped settlement; left for the reconciler", "tx", rec.TxHash, "err", err)
		return false
	}
	f.log.Warn("pending settlement dropped: its transaction is unknown to the node and the authorization unused; released so the payment can be settled again",
		"payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "tx", rec.TxHash, "pendingSince", rec.UpdatedAt)
	return true
}

// gaveUp answers a caller who stopped waiting: with the stored answer of a
// settlement that has one (pending or final), else with the context error.
// A claim whose transaction may not have left is not reported as pending,
// and another payment's answer is never given.
func (f *Facilitator) gaveUp(key x402.SettlementKey, fp string, p *x402.Payment, cause error) (*x402.SettleResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ledgerReadTimeout)
	defer cancel()
	rec, err := f.cfg.Store.Get(ctx, key)
	if err == nil && rec.Status != ledger.StatusSettling {
		if rec.Fingerprint != fp {
			return conflict(p, rec), nil
		}
		if rec.Response != nil {
			return answerFor(p, rec.Response), nil
		}
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

// answerFor returns a copy of a settle answer drawn from the ledger or from
// another request, with the network named as p's protocol version names it
// (a v1 request gets the legacy name even if a v2 request settled it).
func answerFor(p *x402.Payment, r *x402.SettleResponse) *x402.SettleResponse {
	if r == nil {
		return nil
	}
	c := *r
	if n := wireNetwork(p); n != "" {
		c.Network = n
	}
	return &c
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

// stale reports whether rec, a settling claim, has gone unchanged so long
// that its owner cannot still be at work on it.
func (f *Facilitator) stale(rec *ledger.Settlement) bool {
	return f.cfg.Now().Sub(rec.UpdatedAt) > f.cfg.SettleTimeout+StaleMargin
}

// dropped reports whether rec, a pending settlement whose transaction the
// node does not know, has been pending long enough for the transaction to
// count as dropped rather than slow to reach the node.
func (f *Facilitator) dropped(rec *ledger.Settlement) bool {
	return f.cfg.Now().Sub(rec.UpdatedAt) > f.cfg.SettleTimeout
}

// mayBeFree reports whether rec, an unfinished settlement, may turn out to
// leave its authorization free: a claim abandoned by its owner, or a
// pending one whose transaction may have been dropped.
func (f *Facilitator) mayBeFree(rec *ledger.Settlement) bool {
	switch rec.Status {
	case ledger.StatusSettling:
		return f.stale(rec)
	case ledger.StatusPending:
		return f.dropped(rec)
	}
	return false
}

// due reports whether rec, an unfinished settlement no request of this
// process is working on, is to be checked with the chain: a pending one
// always (its transaction may be mined or dropped), a settling one once it
// is stale, or at start-up when this instance's name owns it.
func (f *Facilitator) due(rec *ledger.Settlement, startup bool) bool {
	switch rec.Status {
	case ledger.StatusPending:
		return true
	case ledger.StatusSettling:
		return (startup && rec.Owner == f.cfg.Instance) || f.stale(rec)
	}
	return false
}

// repairOutcome is what [Facilitator.repair] achieved.
type repairOutcome int

const (
	repairUnchanged  repairOutcome = iota // nothing recorded
	repairProgressed                      // now pending on a known transaction
	repairResolved                        // recorded as final, or released
)

// repair asks the chain what became of rec, an unfinished settlement, and
// records it: settled or failed; pending (for a settling claim whose
// transaction is in the pool); or, when the authorization is unused and no
// transaction for it is known, the claim is released (a pending one only
// once dropped). why says, in the logs, how it was found.
func (f *Facilitator) repair(ctx context.Context, rec *ledger.Settlement, why string) repairOutcome {
	log := f.log.With("payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "network", rec.Key.Network,
		"status", rec.Status, "owner", rec.Owner, "tx", rec.TxHash, "why", why)
	req, err := x402.DecodeFacilitatorRequest(rec.Request)
	if err != nil {
		log.Error("cannot reconcile: stored request undecodable", "err", err)
		return repairUnchanged
	}
	s, p, rej := f.resolve(req)
	if rej != nil {
		log.Error("cannot reconcile: scheme not registered", "reason", rej.Reason)
		return repairUnchanged
	}
	rc, ok := s.(x402.Reconciler)
	if !ok {
		log.Warn("cannot reconcile: the scheme cannot look settlements up on chain")
		return repairUnchanged
	}
	resp, changed, err := f.checkChain(ctx, context.WithoutCancel(ctx), rc, p, rec)
	switch {
	case err != nil && !errors.Is(err, x402.ErrNotSettled):
		log.Warn("reconciling settlement: the chain could not be asked; will try again", "err", err)
		return repairUnchanged
	case !changed:
		return repairUnchanged
	case err != nil: // given back
		if rec.Status == ledger.StatusSettling {
			log.Info("reconciled: settlement was never sent or moved no funds; released")
		}
		return repairResolved
	case resp.ErrorReason == x402.ReasonSettlementPending:
		log.Info("reconciled: settlement transaction is pending")
		return repairProgressed
	}
	ev := f.event(ledger.EventSettle, req, p)
	ev.Payer, ev.TxHash, ev.Status, ev.Reason = resp.Payer, resp.Transaction, settleStatus(resp), resp.ErrorReason
	ev.Message = "reconciled with the chain (" + why + ")"
	f.record(ctx, ev)
	log.Info("reconciled settlement", "result", resp.Transaction, "success", resp.Success, "reason", resp.ErrorReason)
	return repairResolved
}

// update applies u, trying again after a ledger failure. A try that finds
// the settlement already as u leaves it counts as applied: an earlier try
// whose answer was lost wrote it.
func (f *Facilitator) update(ctx context.Context, key x402.SettlementKey, u ledger.Update) error {
	retried := false
	return f.retryLedger(ctx, "update", func(ctx context.Context) error {
		err := f.cfg.Store.Update(ctx, key, u)
		if retried && errors.Is(err, ledger.ErrConflict) {
			if rec, gerr := f.cfg.Store.Get(ctx, key); gerr == nil && rec.Status == u.Status &&
				(u.TxHash == "" || rec.TxHash == u.TxHash) && (u.ClaimID == "" || rec.ClaimID == u.ClaimID) {
				return nil
			}
		}
		retried = true
		return err
	})
}

// releaseKey deletes a settling claim that records tx (and is the claim
// claimID, if set), trying again after a ledger failure. A claim already
// gone counts as released.
func (f *Facilitator) releaseKey(ctx context.Context, key x402.SettlementKey, tx, claimID string) error {
	err := f.retryLedger(ctx, "release", func(ctx context.Context) error {
		return f.cfg.Store.Release(ctx, key, tx, claimID)
	})
	if errors.Is(err, ledger.ErrNotFound) {
		return nil
	}
	return err
}

// releaseUnused deletes rec, a settling claim under which no funds moved,
// if it is still the claim rec.ClaimID with transaction rec.TxHash. It
// reports whether the key was given back; a failure of the ledger is
// logged, and the claim left for the reconciler.
func (f *Facilitator) releaseUnused(ctx context.Context, rec *ledger.Settlement) bool {
	err := f.releaseKey(ctx, rec.Key, rec.TxHash, rec.ClaimID)
	if err != nil && !errors.Is(err, ledger.ErrConflict) { // a conflict: the claim moved on
		f.log.Error("releasing a settlement claim that moved no funds; kept for reconciliation",
			"payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "tx", rec.TxHash, "err", err)
	}
	return err == nil
}

// retryLedger runs op until it succeeds or answers ErrConflict or
// ErrNotFound (answers, not failures), at most ledgerWriteAttempts times
// and while ctx lasts, waiting a little longer before each new try.
func (f *Facilitator) retryLedger(ctx context.Context, op string, fn func(context.Context) error) error {
	delay := ledgerRetryDelay
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || errors.Is(err, ledger.ErrConflict) || errors.Is(err, ledger.ErrNotFound) ||
			attempt >= ledgerWriteAttempts || ctx.Err() != nil {
			return err
		}
		f.log.Warn("ledger write failed; trying again", "op", op, "attempt", attempt, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay *= 2
	}
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

// Reconcile checks the ledger's unfinished settlements with the chain and
// records what it finds. Run it at start-up, before serving: it repairs at
// once the settlements this instance's name owns (a crash interrupted them;
// no process can be working on them now), and those of any owner that are
// stale, and it looks up every pending one. It returns how many
// settlements it resolved (recorded as final, or released).
func (f *Facilitator) Reconcile(ctx context.Context) (int, error) {
	return f.reconcile(ctx, true)
}

// RunReconciler repairs unfinished settlements every interval (if not
// positive, DefaultReconcileInterval) until ctx ends, then returns. It
// records pending settlements whose transaction was mined, releases those
// whose transaction was dropped, and repairs settlement claims of any
// instance that have not changed for SettleTimeout + StaleMargin: their
// owner crashed, was restarted under another name, or could not write its
// outcome to the ledger. Run it in every instance; instances sharing a
// database do not get in each other's way (every change is a
// compare-and-set).
func (f *Facilitator) RunReconciler(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReconcileInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := f.reconcile(ctx, false)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			f.log.Error("reconciling unfinished settlements", "err", err)
		case n > 0:
			f.log.Info("reconciled unfinished settlements", "resolved", n)
		}
	}
}

func (f *Facilitator) reconcile(ctx context.Context, startup bool) (int, error) {
	recs, err := f.cfg.Store.Unfinished(ctx)
	if err != nil {
		return 0, fmt.Errorf("facilitator: listing unfinished settlements: %w", err)
	}
	why := "found by the reconciler"
	if startup {
		why = "found at start-up"
	}
	n := 0
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("facilitator: reconciling: %w", err)
		}
		if f.flight(rec.Key) != nil || !f.due(rec, startup) {
			continue // being settled here, or perhaps by its live owner
		}
		if f.repair(ctx, rec, why) == repairResolved {
			n++
		}
	}
	return n, nil
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
// the verdict it records has already been reached. The event's message
// shows URLs without their path or query (see redactURLs): it may quote a
// chain error, and with it an RPC key.
func (f *Facilitator) record(ctx context.Context, ev *ledger.Event) {
	ev.Message = redactURLs(ev.Message)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	if err := f.cfg.Store.Record(ctx, ev); err != nil {
		f.log.Error("recording ledger event", "kind", ev.Kind, "err", err)
	}
}

var _ x402.Facilitator = (*Facilitator)(nil)
