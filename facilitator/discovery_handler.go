package facilitator

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/x402"
)

// Discoverer is a facilitator that lists the resources it catalogued, as
// [Facilitator] does; [NewHandler] serves it at GET /discovery/resources.
type Discoverer interface {
	DiscoveryResources(ctx context.Context, q bazaar.ListParams) (*bazaar.ListResponse, error)
}

// discovery serves GET /discovery/resources: the query parameters type,
// payTo, scheme, network, limit and offset, as the reference
// facilitator's. It is open (no API key), as /supported is.
func (h *handler) discovery(w http.ResponseWriter, r *http.Request) {
	d, ok := h.fac.(Discoverer)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this facilitator keeps no discovery catalogue"})
		return
	}
	q := r.URL.Query()
	p := bazaar.ListParams{Type: q.Get("type"), PayTo: q.Get("payTo"), Scheme: q.Get("scheme"), Network: x402.Network(q.Get("network"))}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"limit", &p.Limit}, {"offset", &p.Offset}} {
		v := q.Get(n.name)
		if v == "" {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": n.name + " must be a non-negative integer"})
			return
		}
		*n.dst = i
	}
	resp, err := d.DiscoveryResources(r.Context(), p)
	if err != nil {
		var xe *x402.Error
		if errors.As(err, &xe) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": xe.Message})
			return
		}
		h.fail(w, r, "discovery", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
