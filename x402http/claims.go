package x402http

import (
	"time"

	"github.com/go402/go402/internal/payclaims"
	"github.com/go402/go402/x402"
)

// Claims is the set of payments a process is serving, so that one payment
// header copied onto parallel requests buys one response: the facilitator
// only learns that an authorization is spent when it settles, and until
// then every copy verifies. A payment stays claimed until its
// authorization expired, whether it was charged or not: once its handler
// ran, the authorization buys no other response at this server.
//
// Claims also counts each payer's serve-then-settle payments that were
// served and not settled yet (see [Config.MaxUnsettledPerPayer]).
//
// It holds for one process only. Servers behind a load balancer, and a
// server that restarts, share claims through Config.Queue (see "One
// payment, one response" in the package documentation).
//
// The zero value is ready to use; a *Claims is safe for concurrent use and
// may be shared by several middlewares (Config.Claims).
type Claims struct {
	set payclaims.Set
}

// claim marks key as in use until the given time; false if it already is.
func (u *Claims) claim(key string, until, now time.Time) bool {
	return u.set.Claim(key, until, now)
}

// release ends a claim early: its payment was never used for a response
// (the handler did not run).
func (u *Claims) release(key string) { u.set.Release(key) }

// hold counts the authorization key as served and unsettled for payer,
// until it is settled ([Claims.unhold]) or the given time; false, and
// nothing held, if payer has limit such authorizations already. A limit
// of zero or less means no limit.
func (u *Claims) hold(payer, key string, until, now time.Time, limit int) bool {
	return u.set.Hold(payer, key, until, now, limit)
}

// unhold ends the hold of the authorization key of payer: it settled, its
// settlement was given up, or nothing was queued. It does nothing to a
// key not held (such as one queued before a restart).
func (u *Claims) unhold(payer, key string) { u.set.Unhold(payer, key) }

// unsettledLimit is cfg.MaxUnsettledPerPayer with its default applied:
// -1 means no limit.
func unsettledLimit(cfg Config) int {
	switch n := cfg.MaxUnsettledPerPayer; {
	case n < 0:
		return -1
	case n > 0:
		return n
	}
	if rf, ok := cfg.Facilitator.(interface{ ReservesFunds() bool }); ok && rf.ReservesFunds() {
		return -1
	}
	return 1
}

// payerKey is the key under which a payer's unsettled payments are
// counted: the settle-once key without its nonce (network, asset, payer).
func payerKey(k x402.SettlementKey) string {
	k.Nonce = ""
	return k.String()
}

// settled ends the unsettled-payment hold of the payment req settles: call
// it once its queued settlement is finished, settled or given up (not when
// it will be retried). A payment not held by this process's Claims (queued
// before a restart, or by another server sharing the queue) is ignored, as
// is one the middleware's Schemes cannot identify.
func (m *Middleware) settled(req *x402.FacilitatorRequest) {
	if m.cfg.Schemes == nil || req == nil {
		return
	}
	p, err := req.Payment()
	if err != nil {
		return
	}
	srv, _, err := m.cfg.Schemes.Lookup(x402.V2, p.Requirements.Scheme, p.Requirements.Network)
	if err != nil {
		return
	}
	id, err := srv.Identify(p)
	if err != nil {
		return
	}
	m.claims.unhold(payerKey(id.Key), id.Key.String())
}
