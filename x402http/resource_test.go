package x402http_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// recordingFacilitator passes calls on and keeps the requests it saw.
type recordingFacilitator struct {
	x402.Facilitator
	mu   sync.Mutex
	seen []*x402.FacilitatorRequest
}

func (f *recordingFacilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	return f.Facilitator.Verify(ctx, req)
}

// TestFacilitatorSeesTheServersResource: the payer does not sign the
// resource, so a v2 payment claiming another resource reaches the
// facilitator with this server's resource (which the facilitator binds the
// settlement to).
func TestFacilitatorSeesTheServersResource(t *testing.T) {
	s := newShop(t)
	rec := &recordingFacilitator{Facilitator: s.fac}
	_, srv := s.serve(t, x402http.Config{
		Facilitator: rec,
		Routes:      []x402http.Route{{Pattern: "GET /a", Accepts: s.option("$0.001"), Resource: "https://shop.example/a"}},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a")) }))

	pr := required(t, do(t, http.MethodGet, srv.URL, "/a", nil))
	forged := *pr
	forged.Resource = x402.ResourceInfo{URL: "https://shop.example/b", Description: "forged"}
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, &forged)}}
	if e := do(t, http.MethodGet, srv.URL, "/a", h); e.status != http.StatusOK {
		t.Fatalf("paid request: %d %s", e.status, e.body)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 1 {
		t.Fatalf("%d verify calls", len(rec.seen))
	}
	if got := rec.seen[0].Payload.Resource; got == nil || got.URL != "https://shop.example/a" {
		t.Errorf("facilitator saw resource %+v, want the server's https://shop.example/a", got)
	}
}
