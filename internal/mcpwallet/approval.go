package mcpwallet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/go402/go402/client"
)

// Threshold is an approval threshold: a price such as "$0.05" (US dollar
// stablecoins), "0.05 USDC" (assets with that symbol) or "0.05" (any
// asset whose decimals are known), in whole units, as client.Policy's
// limits are written.
type Threshold struct {
	amount *big.Rat // whole units
	usd    bool     // "$..."
	symbol string   // "... SYM"
	text   string
}

// ParseThreshold parses an approval threshold; "" is no threshold (nil).
func ParseThreshold(s string) (*Threshold, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	t := &Threshold{text: s}
	num := s
	if rest, ok := strings.CutPrefix(s, "$"); ok {
		t.usd, num = true, strings.TrimSpace(rest)
	} else if n, sym, ok := strings.Cut(s, " "); ok {
		num, t.symbol = n, strings.TrimSpace(sym)
		if t.symbol == "" || strings.ContainsAny(t.symbol, " \t") {
			return nil, fmt.Errorf("approval threshold %q: want a price such as $0.05, \"0.05 USDC\" or 0.05", s)
		}
	}
	if len(num) == 0 || len(num) > 40 || strings.Trim(num, "0123456789.") != "" || strings.Count(num, ".") > 1 || num == "." {
		return nil, fmt.Errorf("approval threshold %q: want a price such as $0.05, \"0.05 USDC\" or 0.05", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return nil, fmt.Errorf("approval threshold %q: not a number", s)
	}
	t.amount = r
	return t, nil
}

// String is the threshold as written.
func (t *Threshold) String() string {
	if t == nil {
		return ""
	}
	return t.text
}

// Exceeded reports whether paying o needs an approval: its price is above
// the threshold, or the threshold cannot price it (an asset that is not
// a dollar stablecoin under "$...", another symbol, unknown decimals).
func (t *Threshold) Exceeded(o *client.Option) bool {
	if t == nil {
		return false
	}
	if o == nil || o.Asset.Address == "" {
		return true // unknown asset: its price in whole units is unknown
	}
	if (t.usd && !o.Asset.USDStablecoin) || (t.symbol != "" && !strings.EqualFold(t.symbol, o.Asset.Symbol)) {
		return true
	}
	price := new(big.Rat).SetFrac(o.Requirements.Amount.Big(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(o.Asset.Decimals)), nil))
	return price.Cmp(t.amount) > 0
}

// Approval is a request for confirmation: nothing was signed or paid.
// Calling the tool again with the same arguments and confirm set to
// Confirm pays this exact option, once, before ExpiresAt.
type Approval struct {
	Confirm   string    `json:"confirm" jsonschema:"the token to pass as confirm to pay"`
	Price     string    `json:"price"`
	Scheme    string    `json:"scheme"`
	Network   string    `json:"network"`
	Asset     string    `json:"asset"`
	PayTo     string    `json:"payTo"`
	Threshold string    `json:"threshold"`
	ExpiresAt time.Time `json:"expiresAt"`
	Message   string    `json:"message"`
}

// errNeedsApproval refuses a payment pending confirmation.
var errNeedsApproval = errors.New("needs approval")

// approvals are the confirmation tokens issued and not used yet.
type approvals struct {
	mu      sync.Mutex
	pending map[string]pending // by token
	ttl     time.Duration
	now     func() time.Time
}

type pending struct {
	fingerprint string
	expires     time.Time
}

// maxPending bounds the tokens kept; the oldest go first.
const maxPending = 256

// call is what a tool call carries to the approval hook: what identifies
// the request, the confirm token given, and the approval issued.
type call struct {
	key      string // method, URL and body digest, or server, tool and arguments
	confirm  string
	approval *Approval
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// fingerprint binds a token to a request and an option.
func fingerprint(key string, o *client.Option) string {
	r := o.Requirements
	h := sha256.Sum256([]byte(strings.Join([]string{key, r.Scheme, string(r.Network), strings.ToLower(r.Asset), strings.ToLower(r.PayTo), r.Amount.String()}, "\x00")))
	return hex.EncodeToString(h[:])
}

// check is the client's Policy.Approve: payments at or below the
// threshold pass; above it, a valid token for this request and option is
// used up, or else a new token is issued and the payment refused.
func (a *approvals) check(ctx context.Context, th *Threshold, q client.Quote) error {
	if !th.Exceeded(q.Option) {
		return nil
	}
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		return errNeedsApproval
	}
	fp := fingerprint(c.key, q.Option)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if p, ok := a.pending[c.confirm]; ok && c.confirm != "" {
		if p.fingerprint == fp && now.Before(p.expires) {
			delete(a.pending, c.confirm)
			return nil
		}
	}
	tok, err := newToken()
	if err != nil {
		return err
	}
	a.evict(now)
	a.pending[tok] = pending{fingerprint: fp, expires: now.Add(a.ttl)}
	r := q.Option.Requirements
	c.approval = &Approval{
		Confirm: tok, Price: q.Option.Price, Scheme: r.Scheme, Network: string(r.Network), Asset: r.Asset, PayTo: r.PayTo,
		Threshold: th.String(), ExpiresAt: now.Add(a.ttl).UTC(),
		Message: "needs approval: the price is above the approval threshold; nothing was signed or paid. Ask the user, then call again with the same arguments and confirm set to this token.",
	}
	return errNeedsApproval
}

// evict drops expired tokens and, above maxPending, the oldest.
func (a *approvals) evict(now time.Time) {
	for k, p := range a.pending {
		if !now.Before(p.expires) {
			delete(a.pending, k)
		}
	}
	for len(a.pending) >= maxPending {
		var oldest string
		for k, p := range a.pending {
			if oldest == "" || p.expires.Before(a.pending[oldest].expires) {
				oldest = k
			}
		}
		delete(a.pending, oldest)
	}
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "approve_" + hex.EncodeToString(b[:]), nil
}
