package x402http

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/go402/go402/x402"
)

// inUse remembers the payments this server is serving, so that one payment
// header copied onto parallel requests buys one response: the facilitator
// only learns that an authorization is spent when it settles, and until
// then every copy would verify.
//
// It is per process; servers behind a load balancer share no such set (see
// the package documentation).
type inUse struct {
	mu    sync.Mutex
	until map[string]time.Time
	sweep time.Time
}

// claim marks key as in use until the given time; false if it already is.
func (u *inUse) claim(key string, until, now time.Time) bool {
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

// release ends a claim early (the payment settled or was refused).
func (u *inUse) release(key string) {
	u.mu.Lock()
	delete(u.until, key)
	u.mu.Unlock()
}

// authorizationKey identifies the authorization a payment spends: for payloads
// carrying an EIP-3009 style authorization, (network, asset, payer, nonce),
// so that re-encoding the signature does not make a copy look new;
// otherwise a hash of the payload.
func authorizationKey(req x402.PaymentRequirements, payload x402.Object) string {
	var p struct {
		Authorization struct {
			From  string `json:"from"`
			Nonce string `json:"nonce"`
		} `json:"authorization"`
	}
	if payload.Decode(&p) == nil && p.Authorization.From != "" && p.Authorization.Nonce != "" {
		return strings.ToLower(string(req.Network) + "|" + req.Asset + "|" + p.Authorization.From + "|" + p.Authorization.Nonce)
	}
	h := sha256.Sum256(payload)
	return string(req.Network) + "|" + hex.EncodeToString(h[:])
}
