package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go402/go402/internal/atomicfile"
	"github.com/gofrs/flock"
)

// Spending is what a Client (and every Client sharing its BudgetFile) has
// spent, in whole asset units.
type Spending struct {
	// Spent is the total of payments made or that may have been made:
	// settled ones, and signed authorizations sent and not yet proven
	// unspent (Outstanding).
	Spent string
	// Outstanding is the part of Spent that is not known to be settled:
	// authorizations sent that the server did not confirm. Each counts
	// until the chain shows it used (then it stays spent) or unused past
	// its validBefore (then it is released); see [Client.Reclaim].
	Outstanding string
	// Reserved is the total of payments in flight: reserved before
	// signing, not yet sent.
	Reserved string
	// Payments is the number of payments counted in Spent.
	Payments int
	// Hosts is Spent per URL host.
	Hosts map[string]string
}

// maxBudgetFile bounds the size of a budget file read back.
const maxBudgetFile = 16 << 20

// reservationTTL is how long a reservation that was neither committed nor
// released (its process died) stays reserved before it is folded into the
// spent total. Either way it counts against the budgets, since the
// authorization may have been settled; the TTL only keeps the file tidy,
// and is long so that a slow approval or a slow server never sees its
// reservation folded.
const reservationTTL = 24 * time.Hour

// budgetState is the spending record, as stored in a budget file.
type budgetState struct {
	Version int `json:"version"`
	// Unit is what the amounts count: "" for whole units of their assets,
	// or "atomic NETWORK/ASSET" for atomic units of one asset whose
	// decimals the client does not know. Amounts in different units are
	// never added up: a budget file that recorded one refuses the other.
	Unit     string                 `json:"unit,omitempty"`
	Spent    decimal                `json:"spent"`
	Payments int                    `json:"payments"`
	Hosts    map[string]decimal     `json:"hosts,omitempty"`
	Reserved map[string]reservation `json:"reserved,omitempty"`
	// Outstanding are the authorizations sent and not yet known settled
	// or unspent (version 2). Those not Released count as spent.
	Outstanding map[string]outstanding `json:"outstanding,omitempty"`
}

// Budget file versions: 1 has no outstanding authorizations; 2 adds them.
// Version 1 files are read, and written back as version 2, which an older
// go402 refuses to read rather than under-count.
const budgetVersion = 2

// errBudgetUnit is wrapped when a budget file holds amounts in another unit
// than the payment at hand.
var errBudgetUnit = errors.New("client: the budget file counts another unit")

// unitName describes a budget unit for an error message.
func unitName(unit string) string {
	if unit == "" {
		return "whole units of known assets"
	}
	return unit
}

// empty reports whether nothing is spent or reserved yet.
func (st *budgetState) empty() bool {
	return st.Spent.Cmp(decimal{}) == 0 && st.Payments == 0 && len(st.Hosts) == 0 && len(st.Reserved) == 0 && len(st.Outstanding) == 0
}

// reservation is a price set aside for a payment in flight.
type reservation struct {
	Amount  decimal   `json:"amount"`
	Host    string    `json:"host"`
	Expires time.Time `json:"expires"`
}

// usage returns what is spent or reserved in total and on host.
func (s *budgetState) usage(host string) usage {
	u := usage{total: s.Spent, host: s.Hosts[host], unit: s.Unit, recorded: !s.empty()}
	for _, r := range s.Reserved {
		u.total = u.total.Add(r.Amount)
		if r.Host == host {
			u.host = u.host.Add(r.Amount)
		}
	}
	// Every outstanding authorization counts, released ones too: one the
	// chain showed unused is still a bearer instrument until it expires,
	// and a server that keeps it (answering 402 each time) could settle
	// many of them later. Reclaim drops it once it expired unused.
	for _, o := range s.Outstanding {
		u.total = u.total.Add(o.Amount)
		if o.Host == host {
			u.host = u.host.Add(o.Amount)
		}
	}
	return u
}

// spend moves an amount into the spent totals.
func (s *budgetState) spend(amount decimal, host string) {
	s.Spent = s.Spent.Add(amount)
	if s.Hosts == nil {
		s.Hosts = map[string]decimal{}
	}
	s.Hosts[host] = s.Hosts[host].Add(amount)
	s.Payments++
}

// foldStale counts reservations long expired as spent and reports whether
// it changed anything.
func (s *budgetState) foldStale(now time.Time) bool {
	changed := false
	for id, r := range s.Reserved {
		if now.After(r.Expires) {
			s.spend(r.Amount, r.Host)
			delete(s.Reserved, id)
			changed = true
		}
	}
	return changed
}

// budgetStore keeps the spending of a Client, in memory or in a budget file
// shared with other processes. Every operation runs under mu and, with a
// file, under an exclusive advisory lock on path+".lock"; the file is
// replaced atomically (write to a temporary file, then rename).
type budgetStore struct {
	mu   sync.Mutex
	path string
	lock *flock.Flock
	mem  budgetState
	now  func() time.Time
}

func openBudget(path string, now func() time.Time) (*budgetStore, error) {
	l := &budgetStore{path: path, now: now}
	if path == "" {
		return l, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("client: budget file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("client: budget file %s: %w", path, err)
	}
	l.path = abs
	l.lock = flock.New(abs+".lock", flock.SetPermissions(0o600))
	// Read it once now, so that a corrupt file is reported by New.
	if err := l.view(context.Background(), func(*budgetState) {}); err != nil {
		return nil, err
	}
	return l, nil
}

// update runs fn on the current state and stores the result if fn returns
// nil (or if stale reservations were folded).
func (l *budgetStore) update(ctx context.Context, fn func(*budgetState) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		l.mem.foldStale(l.now())
		return ignoreNoChange(fn(&l.mem))
	}
	if err := l.lock.Lock(); err != nil {
		return fmt.Errorf("client: locking budget file %s: %w", l.path, err)
	}
	defer func() { _ = l.lock.Unlock() }()
	st, err := l.load()
	if err != nil {
		return err
	}
	folded := st.foldStale(l.now())
	ferr := fn(st)
	if ferr != nil && !folded {
		return ignoreNoChange(ferr)
	}
	if err := l.store(st); err != nil {
		return err
	}
	return ignoreNoChange(ferr)
}

// errNoChange is returned by an update function that changed nothing.
var errNoChange = errors.New("no change")

func ignoreNoChange(err error) error {
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// view runs fn on the current state without changing it.
func (l *budgetStore) view(ctx context.Context, fn func(*budgetState)) error {
	return l.update(ctx, func(st *budgetState) error {
		fn(st)
		return errNoChange
	})
}

func (l *budgetStore) load() (*budgetState, error) {
	st := &budgetState{Version: budgetVersion}
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: budget file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBudgetFile+1))
	if err != nil {
		return nil, fmt.Errorf("client: budget file: %w", err)
	}
	if len(data) > maxBudgetFile {
		return nil, fmt.Errorf("client: budget file %s is larger than %d bytes", l.path, maxBudgetFile)
	}
	if len(data) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("client: budget file %s is corrupt (refusing to pay): %w", l.path, err)
	}
	if st.Version != 1 && st.Version != budgetVersion {
		return nil, fmt.Errorf("client: budget file %s has unknown version %d", l.path, st.Version)
	}
	return st, nil
}

func (l *budgetStore) store(st *budgetState) error {
	st.Version = budgetVersion
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encoding budget file: %w", err)
	}
	if err := atomicfile.Write(l.path, append(data, '\n')); err != nil {
		return fmt.Errorf("client: writing budget file: %w", err)
	}
	return nil
}

// usage returns what is spent or reserved, in total and on host.
func (l *budgetStore) usage(ctx context.Context, host string) (usage, error) {
	var u usage
	err := l.view(ctx, func(st *budgetState) { u = st.usage(host) })
	return u, err
}

// reserve sets amount aside on host if check, given the usage at that
// moment, lets it. It returns the reservation id, or check's refusal.
func (l *budgetStore) reserve(ctx context.Context, amount decimal, unit, host string, expires time.Time, check func(usage) *PolicyError) (string, *PolicyError, error) {
	id, err := newReservationID()
	if err != nil {
		return "", nil, err
	}
	var refusal *PolicyError
	err = l.update(ctx, func(st *budgetState) error {
		if st.Unit != unit {
			if !st.empty() {
				return fmt.Errorf("%w: it counts %s, this payment %s; use another budget file", errBudgetUnit, unitName(st.Unit), unitName(unit))
			}
			st.Unit = unit
		}
		if refusal = check(st.usage(host)); refusal != nil {
			return errNoChange
		}
		if st.Reserved == nil {
			st.Reserved = map[string]reservation{}
		}
		st.Reserved[id] = reservation{Amount: amount, Host: host, Expires: expires}
		return nil
	})
	if refusal != nil {
		return "", refusal, nil
	}
	if err != nil {
		return "", nil, err
	}
	return id, nil, nil
}

// commit counts a reservation as spent.
func (l *budgetStore) commit(ctx context.Context, id string) error {
	return l.update(ctx, func(st *budgetState) error {
		r, ok := st.Reserved[id]
		if !ok {
			return errNoChange // already folded as stale: counted
		}
		delete(st.Reserved, id)
		st.spend(r.Amount, r.Host)
		return nil
	})
}

// commitCharged is commit for a payment charged amount (at most what was
// reserved) instead of the reserved price.
func (l *budgetStore) commitCharged(ctx context.Context, id string, amount decimal) error {
	return l.update(ctx, func(st *budgetState) error {
		r, ok := st.Reserved[id]
		if !ok {
			return errNoChange // already folded as stale: counted
		}
		delete(st.Reserved, id)
		if amount.Cmp(r.Amount) < 0 {
			r.Amount = amount
		}
		st.spend(r.Amount, r.Host)
		return nil
	})
}

// release drops a reservation: the payment did not happen.
func (l *budgetStore) release(ctx context.Context, id string) error {
	return l.update(ctx, func(st *budgetState) error {
		if _, ok := st.Reserved[id]; !ok {
			return errNoChange
		}
		delete(st.Reserved, id)
		return nil
	})
}

// spending reports the state for people.
func (l *budgetStore) spending(ctx context.Context) (Spending, error) {
	var s Spending
	err := l.view(ctx, func(st *budgetState) {
		reserved, pending := decimal{}, decimal{}
		for _, r := range st.Reserved {
			reserved = reserved.Add(r.Amount)
		}
		hosts := map[string]decimal{}
		for h, v := range st.Hosts {
			hosts[h] = v
		}
		n := st.Payments
		for _, o := range st.Outstanding {
			if !o.Released {
				pending = pending.Add(o.Amount)
				hosts[o.Host] = hosts[o.Host].Add(o.Amount)
				n++
			}
		}
		s = Spending{Spent: st.Spent.Add(pending).String(), Outstanding: pending.String(), Reserved: reserved.String(), Payments: n, Hosts: map[string]string{}}
		for h, v := range hosts {
			s.Hosts[h] = v.String()
		}
	})
	return s, err
}

func newReservationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("client: reservation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
