// Package payclaims is the in-process set of payment authorizations being
// used for a response, shared by the resource servers of go402 (the HTTP
// middleware, x402http, and the paid MCP tools, x402mcp), so that one
// payment copied onto parallel requests buys one response.
//
// A claim lasts until a given time (when the authorization expires);
// [Set.Release] ends one early for a payment no handler used. The set also
// counts, by payer, the authorizations served and not settled yet
// ([Set.Hold]), for the limit on a payer's unsettled payments.
package payclaims

import (
	"sync"
	"time"
)

// Set is a set of claimed payment keys. The zero value is ready to use; a
// *Set is safe for concurrent use.
type Set struct {
	mu    sync.Mutex
	until map[string]time.Time
	sweep time.Time
	// unsettled holds, by payer (network, asset and payer), the
	// authorizations served and not settled yet, each until the
	// authorization expires.
	unsettled map[string]map[string]time.Time
}

// Claim marks key as in use until the given time; false if it already is.
func (u *Set) Claim(key string, until, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.until == nil {
		u.until = map[string]time.Time{}
	}
	if now.After(u.sweep) {
		u.sweepLocked(now)
		u.sweep = now.Add(time.Minute)
	}
	if t, ok := u.until[key]; ok && now.Before(t) {
		return false
	}
	u.until[key] = until
	return true
}

// sweepLocked forgets the claims and holds that expired.
func (u *Set) sweepLocked(now time.Time) {
	for k, t := range u.until {
		if now.After(t) {
			delete(u.until, k)
		}
	}
	for payer, held := range u.unsettled {
		for k, t := range held {
			if now.After(t) {
				delete(held, k)
			}
		}
		if len(held) == 0 {
			delete(u.unsettled, payer)
		}
	}
}

// Release ends a claim early: its payment was never used for a response
// (the handler did not run).
func (u *Set) Release(key string) {
	u.mu.Lock()
	delete(u.until, key)
	u.mu.Unlock()
}

// Hold counts the authorization key as served and unsettled for payer,
// until it is settled ([Set.Unhold]) or the given time; false, and
// nothing held, if payer has limit such authorizations already. A limit
// of zero or less means no limit.
func (u *Set) Hold(payer, key string, until, now time.Time, limit int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	held := u.unsettled[payer]
	for k, t := range held {
		if now.After(t) {
			delete(held, k)
		}
	}
	if limit > 0 && len(held) >= limit {
		return false
	}
	if held == nil {
		if u.unsettled == nil {
			u.unsettled = map[string]map[string]time.Time{}
		}
		held = map[string]time.Time{}
		u.unsettled[payer] = held
	}
	held[key] = until
	return true
}

// Unhold ends the hold of the authorization key of payer: it settled, its
// settlement was given up, or nothing was queued. It does nothing to a
// key not held.
func (u *Set) Unhold(payer, key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	held := u.unsettled[payer]
	delete(held, key)
	if len(held) == 0 {
		delete(u.unsettled, payer)
	}
}
