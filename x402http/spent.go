package x402http

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go402/go402/x402"
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

// authorization is what the middleware reads of a scheme payload that
// carries a transfer authorization: an EIP-3009 one,
// {"authorization":{"from","to","value","validBefore","nonce"}}, or a
// Permit2 one, {"permit2Authorization":{"from","permitted":{"token",
// "amount"},"nonce","deadline","witness":{"to"}}}. Fields are empty when
// the payload does not carry them.
type authorization struct {
	From, To, Value, Asset, Nonce string
	expiry                        string // unix seconds
}

// lenient is a JSON string or number, read as its text.
type lenient string

func (l *lenient) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = lenient(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*l = lenient(n)
	return nil
}

// readAuthorization decodes the authorization of a scheme payload; the zero
// value if it has none. It reads the payload as strictly as go402's
// facilitator does ([x402.Object.Decode]): keys that differ only in case are
// refused, as are values of the wrong type. Otherwise a payload carrying
// "nonce" and "Nonce" could be keyed here by one nonce and settled by a
// JavaScript facilitator with the other, and one authorization would buy
// many responses.
func readAuthorization(payload x402.Object) (authorization, error) {
	var p struct {
		Authorization *struct {
			From        lenient `json:"from"`
			To          lenient `json:"to"`
			Value       lenient `json:"value"`
			ValidBefore lenient `json:"validBefore"`
			Nonce       lenient `json:"nonce"`
		} `json:"authorization"`
		Permit2 *struct {
			From      lenient `json:"from"`
			Permitted struct {
				Token  lenient `json:"token"`
				Amount lenient `json:"amount"`
			} `json:"permitted"`
			Nonce    lenient `json:"nonce"`
			Deadline lenient `json:"deadline"`
			Witness  struct {
				To lenient `json:"to"`
			} `json:"witness"`
		} `json:"permit2Authorization"`
	}
	if len(payload) == 0 {
		return authorization{}, nil
	}
	if err := payload.Decode(&p); err != nil {
		return authorization{}, err
	}
	switch {
	case p.Authorization != nil:
		a := p.Authorization
		return authorization{From: string(a.From), To: string(a.To), Value: string(a.Value), Nonce: string(a.Nonce), expiry: string(a.ValidBefore)}, nil
	case p.Permit2 != nil:
		a := p.Permit2
		return authorization{From: string(a.From), To: string(a.Witness.To), Value: string(a.Permitted.Amount), Asset: string(a.Permitted.Token), Nonce: string(a.Nonce), expiry: string(a.Deadline)}, nil
	}
	return authorization{}, nil
}

// expires returns when the authorization stops being valid, if it says.
func (a *authorization) expires() (time.Time, bool) {
	if a.expiry == "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(a.expiry, 10, 64)
	if err != nil || n <= 0 || n > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// pays reports whether the authorization can pay req: its recipient,
// amount and token, where it names them, are req's. A v1 payment names
// neither its asset nor its amount otherwise, so this is how it is matched
// to one of several options on one network.
func (a *authorization) pays(req *x402.PaymentRequirements) bool {
	if a.To != "" && !strings.EqualFold(a.To, req.PayTo) {
		return false
	}
	if a.Asset != "" && !strings.EqualFold(a.Asset, req.Asset) {
		return false
	}
	if a.Value != "" {
		v, err := x402.ParseAmount(a.Value)
		if err != nil || v != req.Amount {
			return false
		}
	}
	return true
}

// authorizationKey identifies the authorization a payment spends: for payloads
// carrying an EIP-3009 style authorization, (network, asset, payer, nonce),
// so that re-encoding the signature does not make a copy look new;
// otherwise a hash of the payload.
func authorizationKey(req *x402.PaymentRequirements, auth *authorization, payload x402.Object) string {
	if auth.From != "" && auth.Nonce != "" {
		return strings.ToLower(string(req.Network) + "|" + req.Asset + "|" + auth.From + "|" + auth.Nonce)
	}
	h := sha256.Sum256(payload)
	return string(req.Network) + "|" + hex.EncodeToString(h[:])
}
