package x402http

import (
	"sync"
	"time"
)

// Claims is the set of payments a process is serving, so that one payment
// header copied onto parallel requests buys one response: the facilitator
// only learns that an authorization is spent when it settles, and until
// then every copy verifies. A payment stays claimed until it settled or
// its authorization expired, and a payment whose settlement failed after
// its response was served stays claimed until it expires.
//
// It holds for one process only. Servers behind a load balancer, and a
// server that restarts, share claims through Config.Queue (see "One
// payment, one response" in the package documentation).
//
// The zero value is ready to use; a *Claims is safe for concurrent use and
// may be shared by several middlewares (Config.Claims).
type Claims struct {
	mu    sync.Mutex
	until map[string]time.Time
	sweep time.Time
}

// claim marks key as in use until the given time; false if it already is.
func (u *Claims) claim(key string, until, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.until == nil {
		u.until = map[string]time.Time{}
	}
	if now.After(u.sweep) {
		for k, t := range u.until {
			if now.After(t) {
				delete(u.until, k)
			}
		}
		u.sweep = now.Add(time.Minute)
	}
	if t, ok := u.until[key]; ok && now.Before(t) {
		return false
	}
	u.until[key] = until
	return true
}

// release ends a claim early (the payment settled, or was not charged).
func (u *Claims) release(key string) {
	u.mu.Lock()
	delete(u.until, key)
	u.mu.Unlock()
}
