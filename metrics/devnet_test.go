package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	dto "github.com/prometheus/client_model/go"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/metrics"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// scrape GETs url and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	var p expfmt.TextParser
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return mf
}

// value is the value of the series of family name with exactly labels, or
// -1 if there is none.
func value(mf map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := mf[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		ok := true
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// A paid request through the middleware and a remote go402 facilitator on
// the devnet moves the counters by exactly what happened, and a refused
// payment counts as invalid with its reason.
func TestPaidRequestCounts(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3}})
	payer, payee := st.Accounts[0], st.Accounts[1]
	facURL := st.FacilitatorURL(t)
	fac, err := remote.New(remote.Config{URL: facURL})
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	rec, err := metrics.NewHTTP(reg)
	if err != nil {
		t.Fatal(err)
	}
	const route = "GET /data/:id"
	_, srv := st.Serve(t, x402http.Config{Facilitator: fac, Metrics: rec, Routes: []x402http.Route{
		{Pattern: route, Accepts: []x402http.PaymentOption{st.Option("$0.01", payee.Address.Hex())}},
	}}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "paid data") }))
	mwMetrics := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(mwMetrics.Close)

	get := func(path, header string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if header != "" {
			req.Header.Set(x402.HeaderPaymentSignature, header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := get("/data/1", "")
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid: status %d", resp.StatusCode)
	}
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := ec.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	payload := &x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj}
	header, err := x402.EncodePaymentSignature(payload)
	if err != nil {
		t.Fatal(err)
	}
	if resp := get("/data/1", header); resp.StatusCode != http.StatusOK {
		t.Fatalf("paid: status %d", resp.StatusCode)
	}

	network, asset := string(st.Network), pr.Accepts[0].Asset
	fm := scrape(t, facURL+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"go402_facilitator_verifies_total", map[string]string{"scheme": "exact", "network": network, "result": "valid", "reason": ""}, 1},
		{"go402_facilitator_settlements_total", map[string]string{"scheme": "exact", "network": network, "result": "success", "reason": ""}, 1},
		{"go402_facilitator_verify_duration_seconds", map[string]string{"scheme": "exact", "network": network}, 1},
		{"go402_facilitator_settle_duration_seconds", map[string]string{"scheme": "exact", "network": network}, 1},
		{"go402_facilitator_settlements_in_flight", map[string]string{}, 0},
	} {
		if got := value(fm, c.name, c.labels); got != c.want {
			t.Errorf("facilitator %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(fm, "go402_rpc_calls_total", map[string]string{"network": network, "method": "eth_sendRawTransaction"}); got != 1 {
		t.Errorf("eth_sendRawTransaction calls = %v, want 1", got)
	}
	if got := value(fm, "go402_facilitator_signer_balance_eth", map[string]string{"network": network, "signer": st.Signer.Address.Hex()}); got <= 0 {
		t.Errorf("signer balance = %v, want > 0", got)
	}
	if got := value(fm, "go402_facilitator_signer_nonce_lag", map[string]string{"network": network, "signer": st.Signer.Address.Hex()}); got != 0 {
		t.Errorf("signer nonce lag = %v, want 0", got)
	}

	mm := scrape(t, mwMetrics.URL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"go402_http_payment_required_total", map[string]string{"route": route}, 1},
		{"go402_http_paid_requests_total", map[string]string{"route": route}, 1},
		{"go402_http_revenue_atomic_units_total", map[string]string{"route": route, "network": network, "asset": asset}, 10000},
	} {
		if got := value(mm, c.name, c.labels); got != c.want {
			t.Errorf("middleware %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// A payment to another payee than the requirements name is refused,
	// and counted as invalid with the facilitator's reason.
	bad := pr.Accepts[0]
	bad.PayTo = payer.Address.Hex()
	vr, err := fac.Verify(t.Context(), x402.NewFacilitatorRequest(payload, &bad))
	if err != nil {
		t.Fatal(err)
	}
	if vr.IsValid || vr.InvalidReason == "" {
		t.Fatalf("tampered payment: %+v, want invalid with a reason", vr)
	}
	fm = scrape(t, facURL+"/metrics")
	if got := value(fm, "go402_facilitator_verifies_total", map[string]string{"scheme": "exact", "network": network, "result": "invalid", "reason": string(vr.InvalidReason)}); got != 1 {
		t.Errorf("invalid verifies with reason %s = %v, want 1", vr.InvalidReason, got)
	}
	// A hostile client naming schemes and networks of its own makes no
	// new series: they all count as "other".
	for i := range 20 {
		odd := pr.Accepts[0]
		odd.Scheme, odd.Network = fmt.Sprintf("scheme%d", i), x402.Network(fmt.Sprintf("eip155:%d", 900000+i))
		p := *payload
		p.Accepted = odd
		if vr, err := fac.Verify(t.Context(), x402.NewFacilitatorRequest(&p, &odd)); err == nil && vr.IsValid {
			t.Fatalf("a payment in scheme %s was valid", odd.Scheme)
		}
	}
	fm = scrape(t, facURL+"/metrics")
	var others float64
	for _, m := range fm["go402_facilitator_verifies_total"].Metric {
		for _, l := range m.Label {
			if v := l.GetValue(); strings.HasPrefix(v, "scheme") || strings.HasPrefix(v, "eip155:9000") {
				t.Errorf("a client's label value %q became a series", l.GetValue())
			}
		}
		if labelsOf(m)["scheme"] == metrics.Other {
			others += m.Counter.GetValue()
		}
	}
	if others != 20 {
		t.Errorf("verifies under scheme=other: %v, want 20", others)
	}
	for _, u := range []string{facURL + "/metrics", mwMetrics.URL} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(string(body)), strings.ToLower(payer.Address.Hex()[2:])) {
			t.Errorf("the payer's address shows in %s", u)
		}
	}
}

// A thousand unpaid requests to distinct raw paths of one route pattern
// make one series.
func TestRouteCardinality(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 2}})
	reg := metrics.NewRegistry()
	rec, err := metrics.NewHTTP(reg)
	if err != nil {
		t.Fatal(err)
	}
	_, srv := st.Serve(t, x402http.Config{Metrics: rec, Routes: []x402http.Route{
		{Pattern: "GET /items/:id", Accepts: []x402http.PaymentOption{st.Option("$0.01", st.Accounts[1].Address.Hex())}},
	}}, http.NotFoundHandler())
	for i := range 1000 {
		resp, err := http.Get(fmt.Sprintf("%s/items/%d", srv.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPaymentRequired {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	ms := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(ms.Close)
	f := scrape(t, ms.URL)["go402_http_payment_required_total"]
	if f == nil || len(f.Metric) != 1 {
		t.Fatalf("payment_required series: %v, want one", f)
	}
	if got := value(map[string]*dto.MetricFamily{"x": f}, "x", map[string]string{"route": "GET /items/:id"}); got != 1000 {
		t.Errorf("402s counted = %v, want 1000", got)
	}
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
