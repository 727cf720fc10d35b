package facilitator_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/postgres"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// recordingFacilitator is a remote facilitator that keeps the settle
// requests it forwarded.
type recordingFacilitator struct {
	x402.Facilitator
	mu      sync.Mutex
	settled []*x402.FacilitatorRequest
}

func (r *recordingFacilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	resp, err := r.Facilitator.Settle(ctx, req)
	r.mu.Lock()
	r.settled = append(r.settled, req)
	r.mu.Unlock()
	return resp, err
}

// discoveryWorld is a devnet facilitator served over HTTP, a paid API
// behind the x402http middleware that calls it over HTTP, and a payer.
type discoveryWorld struct {
	st     *stacktest.Stack
	facURL string
	fac    *recordingFacilitator
	api    *httptest.Server
	payer  *client.Client
	payTo  string
}

func newDiscoveryWorld(t *testing.T, store ledger.Store, routes func(w *discoveryWorld) []x402http.Route) *discoveryWorld {
	t.Helper()
	st := stacktest.New(t, stacktest.Config{Facilitator: stacktest.Options{Store: store}})
	w := &discoveryWorld{st: st, facURL: st.FacilitatorURL(t), payTo: st.Accounts[5].Address.Hex()}
	rf, err := remote.New(remote.Config{URL: w.facURL})
	if err != nil {
		t.Fatal(err)
	}
	w.fac = &recordingFacilitator{Facilitator: rf}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fail") {
			http.Error(rw, "broken", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"ok":true}`))
	})
	_, w.api = st.Serve(t, x402http.Config{Facilitator: w.fac, Routes: routes(w)}, mux)
	signer, err := evm.NewPrivateKeySignerFromECDSA(st.Accounts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(st.Networks)
	if err != nil {
		t.Fatal(err)
	}
	if w.payer, err = client.NewEVM(signer, client.Config{Assets: assets, Policy: client.Policy{MaxPerRequest: "$2"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *discoveryWorld) route(pattern, price string, d *bazaar.HTTP) x402http.Route {
	return x402http.Route{Pattern: pattern, Accepts: []x402http.PaymentOption{w.st.Option(price, w.payTo)}, Discovery: d, Description: "the " + pattern + " route", MimeType: "application/json"}
}

// pay sends a paid request and returns the status.
func (w *discoveryWorld) pay(t *testing.T, method, path, body string) int {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, w.api.URL+path, nil)
	if rd != nil {
		req, err = http.NewRequestWithContext(t.Context(), method, w.api.URL+path, rd)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.payer.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (w *discoveryWorld) list(t *testing.T, p bazaar.ListParams) *bazaar.ListResponse {
	t.Helper()
	lr, err := bazaar.List(t.Context(), nil, w.facURL, p)
	if err != nil {
		t.Fatal(err)
	}
	return lr
}

func byResource(lr *bazaar.ListResponse) map[string]bazaar.Resource {
	m := map[string]bazaar.Resource{}
	for _, it := range lr.Items {
		m[strings.TrimPrefix(it.Resource, "http://"+hostOf(it.Resource))] = it
	}
	return m
}

func hostOf(u string) string {
	h, _, _ := strings.Cut(strings.TrimPrefix(u, "http://"), "/")
	return h
}

// discoveryRoutes: three cheap discoverable routes, one priced 1000 times
// as much, one not discoverable, one never paid, one whose handler fails.
func discoveryRoutes(w *discoveryWorld) []x402http.Route {
	weather := &bazaar.HTTP{
		Query:        json.RawMessage(`{"city":"Paris"}`),
		QuerySchema:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		Output:       json.RawMessage(`{"temperature":12}`),
		OutputSchema: json.RawMessage(`{"type":"object","properties":{"temperature":{"type":"number"}}}`),
	}
	return []x402http.Route{
		w.route("GET /weather", "$0.001", weather),
		w.route("POST /search", "$0.001", &bazaar.HTTP{Body: json.RawMessage(`{"q":"x402"}`), BodySchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}),
		w.route("GET /users/{id}", "$0.001", &bazaar.HTTP{}),
		w.route("GET /premium", "$1", &bazaar.HTTP{}),
		w.route("GET /hidden", "$0.001", nil),
		w.route("GET /unpaid", "$0.001", &bazaar.HTTP{}),
		w.route("GET /fail", "$0.001", &bazaar.HTTP{}),
	}
}

func TestDiscoveryCataloguesSettledResources(t *testing.T) {
	w := newDiscoveryWorld(t, nil, discoveryRoutes)
	testDiscoveryCatalogue(t, w)
}

// TestDiscoveryPostgres runs the same flow on a PostgreSQL ledger
// (GO402_TEST_POSTGRES_URL, or root@127.0.0.1/test).
func TestDiscoveryPostgres(t *testing.T) {
	store := openPostgres(t)
	w := newDiscoveryWorld(t, store, discoveryRoutes)
	testDiscoveryCatalogue(t, w)
}

func testDiscoveryCatalogue(t *testing.T, w *discoveryWorld) {
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/weather?city=Paris", ""}, {"POST", "/search", `{"q":"x402"}`},
		{"GET", "/users/42", ""}, {"GET", "/users/43", ""}, {"GET", "/premium", ""}, {"GET", "/hidden", ""},
	} {
		if got := w.pay(t, c.method, c.path, c.body); got != http.StatusOK {
			t.Fatalf("%s %s: status %d", c.method, c.path, got)
		}
	}
	// A 402 without a payment lists nothing.
	if res, err := http.Get(w.api.URL + "/unpaid"); err != nil || res.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid request: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if got := w.pay(t, "GET", "/fail", ""); got != http.StatusInternalServerError {
		t.Fatalf("/fail: status %d", got)
	}
	// A failed settlement is not catalogued: the last payment, sent again
	// with a broken signature for another resource.
	w.fac.mu.Lock()
	last := w.fac.settled[len(w.fac.settled)-1]
	w.fac.mu.Unlock()
	bad := *last.Payload
	bad.Resource = &x402.ResourceInfo{URL: w.api.URL + "/forged"}
	bad.Payload = x402.Object(strings.Replace(string(bad.Payload), `"signature":"0x`, `"signature":"0x00`, 1))
	resp, err := w.fac.Facilitator.Settle(t.Context(), &x402.FacilitatorRequest{X402Version: x402.V2, Payload: &bad, Requirements: last.Requirements})
	if err != nil || resp.Success {
		t.Fatalf("settling a forged payment: %+v, %v; want a failure", resp, err)
	}

	lr := w.list(t, bazaar.ListParams{})
	got := byResource(lr)
	want := []string{"/weather", "/search", "/users/:id", "/premium"}
	if lr.Pagination.Total != len(want) || len(got) != len(want) {
		t.Fatalf("listed %v (total %d), want %v", keys(got), lr.Pagination.Total, want)
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Fatalf("listed %v, want %v", keys(got), want)
		}
	}
	weather := got["/weather"]
	if weather.Type != "http" || weather.X402Version != 2 || len(weather.Accepts) != 1 || weather.Accepts[0].PayTo != w.payTo || weather.Description != "the GET /weather route" {
		t.Errorf("weather listed as %+v", weather)
	}
	ext := weather.Declaration()
	if ext == nil || ext.Info.Input.Method != "GET" || !strings.Contains(string(ext.Schema), `"city":{"type":"string"}`) ||
		ext.Info.Output == nil || string(ext.Info.Output.Example) != `{"temperature":12}` {
		t.Errorf("weather's bazaar extension: %s", weather.Extensions)
	}
	if s := got["/search"].Declaration(); s == nil || s.Info.Input.Method != "POST" || s.Info.Input.BodyType != "json" {
		t.Errorf("search's bazaar extension: %s", got["/search"].Extensions)
	}
	if s := got["/users/:id"].Declaration(); s == nil || s.RouteTemplate != "/users/:id" {
		t.Errorf("users' bazaar extension: %s", got["/users/:id"].Extensions)
	}
	md := weather.Metadata
	if md == nil || len(md.Prices) != 1 || md.Prices[0].Units != "0.001" || md.Prices[0].Symbol != "USDC" || md.Prices[0].Decimals != 6 || md.Prices[0].Amount != "1000" {
		t.Errorf("weather's metadata %+v", md)
	}
	for k, it := range got {
		if wantOutlier := k == "/premium"; it.Metadata.Outlier != wantOutlier {
			t.Errorf("%s: outlier %v (%s), want %v", k, it.Metadata.Outlier, it.Metadata.OutlierReason, wantOutlier)
		}
	}
	if r := got["/premium"].Metadata.OutlierReason; !strings.Contains(r, "1000 times") {
		t.Errorf("premium's outlier reason %q", r)
	}

	// Type filter and paging.
	if lr := w.list(t, bazaar.ListParams{Type: "mcp"}); lr.Pagination.Total != 0 || len(lr.Items) != 0 {
		t.Errorf("type=mcp listed %d (total %d)", len(lr.Items), lr.Pagination.Total)
	}
	if lr := w.list(t, bazaar.ListParams{Type: "http", Network: w.st.Network}); lr.Pagination.Total != 4 {
		t.Errorf("type=http listed total %d", lr.Pagination.Total)
	}
	if lr := w.list(t, bazaar.ListParams{Network: "eip155:1"}); lr.Pagination.Total != 0 {
		t.Errorf("network=eip155:1 listed total %d", lr.Pagination.Total)
	}
	seen := map[string]bool{}
	for off := 0; off < 4; off += 3 {
		lr := w.list(t, bazaar.ListParams{Limit: 3, Offset: off})
		if lr.Pagination.Limit != 3 || lr.Pagination.Offset != off || lr.Pagination.Total != 4 {
			t.Errorf("page %d: pagination %+v", off, lr.Pagination)
		}
		for _, it := range lr.Items {
			seen[it.Resource] = true
		}
	}
	if len(seen) != 4 {
		t.Errorf("two pages listed %d distinct resources, want 4", len(seen))
	}
	for _, q := range []string{"limit=-1", "offset=x"} {
		res, err := http.Get(w.facURL + "/discovery/resources?" + q)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: status %d, want 400", q, res.StatusCode)
		}
	}
}

func keys(m map[string]bazaar.Resource) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDiscoveryHostileDeclarations: a server that declares an oversized
// extension, or a schema with a $ref to a URL, gets paid, and nothing is
// catalogued, nor fetched; an overlong description is truncated.
func TestDiscoveryHostileDeclarations(t *testing.T) {
	var fetched atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		_, _ = rw.Write([]byte(`{"type":"object"}`))
	}))
	t.Cleanup(trap.Close)
	refSchema := fmt.Sprintf(`{"$schema":%q,"type":"object","properties":{"input":{"$ref":%q}},"required":["input"]}`, bazaar.SchemaDialect, trap.URL+"/schema.json")
	idSchema := fmt.Sprintf(`{"$schema":%q,"$id":%q,"type":"object","properties":{"input":{"$ref":"input.json"}},"required":["input"]}`, bazaar.SchemaDialect, trap.URL+"/root.json")
	info := `{"input":{"type":"http","method":"GET"}}`
	big := `{"bazaar":{"info":{"input":{"type":"http","method":"GET"},"output":{"type":"json","example":"` + strings.Repeat("x", bazaar.MaxExtensionBytes-80) + `"}},"schema":{"type":"object"}}}`
	w := newDiscoveryWorld(t, nil, func(w *discoveryWorld) []x402http.Route {
		ref := w.route("GET /ref", "$0.001", nil)
		ref.Extensions = x402.Object(`{"bazaar":{"info":` + info + `,"schema":` + refSchema + `}}`)
		id := w.route("GET /id", "$0.001", nil)
		id.Extensions = x402.Object(`{"bazaar":{"info":` + info + `,"schema":` + idSchema + `}}`)
		huge := w.route("GET /huge", "$0.001", nil)
		huge.Extensions = x402.Object(big)
		long := w.route("GET /long", "$0.001", &bazaar.HTTP{})
		long.Description = strings.Repeat("é", bazaar.MaxDescriptionBytes/2+10)
		return []x402http.Route{ref, id, huge, long}
	})
	for _, p := range []string{"/ref", "/id", "/huge", "/long"} {
		if got := w.pay(t, "GET", p, ""); got != http.StatusOK {
			t.Fatalf("%s: status %d", p, got)
		}
	}
	lr := w.list(t, bazaar.ListParams{})
	got := byResource(lr)
	if len(got) != 1 || lr.Pagination.Total != 1 {
		t.Fatalf("listed %v, want /long only", keys(got))
	}
	if d := got["/long"].Description; len(d) != bazaar.MaxDescriptionBytes || !strings.HasPrefix(strings.Repeat("é", bazaar.MaxDescriptionBytes), d) || !strings.HasPrefix(d, "é") {
		t.Errorf("description of %d bytes, want %d (truncated at a character)", len(d), bazaar.MaxDescriptionBytes)
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the facilitator sent %d requests to the URL a schema named", n)
	}
}

// openPostgres opens a PostgreSQL ledger in a schema of its own, dropped
// when the test ends.
func openPostgres(t *testing.T) ledger.Store {
	t.Helper()
	url := os.Getenv("GO402_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://root@127.0.0.1:5432/test?sslmode=disable"
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "discoverytest_" + hex.EncodeToString(b)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatalf("opening PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return s
}
