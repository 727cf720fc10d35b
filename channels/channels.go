// Package channels defines the resource server's durable record of payment
// channels for stateful schemes such as EVM "batch-settlement": per
// channel, what the server has charged, the latest voucher that covers it,
// the chain state last read, and what has been claimed. It holds the
// [Store] contract and the record type; implementations live in
// channels/sqlite (the embedded default, one process per database file)
// and channels/postgres (several server replicas sharing one database), and
// both pass the suite in channels/channelstest.
//
// The package knows no scheme: a channel's configuration is kept as the
// scheme's JSON, amounts as [x402.Amount]. It is a server-side package: the
// facilitator does not use it.
//
// # Atomicity contract
//
// Every method is atomic with respect to every other call on any Store
// sharing the same database, in any process the implementation allows.
//
//   - Charged only grows, and only through [Store.Commit], a
//     compare-and-set: it succeeds only if the channel's charged amount is
//     still the one the caller read (Expected), so that two requests (or
//     two replicas) that read the same state can never both charge on it:
//     one succeeds, the other gets [ErrConflict]. Each voucher is counted
//     at most once.
//   - [Store.Reserve] takes the channel's lease: at most one holder has a
//     live (unexpired) lease at a time, across every Store on the
//     database. A server holds the lease while the handler of a paid
//     request runs, so that two requests never serve on the same charged
//     amount; the lease expires so that a crashed holder cannot block the
//     channel for ever. Commit does not require the lease (the
//     compare-and-set alone keeps the accounting exact); it ends the
//     holder's lease if it still holds it.
//   - A Commit that returned nil is durable: it survives a crash and a
//     restart of the process.
//   - TotalClaimed only grows ([Store.RecordClaim] never lowers it).
package channels

import (
	"context"
	"errors"
	"time"

	"github.com/go402/go402/x402"
)

// Errors of a [Store].
var (
	// ErrNotFound: no channel with that id.
	ErrNotFound = errors.New("channels: channel not found")
	// ErrExists: Create of an id already recorded.
	ErrExists = errors.New("channels: channel already recorded")
	// ErrBusy: another holder has a live lease on the channel.
	ErrBusy = errors.New("channels: channel busy")
	// ErrConflict: the channel's charged amount is not the one expected
	// (another request or replica committed first).
	ErrConflict = errors.New("channels: charged amount changed")
)

// Channel is a channel's record.
type Channel struct {
	// ID is the channel id, lower-case 0x-hex.
	ID string
	// Network is the CAIP-2 network of the channel.
	Network x402.Network
	// Config is the scheme's channel configuration, as JSON.
	Config []byte
	// Charged is the cumulative amount the server has charged (served).
	Charged x402.Amount
	// SignedMax and Signature are the latest voucher: the cumulative
	// amount the payer signed for, and its signature. SignedMax >= Charged.
	SignedMax x402.Amount
	Signature string
	// Onchain is the chain state last read.
	Onchain Onchain
	// LastRequestAt is when a request last charged the channel.
	LastRequestAt time.Time
	// LeaseHolder and LeaseUntil are the channel's lease ("" if none).
	LeaseHolder string
	LeaseUntil  time.Time
}

// Unclaimed reports whether the channel has charged more than was claimed.
func (c *Channel) Unclaimed() bool { return c.Charged.Cmp(c.Onchain.TotalClaimed) > 0 }

// Onchain is a channel's state as read from the chain (or reported by the
// facilitator), and when.
type Onchain struct {
	Balance      x402.Amount
	TotalClaimed x402.Amount
	// WithdrawRequestedAt is the unix time of the payer's withdrawal
	// request, 0 if none.
	WithdrawRequestedAt int64
	RefundNonce         uint64
	// SyncedAt is when it was read; zero if never.
	SyncedAt time.Time
}

// Charge is a compare-and-set of a channel's charged amount.
type Charge struct {
	ID string
	// Holder is the caller's lease holder id; its lease ends if it holds it.
	Holder string
	// Expected is the charged amount the caller read; Charged the new one.
	Expected, Charged x402.Amount
	// SignedMax and Signature are the voucher that covers Charged.
	SignedMax x402.Amount
	Signature string
	// At is the time of the request.
	At time.Time
}

// Store is the channel record. Implementations are safe for concurrent
// use and honour the atomicity contract of the package documentation.
type Store interface {
	// Get returns the channel, or ErrNotFound.
	Get(ctx context.Context, id string) (Channel, error)
	// Create records a new channel, or fails with ErrExists.
	Create(ctx context.Context, ch Channel) error
	// Reserve gives holder the channel's lease until until, unless another
	// holder's lease is live at now (ErrBusy), and returns the channel as
	// it stands under the lease. Reserving again as the same holder
	// extends the lease.
	Reserve(ctx context.Context, id, holder string, until, now time.Time) (Channel, error)
	// Release ends holder's lease, if it still holds it.
	Release(ctx context.Context, id, holder string) error
	// Commit sets the charged amount and voucher if the charged amount is
	// c.Expected, else fails with ErrConflict (ErrNotFound if there is no
	// such channel). It returns the channel as committed.
	Commit(ctx context.Context, c Charge) (Channel, error)
	// Sync records the chain state of the channel. TotalClaimed is never
	// lowered.
	Sync(ctx context.Context, id string, s Onchain) error
	// Unclaimed lists the channels whose charged amount exceeds what was
	// claimed, least recently charged first.
	Unclaimed(ctx context.Context) ([]Channel, error)
	// RecordClaim raises the channel's claimed total to claimed (never
	// lowers it).
	RecordClaim(ctx context.Context, id string, claimed x402.Amount) error
	// Close releases the store's resources.
	Close() error
}
