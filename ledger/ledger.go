// Package ledger defines the facilitator's durable record of payments: the
// settlement table that makes every authorization settle at most once, and
// the event log of every verify and settle. It holds the [Store] contract
// and the record types; implementations live in ledger/sqlite (the
// embedded default) and ledger/postgres (for many facilitator instances
// sharing one database), and both pass the suite in ledger/ledgertest.
package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/go402/go402/x402"
)

// Status is the state of a settlement.
type Status string

// Settlement states. A settlement is created as StatusSettling by
// [Store.Claim]; it becomes StatusPending once its transaction is broadcast
// but not confirmed, and ends as StatusSettled or StatusFailed. A claim whose
// settlement moved no funds is deleted with [Store.Release]; a pending one
// whose transaction was dropped goes back to StatusSettling (an Update) and
// is then released.
const (
	StatusSettling Status = "settling" // claimed; a transaction may be about to be broadcast
	StatusPending  Status = "pending"  // broadcast; receipt not seen yet
	StatusSettled  Status = "settled"  // mined successfully: final
	StatusFailed   Status = "failed"   // mined and reverted: final
)

// Final reports whether s is an end state.
func (s Status) Final() bool { return s == StatusSettled || s == StatusFailed }

// Errors returned by stores.
var (
	// ErrNotFound: no settlement has the key.
	ErrNotFound = errors.New("ledger: settlement not found")
	// ErrConflict: an update's precondition failed (the settlement is not
	// in the expected state).
	ErrConflict = errors.New("ledger: settlement is not in the expected state")
	// ErrSchemaTooNew: the database was migrated by a newer build, whose
	// schema this one does not know; opening it is refused rather than
	// risk writing rows the newer build would misread.
	ErrSchemaTooNew = errors.New("ledger: the database schema is newer than this build")
)

// Settlement is the durable record of one authorization's settlement.
type Settlement struct {
	Key x402.SettlementKey
	// Fingerprint tells a retry of the same payment from a different
	// payment reusing the key (see x402.Identifier).
	Fingerprint string
	Status      Status
	// TxHash is the last transaction broadcast for this settlement; it is
	// written before the broadcast.
	TxHash string
	// Response is the answer given for this settlement once known (pending
	// or final); nil before.
	Response *x402.SettleResponse
	// Request is the facilitator request (its JSON), kept so that an
	// interrupted settlement can be reconciled after a restart.
	Request []byte
	// Scheme and Version of the payment.
	Scheme  string
	Version int
	// PayTo, Amount and Resource describe the payment for the ledger.
	PayTo    string
	Amount   string
	Resource string
	// Owner is the facilitator instance that claimed the settlement.
	Owner string
	// ClaimID is a random id the claimant chose for its claim, so that a
	// claimant whose Claim failed ambiguously (the row may have been
	// written) can recognise its own row when it claims again. Rows
	// written before claim ids existed have "".
	ClaimID   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Update is a change to a settlement, applied only if its current status is
// From (compare-and-set), and, when ClaimID is set, only if the settlement
// is still that claim.
type Update struct {
	From     Status
	Status   Status
	TxHash   string               // "" keeps the current value
	Response *x402.SettleResponse // nil keeps the current value
	// ClaimID, if not empty, must be the settlement's ClaimID: a claimant
	// updates only its own claim, never one made after its own was
	// released.
	ClaimID string
}

// EventKind says what an [Event] records.
type EventKind string

// Event kinds.
const (
	EventVerify EventKind = "verify"
	EventSettle EventKind = "settle"
)

// Event is one line of the ledger: a verify or settle answered by the
// facilitator.
type Event struct {
	ID       int64 // assigned by the store
	Time     time.Time
	Kind     EventKind
	Version  int
	Scheme   string
	Network  x402.Network
	Asset    string
	Payer    string
	PayTo    string
	Amount   string
	Resource string
	TxHash   string
	// Status is "valid" or "invalid" for verify; "settled", "failed",
	// "pending" or "rejected" for settle; "error" when no verdict was
	// reached.
	Status string
	Reason x402.Reason
	// Message is the human-readable detail.
	Message string
}

// EventFilter selects events; zero fields match everything.
type EventFilter struct {
	Kind  EventKind
	Payer string
	Limit int // 0 means 100
}

// Store is the durable ledger. Implementations must be safe for concurrent
// use by many goroutines and, for shared databases, by many processes.
type Store interface {
	// Claim atomically creates s, with status StatusSettling, unless a
	// settlement with the same key exists. It returns (nil, true, nil) when
	// it created s, and (existing, false, nil) when the key was taken.
	// Uniqueness of the key must be enforced by the database (a unique
	// constraint), not by process memory: two facilitator processes
	// claiming one key concurrently must see exactly one success.
	Claim(ctx context.Context, s *Settlement) (existing *Settlement, claimed bool, err error)

	// Get returns the settlement of key, or ErrNotFound.
	Get(ctx context.Context, key x402.SettlementKey) (*Settlement, error)

	// Update applies u if the settlement's status is u.From (and its
	// ClaimID is u.ClaimID, when set), and returns ErrConflict otherwise
	// (ErrNotFound if there is no settlement). An update to a final status
	// deletes the key's reservation (see Reserve) in the same transaction.
	Update(ctx context.Context, key x402.SettlementKey, u Update) error

	// Release deletes a claim whose settlement moved no funds, so that the
	// authorization can be settled later. It is a compare-and-delete: it
	// succeeds only while the status is StatusSettling, the recorded
	// TxHash equals txHash ("" when none was recorded) and, if claimID is
	// not empty, the ClaimID equals claimID; it returns ErrConflict
	// otherwise (ErrNotFound if there is no settlement). The caller passes
	// the hash it has established cannot be mined (never broadcast, or
	// rejected by the node and unknown to the chain). A successful Release
	// deletes the key's reservation (see Reserve) in the same transaction.
	Release(ctx context.Context, key x402.SettlementKey, txHash, claimID string) error

	// Unfinished returns the settlements in status StatusSettling or
	// StatusPending, oldest first: those to reconcile with the chain.
	Unfinished(ctx context.Context) ([]*Settlement, error)

	// Record appends an event to the ledger. When it returns nil the event
	// is durable. A store may write the events of concurrent Records in one
	// transaction (group commit, as both of this module's stores do), but
	// one event's failure must not fail the others', and each call still
	// returns only once its own event is committed.
	Record(ctx context.Context, e *Event) error

	// Events returns recorded events, newest first.
	Events(ctx context.Context, f EventFilter) ([]*Event, error)

	// Reserve atomically holds r.Amount of the payer's funds for r.Key, if
	// the key has no settlement (or only a StatusFailed one) and either is
	// reserved already for at least r.Amount (the same authorization
	// verified again: nothing changes), or is not reserved and r.Balance
	// minus what the payer's other holds
	// on (r.Key.Network, r.Key.Asset, r.Key.Payer) add up to is at least
	// r.Amount. The holds are the reservations not yet expired and the
	// settlements in StatusSettling or StatusPending (whose transfer the
	// balance may not show yet) that have no reservation. The check and the
	// write must be one atomic step per payer across every process sharing
	// the database (SQLite's write lock; a PostgreSQL transaction holding a
	// per-payer advisory lock): of concurrent Reserves that together
	// overdraw the balance, only those that fit succeed. A store may
	// evaluate the Reserves of concurrent calls in one transaction, in
	// order (group commit). Reserving a key whose reservation expired
	// replaces it.
	//
	// If r.Event is set, the event it returns for the outcome is recorded
	// in the same transaction (see [Reservation.Event]): a verify's
	// reservation and its event are one durable write.
	//
	// The cost of a Reserve must not grow with the payer's number of
	// reservations: stores keep each payer's total held and remove the
	// payer's expired reservations when it is read.
	//
	// A reservation ends with its key's settlement: Update to a final
	// status and Release delete it in the same transaction.
	Reserve(ctx context.Context, r *Reservation) (ReserveResult, error)

	// PurgeReservations deletes the reservations that expired before t
	// (they no longer count; this only reclaims space) and returns how many
	// it deleted.
	PurgeReservations(ctx context.Context, t time.Time) (int64, error)

	// Close releases the store's resources.
	Close() error
}
