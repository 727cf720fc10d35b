package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402http"
)

// TestOfficialBazaarClientReadsGoDiscovery: the official client (@x402/fetch)
// pays two discoverable go402 routes, echoing their bazaar extension; the
// go402 facilitator that settled them catalogues them; the official
// bazaar client (@x402/extensions withBazaar) pages through go402's GET
// /discovery/resources and the official validators accept each declared
// extension.
func TestOfficialBazaarClientReadsGoDiscovery(t *testing.T) {
	w := newWorld(t, 0)
	fac, facURL := w.goFacilitator()
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(w.nets),
		Routes: []x402http.Route{
			{Pattern: "GET /weather", Accepts: []x402http.PaymentOption{{Network: w.network(), Price: price, PayTo: w.addr(acctPayee).Hex()}},
				Description: "Weather", MimeType: "application/json",
				Discovery: &bazaar.HTTP{
					Query:       json.RawMessage(`{"city":"Paris"}`),
					QuerySchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
					Output:      json.RawMessage(`{"forecast":"sunny"}`),
				}},
			{Pattern: "POST /search", Accepts: []x402http.PaymentOption{{Network: w.network(), Price: price, PayTo: w.addr(acctPayee).Hex()}},
				Description: "Search", MimeType: "application/json",
				Discovery: &bazaar.HTTP{Body: json.RawMessage(`{"q":"x402"}`), BodySchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, `{"forecast":"sunny"}`)
	})))
	t.Cleanup(srv.Close)
	for _, c := range []struct{ method, path string }{{"GET", "/weather?city=Paris"}, {"POST", "/search"}} {
		r := w.runClient("client-v2.mjs", map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + c.path, "METHOD": c.method})
		if r.Status != 200 {
			t.Fatalf("%s %s: %d %q", c.method, c.path, r.Status, r.Body)
		}
	}
	p := w.start("discovery-list.mjs", "", map[string]string{"FACILITATOR_URL": facURL, "TYPE": "http", "LIMIT": "1"})
	<-p.done
	var res struct {
		OK     bool                `json:"ok"`
		Pages  []bazaar.Pagination `json:"pages"`
		Items  []bazaar.Resource   `json:"items"`
		Errors []string            `json:"errors"`
	}
	if err := json.Unmarshal([]byte(lastLine(p.out.String())), &res); err != nil {
		t.Fatalf("discovery-list.mjs: %v\n%s\n%s", err, p.out.String(), p.err.String())
	}
	if !res.OK || len(res.Items) != 2 || len(res.Pages) != 2 || res.Pages[1].Offset != 1 || res.Pages[0].Total != 2 {
		t.Fatalf("official bazaar client: %+v", res)
	}
	seen := map[string]bool{}
	for _, it := range res.Items {
		seen[it.Resource] = true
	}
	if !seen[srv.URL+"/weather"] || !seen[srv.URL+"/search"] {
		t.Fatalf("listed %v", seen)
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
