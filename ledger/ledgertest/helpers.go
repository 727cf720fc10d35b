package ledgertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// testContext returns a context that ends with the test or after
// testTimeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// key returns a settlement key on a test network, told apart by nonce.
func key(nonce string) x402.SettlementKey {
	return x402.SettlementKey{
		Network: "eip155:84532",
		Asset:   "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
		Payer:   "0x857b06519e91e3a54538791bdbb0e22373e36b66",
		Nonce:   nonce,
	}
}

// newSettlement returns a settlement of k with every field set.
func newSettlement(k x402.SettlementKey) *ledger.Settlement {
	return &ledger.Settlement{
		Key:         k,
		Fingerprint: "fp:" + k.Nonce,
		Request:     []byte(`{"x402Version":2,"paymentPayload":{"scheme":"exact"},"nonce":"` + k.Nonce + `"}` + "\x00\xff"),
		Scheme:      "exact",
		Version:     2,
		PayTo:       "0x209693bc6afc0c5328ba36faf03c514ef312287c",
		Amount:      MaxAmount,
		Resource:    "https://api.example.com/premium?q=1&r=ü",
		Owner:       "facilitator-a",
		ClaimID:     "claim:" + k.Nonce,
	}
}

// fullResponse returns a settle response with every field set.
func fullResponse() *x402.SettleResponse {
	amt, err := x402.ParseAmount(MaxAmount)
	if err != nil {
		panic(err)
	}
	return &x402.SettleResponse{
		Success:      false,
		ErrorReason:  x402.ReasonExactEVMTransactionFailed,
		ErrorMessage: "execution reverted: FiatTokenV2: invalid signature",
		Transaction:  "0x8f2a4b6c1d3e5f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
		Network:      "eip155:84532",
		Payer:        "0x857b06519e91e3a54538791bdbb0e22373e36b66",
		Amount:       &amt,
		// Keys out of order: they must come back as they were.
		Extensions: x402.Object(`{"zeta":{"b":2,"a":[1,"x"]},"alpha":null}`),
	}
}

// newEvent returns event number i of a test, i seconds after a fixed time
// (to the microsecond), with every field set.
func newEvent(i int, kind ledger.EventKind, payer string) *ledger.Event {
	base := time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	return &ledger.Event{
		Time:     base.Add(time.Duration(i) * time.Second),
		Kind:     kind,
		Version:  2,
		Scheme:   "exact",
		Network:  "eip155:84532",
		Asset:    "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
		Payer:    payer,
		PayTo:    "0x209693bc6afc0c5328ba36faf03c514ef312287c",
		Amount:   MaxAmount,
		Resource: fmt.Sprintf("https://api.example.com/item/%d", i),
		TxHash:   fmt.Sprintf("0x%064x", i+1),
		Status:   "invalid",
		Reason:   x402.ReasonInsufficientFunds,
		Message:  fmt.Sprintf("event %d: balance too low ✓", i),
	}
}

func claim(t *testing.T, s ledger.Store, st *ledger.Settlement) {
	t.Helper()
	existing, claimed, err := s.Claim(testContext(t), st)
	if err != nil {
		t.Fatalf("Claim(%v): %v", st.Key, err)
	}
	if !claimed || existing != nil {
		t.Fatalf("Claim(%v): claimed %v, existing %v; want a new claim", st.Key, claimed, existing)
	}
}

func get(t *testing.T, s ledger.Store, k x402.SettlementKey) *ledger.Settlement {
	t.Helper()
	st, err := s.Get(testContext(t), k)
	if err != nil {
		t.Fatalf("Get(%v): %v", k, err)
	}
	return st
}

func mustUpdate(t *testing.T, s ledger.Store, k x402.SettlementKey, u ledger.Update) {
	t.Helper()
	if err := s.Update(testContext(t), k, u); err != nil {
		t.Fatalf("Update(%v, %s→%s): %v", k, u.From, u.Status, err)
	}
}

// checkSettlement compares everything but the times.
func checkSettlement(t *testing.T, got, want *ledger.Settlement) {
	t.Helper()
	if got.Key != want.Key {
		t.Errorf("Key: got %+v, want %+v", got.Key, want.Key)
	}
	if got.Fingerprint != want.Fingerprint {
		t.Errorf("Fingerprint: got %q, want %q", got.Fingerprint, want.Fingerprint)
	}
	if got.Status != want.Status {
		t.Errorf("Status: got %q, want %q", got.Status, want.Status)
	}
	if got.TxHash != want.TxHash {
		t.Errorf("TxHash: got %q, want %q", got.TxHash, want.TxHash)
	}
	if !reflect.DeepEqual(got.Response, want.Response) {
		t.Errorf("Response:\n got %s\nwant %s", jsonOf(got.Response), jsonOf(want.Response))
	}
	if !bytes.Equal(got.Request, want.Request) {
		t.Errorf("Request: got %q, want %q", got.Request, want.Request)
	}
	if got.Scheme != want.Scheme || got.Version != want.Version {
		t.Errorf("Scheme, Version: got %q, %d; want %q, %d", got.Scheme, got.Version, want.Scheme, want.Version)
	}
	if got.PayTo != want.PayTo || got.Amount != want.Amount || got.Resource != want.Resource {
		t.Errorf("PayTo, Amount, Resource: got %q, %q, %q; want %q, %q, %q",
			got.PayTo, got.Amount, got.Resource, want.PayTo, want.Amount, want.Resource)
	}
	if got.Owner != want.Owner || got.ClaimID != want.ClaimID {
		t.Errorf("Owner, ClaimID: got %q, %q; want %q, %q", got.Owner, got.ClaimID, want.Owner, want.ClaimID)
	}
}

func checkTimes(t *testing.T, got, want *ledger.Settlement) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreatedAt, UpdatedAt: got %v, %v; want %v, %v",
			got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
}

func checkEvent(t *testing.T, got, want *ledger.Event) {
	t.Helper()
	g, w := *got, *want
	if !g.Time.Equal(w.Time) {
		t.Errorf("event %d: Time %v, want %v", w.ID, g.Time, w.Time)
	}
	g.Time, w.Time = time.Time{}, time.Time{}
	if g != w {
		t.Errorf("event:\n got %+v\nwant %+v", g, w)
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
