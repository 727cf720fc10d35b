package x402

import (
	"context"
	"strings"
	"sync"
	"time"
)

// SchemeServer is the resource server's side of a payment scheme on a set of
// networks: it prices a route and reads what a payment spends, so that a
// server can make one payment buy one response without knowing the scheme's
// payload. Register implementations in a [Registry] under version [V2] (a
// server builds requirements in v2 shape for both protocol versions).
type SchemeServer interface {
	// Scheme returns the scheme name, such as "exact".
	Scheme() string
	// Requirements builds the payment requirements of a price on network,
	// paid to payTo, with the authorization valid for maxTimeoutSeconds.
	Requirements(network Network, price Price, payTo string, maxTimeoutSeconds int) (PaymentRequirements, error)
	// Identify reads the payload of p: the key under which the scheme's
	// facilitator settles it at most once (the same key, so that a server
	// and a facilitator agree on what "the same payment" is), when its
	// authorization stops being valid, and what it names of the transfer.
	// It decodes the payload as strictly as the scheme's facilitator does,
	// and fails when the payload is not one of the scheme's. It does not
	// verify the payment: that is the facilitator's job.
	Identify(p *Payment) (PaymentID, error)
}

// PaymentID is what a [SchemeServer] reads of a payment.
type PaymentID struct {
	// Key is the settle-once key: network, asset, payer and nonce (or
	// channel) of the authorization.
	Key SettlementKey
	// Expires is when the authorization stops being valid; zero if the
	// payload does not say.
	Expires time.Time
	// PayTo, Asset and Amount are what the payload itself names of the
	// transfer ("" where it names nothing). A v1 payment names only its
	// scheme and network, so a server matches it to one of several
	// requirements with these (see [PaymentID.Pays]).
	PayTo, Asset, Amount string
}

// Pays reports whether the payment can pay r as far as its payload says:
// the recipient and asset it names (compared ignoring case) and the amount
// it names (exactly) are r's.
func (id *PaymentID) Pays(r *PaymentRequirements) bool {
	if id.PayTo != "" && !strings.EqualFold(id.PayTo, r.PayTo) {
		return false
	}
	if id.Asset != "" && !strings.EqualFold(id.Asset, r.Asset) {
		return false
	}
	if id.Amount != "" {
		a, err := ParseAmount(id.Amount)
		if err != nil || a != r.Amount {
			return false
		}
	}
	return true
}

// LocalVerifier is implemented by a [SchemeServer] that can verify some
// payments itself, without a round trip to the facilitator (a scheme whose
// payments are vouchers against a channel the server knows, say).
type LocalVerifier interface {
	// VerifyLocal returns a verdict for p, or nil and no error when it
	// cannot decide and the facilitator must verify. An error means no
	// verdict was reached.
	VerifyLocal(ctx context.Context, p *Payment) (*VerifyResponse, error)
}

// SettleHooks receives events from a [SchemeFacilitator]'s Settle, in the
// manner of net/http/httptrace. The zero value does nothing.
type SettleHooks struct {
	// BeforeBroadcast is called with the transaction id after the
	// transaction is signed and before it is sent, and again if it is
	// re-signed (a new id). If it returns an error, the transaction is not
	// sent and Settle fails with that error. A facilitator uses it to
	// record the transaction durably before any funds can move, so that a
	// crash after the broadcast can be reconciled.
	BeforeBroadcast func(ctx context.Context, tx string) error
}

// String renders the key as the lower-case "network|asset|payer|nonce",
// the form servers use to claim a payment.
func (k SettlementKey) String() string {
	b := make([]byte, 0, len(k.Network)+len(k.Asset)+len(k.Payer)+len(k.Nonce)+3)
	for i, s := range [...]string{string(k.Network), k.Asset, k.Payer, k.Nonce} {
		if i > 0 {
			b = append(b, '|')
		}
		for j := 0; j < len(s); j++ {
			c := s[j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
	}
	return string(b)
}

// paymentMemo holds a scheme's decoded form of a payment's payload.
type paymentMemo struct {
	mu  sync.Mutex
	src Object // the payload the value was decoded from
	key any
	val any
	err error
}

// Decoded returns the scheme's decoded form of p.Payload: decode(p.Payload)
// the first time it is called with key, and the same value and error
// afterwards for as long as p.Payload is unchanged. Schemes use it so that a
// payment is decoded once per request however many times it is identified,
// verified and settled; key (a value of an unexported type of the scheme's,
// like a context key) keeps schemes apart. The value is shared: callers
// must not modify it. It is safe for concurrent use.
func (p *Payment) Decoded(key any, decode func(Object) (any, error)) (any, error) {
	if p.memo == nil {
		return decode(p.Payload)
	}
	m := p.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.key == key && sameBytes(m.src, p.Payload) {
		return m.val, m.err
	}
	v, err := decode(p.Payload)
	m.src, m.key, m.val, m.err = p.Payload, key, v, err
	return v, err
}

// sameBytes reports whether a and b are the same slice (not just equal
// contents): a payload replaced after decoding is decoded again.
func sameBytes(a, b Object) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}
