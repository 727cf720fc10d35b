package client

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go402/go402/x402"
)

func dec(t *testing.T, s string) decimal {
	t.Helper()
	d, err := parseDecimal(s)
	if err != nil {
		t.Fatalf("parseDecimal(%q): %v", s, err)
	}
	return d
}

func TestDecimal(t *testing.T) {
	for _, s := range []string{"", ".", "-1", "1e3", "1.2.3", " 1", "0x10", strings.Repeat("9", 201)} {
		if _, err := parseDecimal(s); err == nil {
			t.Errorf("parseDecimal(%q) accepted", s)
		}
	}
	cases := []struct {
		a, b, sum, diff string
		cmp             int
	}{
		{"0.001", "0.002", "0.003", "0", -1},
		{"1", "0.000000000000000001", "1.000000000000000001", "0.999999999999999999", 1},
		{"0.10", ".1", "0.2", "0", 0},
		{"007", "3.500", "10.5", "3.5", 1},
	}
	for _, c := range cases {
		a, b := dec(t, c.a), dec(t, c.b)
		if got := a.Add(b).String(); got != c.sum {
			t.Errorf("%s + %s = %s, want %s", c.a, c.b, got, c.sum)
		}
		if got := a.Sub(b).String(); got != c.diff {
			t.Errorf("%s - %s = %s, want %s", c.a, c.b, got, c.diff)
		}
		if got := a.Cmp(b); got != c.cmp {
			t.Errorf("cmp(%s, %s) = %d", c.a, c.b, got)
		}
	}
	// Atomic amounts of assets with different decimals add exactly.
	usdc := wholeUnits(x402.NewAmount(1500), 6)           // 0.0015
	weth := wholeUnits(x402.NewAmount(2_000_000_000), 18) // 0.000000002
	if got := usdc.Add(weth).String(); got != "0.001500002" {
		t.Errorf("sum %s", got)
	}
	if got := (decimal{}).String(); got != "0" {
		t.Errorf("zero %q", got)
	}
	p, _ := x402.ParsePrice("$0.0100")
	if got := decimalFromPrice(p); got.Cmp(dec(t, "0.01")) != 0 {
		t.Errorf("price %s", got)
	}
}

func TestLedgerFoldsStaleReservations(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "budget.json")
	l, err := openBudget(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allow := func(usage) *PolicyError { return nil }
	id, pe, err := l.reserve(ctx, dec(t, "0.5"), "", "a.example", now.Add(reservationTTL), allow)
	if err != nil || pe != nil {
		t.Fatal(err, pe)
	}
	// A second process sees the reservation.
	l2, err := openBudget(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := l2.usage(ctx, "a.example"); u.total.String() != "0.5" || u.host.String() != "0.5" {
		t.Errorf("usage %v %v", u.total, u.host)
	}
	if u, _ := l2.usage(ctx, "b.example"); u.total.String() != "0.5" || u.host.String() != "0" {
		t.Errorf("usage on another host %v %v", u.total, u.host)
	}
	// Its process died: a day later it is counted as spent.
	now = now.Add(reservationTTL + time.Second)
	sp, err := l2.spending(ctx)
	if err != nil || sp.Spent != "0.5" || sp.Reserved != "0" || sp.Payments != 1 || sp.Hosts["a.example"] != "0.5" {
		t.Errorf("spending %+v %v", sp, err)
	}
	// A late release does not make it unspent.
	if err := l.release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if sp, _ := l.spending(ctx); sp.Spent != "0.5" {
		t.Errorf("spending after late release %+v", sp)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), `"spent": "0.5"`) {
		t.Errorf("file %s %v", data, err)
	}
}

// TestHostKey: spellings of one host share a per-host budget.
func TestHostKey(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://api.example/x", "api.example"},
		{"https://API.Example./x", "api.example"},
		{"https://api.example:443/x", "api.example"},
		{"http://api.example:80/x", "api.example"},
		{"http://api.example:443/x", "api.example:443"},
		{"https://api.example:8443/x", "api.example:8443"},
		{"https://[::1]/x", "[::1]"},
		{"https://[::1]:443/x", "[::1]"},
		{"http://[::1]:8080/x", "[::1]:8080"},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostKey(u); got != tt.want {
			t.Errorf("hostKey(%s) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

// A version 1 budget file (before outstanding authorizations) is read as
// it is, and written back as version 2 with the authorizations sent; an
// outstanding authorization counts as spent until it is resolved, and a
// released one does not.
func TestBudgetFileVersion1AndOutstanding(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	path := filepath.Join(t.TempDir(), "budget.json")
	v1 := `{"version": 1, "spent": "0.25", "payments": 1, "hosts": {"a.example": "0.25"}}`
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := openBudget(path, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if sp, err := l.spending(ctx); err != nil || sp.Spent != "0.25" || sp.Outstanding != "0" || sp.Payments != 1 {
		t.Fatalf("version 1 file: %+v %v", sp, err)
	}
	allow := func(usage) *PolicyError { return nil }
	var ids []string
	for range 3 {
		id, _, err := l.reserve(ctx, dec(t, "0.5"), "", "a.example", now.Add(reservationTTL), allow)
		if err != nil {
			t.Fatal(err)
		}
		rec := outstanding{Version: 2, Scheme: "exact", Network: "eip155:8453", Asset: "0xa", Payer: "0xb", Nonce: "0x" + id, ValidBefore: now.Add(time.Minute)}
		if err := l.send(ctx, id, rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if sp, _ := l.spending(ctx); sp.Spent != "1.75" || sp.Outstanding != "1.5" || sp.Reserved != "0" || sp.Payments != 4 || sp.Hosts["a.example"] != "1.75" {
		t.Errorf("three outstanding: %+v", sp)
	}
	for i, how := range []resolution{resolvedSpent, resolvedUnspent, resolvedReleased} {
		if err := l.resolve(ctx, ids[i], how); err != nil {
			t.Fatal(err)
		}
	}
	if sp, _ := l.spending(ctx); sp.Spent != "0.75" || sp.Outstanding != "0" || sp.Payments != 2 {
		t.Errorf("resolved: %+v", sp)
	}
	// The released one is still watched, until its validity ends.
	if due, err := l.due(ctx, now); err != nil || len(due) != 0 {
		t.Errorf("due now: %v %v", due, err)
	}
	if due, err := l.due(ctx, now.Add(time.Minute)); err != nil || len(due) != 1 || !due[ids[2]].Released {
		t.Errorf("due later: %v %v", due, err)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), `"version": 2`) || !strings.Contains(string(data), `"nonce": "0x`+ids[2]+`"`) {
		t.Errorf("file %s %v", data, err)
	}
}
