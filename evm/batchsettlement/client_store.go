package batchsettlement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/internal/atomicfile"
	"github.com/go402/go402/x402"
	"github.com/gofrs/flock"
)

// ChannelRecord is what a payer keeps of one of its channels, across runs.
//
// Charged is the cumulative amount the server has charged, as the payer
// verified it (it advances only from a PAYMENT-RESPONSE's chargedAmount, or
// from a verified recovery); the next voucher signs Charged + price.
// SignedMaxClaimable and Signature are the highest voucher signed (the
// server may claim up to it). Balance is the channel's balance as the payer
// knows it: deposits confirmed by the server, or read from the chain.
type ChannelRecord struct {
	Network   x402.Network  `json:"network"`
	ChannelID common.Hash   `json:"channelId"`
	Config    ChannelConfig `json:"config"`
	// URL is the resource last paid through the channel, where a
	// cooperative refund is asked for.
	URL                string        `json:"url,omitempty"`
	Balance            x402.Amount   `json:"balance"`
	TotalClaimed       x402.Amount   `json:"totalClaimed"`
	Charged            x402.Amount   `json:"chargedCumulativeAmount"`
	SignedMaxClaimable x402.Amount   `json:"signedMaxClaimable"`
	Signature          hexutil.Bytes `json:"signature,omitempty"`
	// Deposited is the total this payer deposited through this record
	// (confirmed by the server); Refunded what came back by refunds.
	Deposited x402.Amount `json:"deposited"`
	Refunded  x402.Amount `json:"refunded"`
	// PendingDeposit is a deposit signed whose outcome is not known (the
	// answer was lost or refused): Balance may be stale, and is read from
	// the chain before the next payment when a JSON-RPC endpoint is known.
	PendingDeposit x402.Amount `json:"pendingDeposit"`
	// Broken, when not empty, is why the payer stopped signing on this
	// channel: the server broke the scheme's rules.
	Broken  string    `json:"broken,omitempty"`
	Updated time.Time `json:"updated"`
}

// Unclaimed returns what the channel still holds for the payer, as far as
// it knows: Balance − Charged (zero if negative).
func (r *ChannelRecord) Unclaimed() x402.Amount {
	v, ok := r.Balance.Sub(r.Charged)
	if !ok {
		return x402.Amount{}
	}
	return v
}

// key is the store key of a record: network and channel id, lower case.
func recordKey(network x402.Network, id common.Hash) string {
	return strings.ToLower(string(network.Canonical())) + "/" + strings.ToLower(id.Hex())
}

// ChannelStore keeps a payer's channel records: in memory, or in a JSON file
// shared by the processes that use it. Every operation runs under a mutex
// and, with a file, under an exclusive advisory lock on path+".lock"; the
// file is replaced atomically (a temporary file renamed over it), so a crash
// leaves either the old or the new state.
//
// A file rather than SQLite: a payer has few channels, the client package
// stores its budget the same way (the file is readable, and `go402 pay`
// needs no database), and the lock serialises processes as well as
// goroutines. It is safe for concurrent use.
type ChannelStore struct {
	mu   sync.Mutex
	path string
	lock *flock.Flock
	mem  map[string]ChannelRecord
}

// maxStoreFile bounds the size of a channel file read back.
const maxStoreFile = 16 << 20

// channelFile is the channel file's content.
type channelFile struct {
	Version  int                      `json:"version"`
	Channels map[string]ChannelRecord `json:"channels"`
}

const channelFileVersion = 1

// NewMemoryChannelStore returns a store that keeps records in memory, for
// the life of the process.
func NewMemoryChannelStore() *ChannelStore {
	return &ChannelStore{mem: map[string]ChannelRecord{}}
}

// OpenChannelStore returns a store kept in the JSON file at path (created
// on the first write, with its directory, mode 0600). It reads the file once
// so that a corrupt one is reported now.
func OpenChannelStore(path string) (*ChannelStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: channel file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: channel file %s: %w", path, err)
	}
	s := &ChannelStore{path: abs, lock: flock.New(abs+".lock", flock.SetPermissions(0o600))}
	if _, err := s.List(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the file of the store; "" for a memory store.
func (s *ChannelStore) Path() string { return s.path }

// errNoChange is returned by an update function that changed nothing.
var errNoChange = errors.New("no change")

// update runs fn on every record under the locks and stores the result
// unless fn returns errNoChange or another error.
func (s *ChannelStore) update(ctx context.Context, fn func(m map[string]ChannelRecord) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		err := fn(s.mem)
		if errors.Is(err, errNoChange) {
			return nil
		}
		return err
	}
	if err := s.lock.Lock(); err != nil {
		return fmt.Errorf("evm/batchsettlement: locking channel file %s: %w", s.path, err)
	}
	defer func() { _ = s.lock.Unlock() }()
	m, err := s.load()
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		if errors.Is(err, errNoChange) {
			return nil
		}
		return err
	}
	return s.store(m)
}

func (s *ChannelStore) load() (map[string]ChannelRecord, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]ChannelRecord{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: channel file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStoreFile+1))
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: channel file: %w", err)
	}
	if len(data) > maxStoreFile {
		return nil, fmt.Errorf("evm/batchsettlement: channel file %s is larger than %d bytes", s.path, maxStoreFile)
	}
	cf := channelFile{Channels: map[string]ChannelRecord{}}
	if len(data) == 0 {
		return cf.Channels, nil
	}
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: channel file %s is corrupt (refusing to pay): %w", s.path, err)
	}
	if cf.Version != channelFileVersion {
		return nil, fmt.Errorf("evm/batchsettlement: channel file %s has unknown version %d", s.path, cf.Version)
	}
	if cf.Channels == nil {
		cf.Channels = map[string]ChannelRecord{}
	}
	return cf.Channels, nil
}

func (s *ChannelStore) store(m map[string]ChannelRecord) error {
	data, err := json.MarshalIndent(channelFile{Version: channelFileVersion, Channels: m}, "", "  ")
	if err != nil {
		return fmt.Errorf("evm/batchsettlement: encoding channel file: %w", err)
	}
	if err := atomicfile.Write(s.path, append(data, '\n')); err != nil {
		return fmt.Errorf("evm/batchsettlement: writing channel file: %w", err)
	}
	return nil
}

// Get returns the record of the channel id on network; ok is false when
// there is none.
func (s *ChannelStore) Get(ctx context.Context, network x402.Network, id common.Hash) (rec ChannelRecord, ok bool, err error) {
	err = s.update(ctx, func(m map[string]ChannelRecord) error {
		rec, ok = m[recordKey(network, id)]
		return errNoChange
	})
	return rec, ok, err
}

// Update runs fn on the record of the channel (the zero record with ok
// false when there is none) under the store's locks, and stores what fn
// returns: the new record, or nothing (the record deleted) when it returns
// nil. An error from fn leaves the store unchanged and is returned.
func (s *ChannelStore) Update(ctx context.Context, network x402.Network, id common.Hash, fn func(rec ChannelRecord, ok bool) (*ChannelRecord, error)) error {
	return s.update(ctx, func(m map[string]ChannelRecord) error {
		k := recordKey(network, id)
		old, ok := m[k]
		next, err := fn(old, ok)
		if err != nil {
			return err
		}
		if next == nil {
			if !ok {
				return errNoChange
			}
			delete(m, k)
			return nil
		}
		next.Network, next.ChannelID = network.Canonical(), id
		m[k] = *next
		return nil
	})
}

// List returns every record, ordered by network and channel id.
func (s *ChannelStore) List(ctx context.Context) ([]ChannelRecord, error) {
	var out []ChannelRecord
	err := s.update(ctx, func(m map[string]ChannelRecord) error {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, m[k])
		}
		return errNoChange
	})
	return out, err
}
