package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestChecker(t *testing.T) {
	var runs atomic.Int32
	now := time.Unix(1000, 0)
	block := make(chan struct{})
	checks := []Check{
		{Name: "ok", Run: func(context.Context) (string, error) { runs.Add(1); return "fine", nil }},
		{Name: "secret", Run: func(context.Context) (string, error) {
			return "", errors.New(`Post "https://rpc.example/v2/KEY123": refused; dsn postgres://u:PW9@db/x`)
		}},
		{Name: "slow", Run: func(ctx context.Context) (string, error) { <-block; return "late", nil }},
		{Name: "panics", Run: func(context.Context) (string, error) { panic("boom") }},
	}
	c := New(Config{Checks: func() []Check { return checks }, Timeout: 50 * time.Millisecond,
		Secrets: []string{"postgres://u:PW9@db/x"}, Now: func() time.Time { return now }})
	defer close(block)

	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, s := range []string{"KEY123", "PW9"} {
		if strings.Contains(body, s) {
			t.Errorf("secret %s in %s", s, body)
		}
	}
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ok": true, "secret": false, "slow": false, "panics": false}
	if len(rep.Checks) != len(want) {
		t.Fatalf("checks %+v", rep.Checks)
	}
	for _, r := range rep.Checks {
		if ok, found := want[r.Name]; !found || ok != r.OK || r.Detail == "" {
			t.Errorf("%+v: want ok=%v with a detail", r, ok)
		}
	}
	if !strings.Contains(body, "no answer within 50ms") || !strings.Contains(body, "boom") {
		t.Errorf("timeout or panic not reported: %s", body)
	}
	// Cached for a second, then run again.
	c.Run(context.Background())
	if runs.Load() != 1 {
		t.Errorf("runs %d within the cache TTL, want 1", runs.Load())
	}
	now = now.Add(DefaultCacheTTL)
	c.Run(context.Background())
	if runs.Load() != 2 {
		t.Errorf("runs %d after the TTL, want 2", runs.Load())
	}
}

func TestReadyAllOK(t *testing.T) {
	c := New(Config{Checks: func() []Check {
		return []Check{{Name: "a", Run: func(context.Context) (string, error) { return "x", nil }}}
	}, CacheTTL: -1})
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"ok"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ready", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	Live(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("live: %d %s", rec.Code, rec.Body)
	}
}
