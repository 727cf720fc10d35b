package mcpwallet

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

// option is a client option for amount atomic units of a 6-decimal asset.
func option(t *testing.T, amount string, symbol string, usd bool) *client.Option {
	t.Helper()
	a, err := x402.ParseAmount(amount)
	if err != nil {
		t.Fatal(err)
	}
	return &client.Option{
		Requirements: x402.PaymentRequirements{Scheme: "exact", Network: "eip155:8453", Amount: a, Asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", PayTo: "0x000000000000000000000000000000000000dEaD"},
		Asset:        client.Asset{Network: "eip155:8453", Address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", Decimals: 6, Symbol: symbol, USDStablecoin: usd},
		Price:        amount + " atomic",
	}
}

func TestThreshold(t *testing.T) {
	for _, c := range []struct {
		threshold, amount, symbol string
		usd, exceeded             bool
	}{
		{"$0.01", "10000", "USDC", true, false}, // equal: not above
		{"$0.01", "10001", "USDC", true, true},
		{"$0.01", "9999", "USDC", true, false},
		{"$0.01", "1", "EURC", false, true}, // not a dollar stablecoin: cannot price it
		{"0.5 EURC", "400000", "EURC", false, false},
		{"0.5 eurc", "600000", "EURC", false, true},
		{"0.5 EURC", "1", "USDC", true, true}, // another symbol
		{"1", "1000000", "TOK", false, false},
		{"1", "1000001", "TOK", false, true},
		{"$0", "1", "USDC", true, true},
		{"$0", "0", "USDC", true, false},
	} {
		th, err := ParseThreshold(c.threshold)
		if err != nil {
			t.Fatalf("%q: %v", c.threshold, err)
		}
		if got := th.Exceeded(option(t, c.amount, c.symbol, c.usd)); got != c.exceeded {
			t.Errorf("%q, %s %s: exceeded %v, want %v", c.threshold, c.amount, c.symbol, got, c.exceeded)
		}
	}
	var none *Threshold
	if none.Exceeded(option(t, "1000000000", "USDC", true)) || none.String() != "" {
		t.Error("no threshold asks for approval")
	}
	th, _ := ParseThreshold("$1")
	unknown := option(t, "1", "", false)
	unknown.Asset = client.Asset{}
	if !th.Exceeded(unknown) || !th.Exceeded(nil) {
		t.Error("an asset of unknown decimals must need approval")
	}
}

func TestParseThresholdErrors(t *testing.T) {
	for _, s := range []string{"$", "abc", "$-1", "1e3", "0x10", "1.2.3", ".", "1 A B", "$1 USDC", strings.Repeat("9", 41)} {
		if th, err := ParseThreshold(s); err == nil {
			t.Errorf("%q: parsed as %v", s, th)
		}
	}
	if th, err := ParseThreshold(""); th != nil || err != nil {
		t.Errorf("empty: %v %v", th, err)
	}
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"$0.01", "0.5 USDC", "1", "", "$", "1 A B", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil || th == nil {
			return
		}
		if th.amount == nil || th.amount.Sign() < 0 {
			t.Fatalf("%q: amount %v", s, th.amount)
		}
		_ = th.Exceeded(nil)
	})
}

// newApprovals is a token store on a settable clock.
func newApprovals(now *time.Time) *approvals {
	return &approvals{pending: map[string]pending{}, ttl: time.Minute, now: func() time.Time { return *now }}
}

func TestApprovalTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newApprovals(&now)
	th, _ := ParseThreshold("$0.01")
	q := client.Quote{Option: option(t, "50000", "USDC", true)}
	ask := func(key, confirm string, q client.Quote) (*call, error) {
		c := &call{key: key, confirm: confirm}
		return c, a.check(withCall(context.Background(), c), th, q)
	}
	if _, err := ask("k", "", client.Quote{Option: option(t, "10000", "USDC", true)}); err != nil {
		t.Fatalf("below the threshold: %v", err)
	}
	c, err := ask("k", "", q)
	if !errors.Is(err, errNeedsApproval) || c.approval == nil || !strings.HasPrefix(c.approval.Confirm, "approve_") {
		t.Fatalf("above the threshold: %v %+v", err, c.approval)
	}
	tok := c.approval.Confirm
	// Another request, another option, or no call: refused, new token.
	other := client.Quote{Option: option(t, "50001", "USDC", true)}
	for _, try := range []struct {
		key string
		q   client.Quote
	}{{"other", q}, {"k", other}} {
		if c, err := ask(try.key, tok, try.q); !errors.Is(err, errNeedsApproval) || c.approval == nil || c.approval.Confirm == tok {
			t.Errorf("token accepted for %s: %v", try.key, err)
		}
	}
	if err := a.check(context.Background(), th, q); !errors.Is(err, errNeedsApproval) {
		t.Errorf("no call: %v", err)
	}
	if _, err := ask("k", tok, q); err != nil {
		t.Fatalf("the right token: %v", err)
	}
	if _, err := ask("k", tok, q); !errors.Is(err, errNeedsApproval) {
		t.Errorf("a token used twice: %v", err)
	}
	// Expiry.
	c, _ = ask("k", "", q)
	now = now.Add(time.Minute)
	if _, err := ask("k", c.approval.Confirm, q); !errors.Is(err, errNeedsApproval) {
		t.Errorf("an expired token: %v", err)
	}
}

// TestApprovalTokenOnceConcurrently: one token, many parallel calls: one
// payment passes.
func TestApprovalTokenOnceConcurrently(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newApprovals(&now)
	th, _ := ParseThreshold("$0.01")
	q := client.Quote{Option: option(t, "50000", "USDC", true)}
	c := &call{key: "k"}
	_ = a.check(withCall(context.Background(), c), th, q)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if a.check(withCall(context.Background(), &call{key: "k", confirm: c.approval.Confirm}), th, q) == nil {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 1 {
		t.Errorf("%d calls passed with one token", passed.Load())
	}
	if len(a.pending) > maxPending {
		t.Errorf("%d tokens kept", len(a.pending))
	}
}

func TestApprovalTokensBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newApprovals(&now)
	th, _ := ParseThreshold("$0.01")
	q := client.Quote{Option: option(t, "50000", "USDC", true)}
	for i := range 2 * maxPending {
		now = now.Add(time.Millisecond * time.Duration(i%3))
		_ = a.check(withCall(context.Background(), &call{key: "k"}), th, q)
	}
	if len(a.pending) > maxPending {
		t.Errorf("%d tokens kept, at most %d", len(a.pending), maxPending)
	}
}

func TestHostAllowed(t *testing.T) {
	w := &Wallet{cfg: Config{AllowHosts: []string{"api.example.com", "tools.example:8443", "*.paid.example"}}}
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://api.example.com/x", true},
		{"http://API.example.com:8080/x", true},
		{"https://tools.example:8443/mcp", true},
		{"https://tools.example/mcp", false},
		{"https://a.paid.example/", true},
		{"https://paid.example/", false},
		{"https://evilpaid.example/", false},
		{"https://api.example.com.evil/", false},
	} {
		u, _ := url.Parse(c.url)
		if got := w.hostAllowed(u); got != c.ok {
			t.Errorf("%s: allowed %v, want %v", c.url, got, c.ok)
		}
	}
	if _, err := w.checkURL("https://user:pw@api.example.com/"); err == nil {
		t.Error("credentials in a URL accepted")
	}
	for _, bad := range []string{"", "a/b", "*", "a*.b", "x@y"} {
		if checkHosts([]string{bad}) == nil {
			t.Errorf("allowed host %q accepted", bad)
		}
	}
}
