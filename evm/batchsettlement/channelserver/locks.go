package channelserver

import (
	"context"
	"errors"
	"sync"
	"time"
)

// keyedLocks serialises the requests of a channel within the process, so
// that they queue in memory rather than polling the store's lease.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	sem chan struct{} // capacity 1: held while full
	n   int           // holders and waiters
}

var errLockTimeout = errors.New("evm/batchsettlement/channelserver: timed out waiting for the channel")

// acquire takes key's lock, waiting at most wait (or until ctx ends), and
// returns its release, which is safe to call more than once.
func (k *keyedLocks) acquire(ctx context.Context, key string, wait time.Duration) (func(), error) {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyedLock{sem: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.n++
	k.mu.Unlock()
	select {
	case l.sem <- struct{}{}:
	default:
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			k.drop(key, l)
			return nil, ctx.Err()
		case <-t.C:
			k.drop(key, l)
			return nil, errLockTimeout
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.sem
			k.drop(key, l)
		})
	}, nil
}

// drop forgets one holder or waiter of l.
func (k *keyedLocks) drop(key string, l *keyedLock) {
	k.mu.Lock()
	if l.n--; l.n == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
