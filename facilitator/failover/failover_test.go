package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/facilitator/failover"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

func newFailover(t *testing.T, opts failover.Options, members ...x402.Facilitator) *failover.Facilitator {
	t.Helper()
	if opts.Names == nil {
		opts.Names = []string{"a", "b"}
	}
	fo, err := failover.New(members, opts)
	if err != nil {
		t.Fatal(err)
	}
	return fo
}

// The first facilitator is down (its port closed): the middleware's
// payment is verified and settled by the second, and the funds move once.
func TestFirstDownSecondSettles(t *testing.T) {
	f := newFixture(t)
	f.a.down()
	fo := newFailover(t, failover.Options{}, client(t, f.a), client(t, f.b))
	url, pr := f.serve(t, fo)
	req, header := f.payment(t, pr)
	before := f.balance(t)
	if resp := get(t, url, header); resp.StatusCode != http.StatusOK {
		t.Fatalf("paid: status %d", resp.StatusCode)
	}
	if resp := get(t, url, header); resp.StatusCode == http.StatusOK {
		t.Errorf("the same payment was served twice")
	}
	f.received(t, before, 10_000)
	if n := f.b.count("/settle"); n != 1 {
		t.Errorf("b got %d settles, want 1", n)
	}
	if h, ok := fo.Holder(req); !ok || h != "b" {
		t.Errorf("Holder = %q, %v; want b", h, ok)
	}
	if !fo.ReservesFunds() {
		t.Errorf("ReservesFunds false with two go402 facilitators")
	}
}

// The first facilitator receives /settle and settles, but its answer is
// lost (the connection cut, or stalled past the client's timeout): the
// outcome is reported unknown, the second facilitator never sees the
// settle, not even while the first is unreachable, and a later settle is
// answered by the first with its outcome. The funds move once.
func TestSettleUnknownStaysWithFirst(t *testing.T) {
	f := newFixture(t)
	fo := newFailover(t, failover.Options{}, client(t, f.a), client(t, f.b))
	_, pr := f.serve(t, fo)
	for _, tc := range []struct {
		name string
		mode settleMode
	}{{"cut", cut}, {"stall", stall}} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := f.payment(t, pr)
			before, bSettles := f.balance(t), f.b.count("/settle")
			v, err := fo.Verify(t.Context(), req)
			if err != nil || !v.IsValid {
				t.Fatalf("Verify = %+v, %v", v, err)
			}
			f.a.mode.Store(int32(tc.mode))
			_, err = fo.Settle(t.Context(), req)
			var unknown *failover.UnknownOutcomeError
			if !errors.As(err, &unknown) || unknown.Facilitator != "a" || !errors.Is(err, remote.ErrSettleOutcomeUnknown) {
				t.Fatalf("Settle error = %v; want an unknown outcome at a", err)
			}
			if h, ok := fo.Holder(req); !ok || h != "a" {
				t.Errorf("Holder = %q, %v; want a", h, ok)
			}
			// The holder unreachable: still never settled elsewhere.
			f.a.down()
			if _, err := fo.Settle(t.Context(), req); !errors.As(err, &unknown) || unknown.Facilitator != "a" {
				t.Errorf("Settle with the holder down = %v; want an unknown outcome at a", err)
			}
			if n := f.b.count("/settle") - bSettles; n != 0 {
				t.Errorf("b got %d settles of a payment held by a", n)
			}
			// Reconciled with the first once it answers again.
			f.a.up()
			f.a.mode.Store(int32(pass))
			sr, err := fo.Settle(t.Context(), req)
			if err != nil || !sr.Success || sr.Transaction == "" {
				t.Fatalf("Settle after recovery = %+v, %v; want a's recorded success", sr, err)
			}
			f.received(t, before, 10_000)
		})
	}
}

// The middleware, on a settle-before-serve route, answers 502 when the
// settle outcome is unknown and does not settle elsewhere.
func TestMiddlewareUnknownSettle(t *testing.T) {
	f := newFixture(t)
	fo := newFailover(t, failover.Options{}, client(t, f.a), client(t, f.b))
	url, pr := f.serve(t, fo)
	req, header := f.payment(t, pr)
	before := f.balance(t)
	f.a.mode.Store(int32(cut))
	if resp := get(t, url, header); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if n := f.b.count("/settle"); n != 0 {
		t.Errorf("b got %d settles", n)
	}
	f.a.mode.Store(int32(pass))
	if sr, err := fo.Settle(t.Context(), req); err != nil || !sr.Success {
		t.Fatalf("reconciling: %+v, %v", sr, err)
	}
	f.received(t, before, 10_000)
}

// An invalid verdict from the first facilitator is final: the second is
// not asked.
func TestInvalidVerdictNotRetried(t *testing.T) {
	f := newFixture(t)
	fo := newFailover(t, failover.Options{}, client(t, f.a), client(t, f.b))
	_, pr := f.serve(t, fo)
	req, _ := f.payment(t, pr)
	var payload map[string]any
	if err := json.Unmarshal(req.Payload.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	sig := payload["signature"].(string)
	flip := "1"
	if sig[20] == '1' {
		flip = "2"
	}
	payload["signature"] = sig[:20] + flip + sig[21:]
	obj, err := x402.NewObject(payload)
	if err != nil {
		t.Fatal(err)
	}
	p := *req.Payload
	p.Payload = obj
	bad := x402.NewFacilitatorRequest(&p, req.Requirements)
	aVerifies := f.a.count("/verify")
	v, err := fo.Verify(t.Context(), bad)
	if err != nil || v.IsValid {
		t.Fatalf("Verify = %+v, %v; want an invalid verdict", v, err)
	}
	if n := f.a.count("/verify") - aVerifies; n != 1 {
		t.Errorf("a got %d verifies, want 1", n)
	}
	if n := f.b.count("/verify"); n != 0 {
		t.Errorf("b got %d verifies after a's verdict", n)
	}
}

// A member refusing the request (400) is final and keeps its health; a
// server error (503) fails over to the next.
func TestRefusalFinalServerErrorFailsOver(t *testing.T) {
	f := newFixture(t)
	fo := newFailover(t, failover.Options{}, client(t, f.a), client(t, f.b))
	_, pr := f.serve(t, fo)
	step := func(status int32, wantErr bool, wantA, wantB int) {
		t.Helper()
		req, _ := f.payment(t, pr)
		a, b := f.a.count("/verify"), f.b.count("/verify")
		f.a.verifyStatus.Store(status)
		v, err := fo.Verify(t.Context(), req)
		if (err != nil) != wantErr || (err == nil && !v.IsValid) {
			t.Errorf("status %d: Verify = %+v, %v", status, v, err)
		}
		if da, db := f.a.count("/verify")-a, f.b.count("/verify")-b; da != wantA || db != wantB {
			t.Errorf("status %d: verifies a +%d, b +%d; want +%d, +%d", status, da, db, wantA, wantB)
		}
	}
	step(http.StatusBadRequest, true, 1, 0)
	step(0, false, 1, 0) // a did not back off
	step(http.StatusServiceUnavailable, false, 1, 1)
}

// A dead facilitator is skipped during its back-off and asked again after
// it (the clock is injected).
func TestBreakerSkipsThenRetries(t *testing.T) {
	f := newFixture(t)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	ca := &counting{Facilitator: client(t, f.a)}
	fo := newFailover(t, failover.Options{Now: clk.Now, Cooldown: 30 * time.Second}, ca, client(t, f.b))
	_, pr := f.serve(t, fo)
	f.a.down()
	verify := func(want string) {
		t.Helper()
		req, _ := f.payment(t, pr)
		aV, bV := f.a.count("/verify"), f.b.count("/verify")
		if v, err := fo.Verify(t.Context(), req); err != nil || !v.IsValid {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		got := map[bool]string{true: "a", false: "b"}[f.a.count("/verify") > aV]
		if got != want || f.a.count("/verify")-aV+f.b.count("/verify")-bV != 1 {
			t.Errorf("verified by %s (a +%d, b +%d), want %s", got, f.a.count("/verify")-aV, f.b.count("/verify")-bV, want)
		}
	}
	verify("b")
	if n := ca.calls.Load(); n != 1 {
		t.Fatalf("a was called %d times, want 1 (its /supported, refused)", n)
	}
	clk.advance(10 * time.Second)
	f.a.up()
	verify("b")
	if n := ca.calls.Load(); n != 1 {
		t.Errorf("a was called %d times during its back-off, want 1", n)
	}
	clk.advance(21 * time.Second)
	verify("a")
}

// Supported is the union of the members' answers; a facilitator-specific
// extra (upto's facilitatorAddress) pins a payment to the member that
// announced it.
func TestSupportedMergeAndPin(t *testing.T) {
	f := newFixture(t)
	ca, cb := client(t, f.a), client(t, f.b)
	fo := newFailover(t, failover.Options{}, ca, cb)
	sa, err := ca.Supported(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := cb.Supported(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sup, err := fo.Supported(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string // upto facilitator addresses, in order
	for _, k := range sup.Kinds {
		if a, ok := k.Extra.StringField("facilitatorAddress"); ok && k.Scheme == "upto" && k.X402Version == x402.V2 {
			addrs = append(addrs, strings.ToLower(a))
		}
	}
	aAddr, bAddr := strings.ToLower(f.st.Signer.Address.Hex()), strings.ToLower(f.st.Accounts[2].Address.Hex())
	if len(addrs) != 2 || addrs[0] != aAddr || addrs[1] != bAddr {
		t.Errorf("upto facilitator addresses %v, want [%s %s]", addrs, aAddr, bAddr)
	}
	if want := len(sa.Kinds) + len(sb.Kinds) - 1; len(sa.Kinds) == len(sb.Kinds) && len(sup.Kinds) > want {
		t.Errorf("%d merged kinds from %d and %d: duplicates kept", len(sup.Kinds), len(sa.Kinds), len(sb.Kinds))
	}
	signers := strings.ToLower(strings.Join(sup.Signers["eip155:*"], ","))
	if !strings.Contains(signers, aAddr) || !strings.Contains(signers, bAddr) {
		t.Errorf("merged signers %v lack a or b", sup.Signers)
	}
	// An upto payment naming b's address goes to b only.
	extra, _ := x402.NewObject(map[string]string{"facilitatorAddress": f.st.Accounts[2].Address.Hex()})
	reqs := x402.PaymentRequirements{Scheme: "upto", Network: f.st.Network, Amount: x402.NewAmount(1000),
		Asset: f.st.Devnet.Token().Address.Hex(), PayTo: f.payee.Address.Hex(), MaxTimeoutSeconds: 60, Extra: extra}
	payload, _ := x402.NewObject(map[string]string{"signature": "0x00"})
	req := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: reqs, Payload: payload}, &reqs)
	_, _ = fo.Verify(t.Context(), req)
	if a, b := f.a.count("/verify"), f.b.count("/verify"); a != 0 || b != 1 {
		t.Errorf("verifies: a %d, b %d; want the payment pinned to b", a, b)
	}
}

// A refused connection is told apart from an answer that is an error.
func TestClassify(t *testing.T) {
	f := newFixture(t)
	f.a.down()
	_, err := client(t, f.a).Verify(t.Context(), &x402.FacilitatorRequest{X402Version: x402.V2})
	if err == nil || failover.Classify(err) != failover.Unreachable {
		t.Errorf("refused connection: %v classified %v", err, failover.Classify(err))
	}
	herr := &remote.HTTPError{StatusCode: 500}
	if k := failover.Classify(herr); k != failover.Answered {
		t.Errorf("HTTP 500 classified %v", k)
	}
	if k := failover.Classify(errors.New("read: connection reset")); k != failover.NoAnswer {
		t.Errorf("reset classified %v", k)
	}
}

// A serve-then-settle route: the queued settle reaches the first
// facilitator, whose answer is lost; the queue retries it (its clock is
// injected), the retry goes to the first again, which answers with its
// outcome. The second never sees it; the funds move once.
func TestQueueReconcilesWithHolder(t *testing.T) {
	f := newFixture(t)
	fo := newFailover(t, failover.Options{}, client(t, f.a), client(t, f.b))
	clk := &clock{now: time.Now()}
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: filepath.Join(t.TempDir(), "q.db"), PollInterval: 10 * time.Millisecond, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	mw, srv := f.st.Serve(t, x402http.Config{Facilitator: fo, Queue: q, Routes: []x402http.Route{{
		Pattern: "GET /data", Policy: x402http.ServeThenSettle,
		Accepts: []x402http.PaymentOption{f.st.Option("$0.01", f.payee.Address.Hex())},
	}}}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "paid data") }))
	resp := get(t, srv.URL+"/data", "")
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	_, header := f.payment(t, pr)
	before := f.balance(t)
	f.a.mode.Store(int32(cut))
	if resp := get(t, srv.URL+"/data", header); resp.StatusCode != http.StatusOK {
		t.Fatalf("paid: status %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mw.RunSettlements(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "a retried settlement", func() bool { return mw.SettlementStats().Retried >= 1 })
	f.a.mode.Store(int32(pass))
	clk.advance(5 * time.Second) // the retry is due
	waitFor(t, "the settlement", func() bool { return mw.SettlementStats().Settled == 1 })
	if n := f.b.count("/settle"); n != 0 {
		t.Errorf("b got %d settles", n)
	}
	if n := f.a.count("/settle"); n != 2 {
		t.Errorf("a got %d settles, want 2 (the lost one and the retry)", n)
	}
	f.received(t, before, 10_000)
}

// waitFor waits up to 20 s for cond, which events of other goroutines
// make true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Each further failure doubles a member's back-off.
func TestBackoffDoubles(t *testing.T) {
	f := newFixture(t)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	ca := &counting{Facilitator: client(t, f.a)}
	fo := newFailover(t, failover.Options{Now: clk.Now, Cooldown: 30 * time.Second, MaxCooldown: time.Hour}, ca, client(t, f.b))
	_, pr := f.serve(t, fo)
	f.a.down()
	for i, step := range []struct {
		advance time.Duration
		calls   int64 // a's calls so far
	}{{0, 1}, {31 * time.Second, 2}, {31 * time.Second, 2}, {30 * time.Second, 3}} {
		clk.advance(step.advance)
		req, _ := f.payment(t, pr)
		if v, err := fo.Verify(t.Context(), req); err != nil || !v.IsValid {
			t.Fatalf("step %d: Verify = %+v, %v", i, v, err)
		}
		if n := ca.calls.Load(); n != step.calls {
			t.Errorf("step %d: a called %d times, want %d", i, n, step.calls)
		}
	}
}

// Concurrent settles of one payment, the first facilitator down: the
// second settles it once; every answer names the same transaction.
func TestConcurrentSettleOnce(t *testing.T) {
	f := newFixture(t)
	fo := newFailover(t, failover.Options{}, client(t, f.a), client(t, f.b))
	_, pr := f.serve(t, fo)
	req, _ := f.payment(t, pr)
	f.a.down()
	before := f.balance(t)
	const n = 8
	txs := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			sr, err := fo.Settle(t.Context(), req)
			switch {
			case err != nil:
				t.Errorf("Settle: %v", err)
			case sr.Success:
				txs <- sr.Transaction
			default:
				txs <- "refused:" + string(sr.ErrorReason)
			}
		})
	}
	wg.Wait()
	close(txs)
	seen := map[string]int{}
	for tx := range txs {
		seen[tx]++
	}
	if len(seen) != 1 {
		t.Errorf("answers %v, want one transaction for all", seen)
	}
	f.received(t, before, 10_000)
}

// A TLS handshake that fails (an untrusted certificate) proves the request
// was never sent: the member is unreachable.
func TestClassifyTLS(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
	t.Cleanup(srv.Close)
	c, err := remote.New(remote.Config{URL: srv.URL, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Settle(t.Context(), &x402.FacilitatorRequest{X402Version: x402.V2})
	if err == nil || failover.Classify(err) != failover.Unreachable {
		t.Errorf("untrusted certificate: %v classified %v", err, failover.Classify(err))
	}
	if got.Load() != 0 {
		t.Errorf("the server got %d requests", got.Load())
	}
}
