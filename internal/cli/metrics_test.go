package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// checkDevMetrics checks the metrics URLs of a `go402 dev` info file after
// one paid call to GET /weather: the paid API counted it, the facilitator
// settled it.
func checkDevMetrics(t *testing.T, di devInfo) {
	t.Helper()
	if di.MetricsURL == "" || di.FacilitatorMetricsURL == "" {
		t.Fatalf("info file: metricsUrl %q, facilitatorMetricsUrl %q", di.MetricsURL, di.FacilitatorMetricsURL)
	}
	for url, want := range map[string]string{
		di.MetricsURL:            `go402_http_paid_requests_total{route="GET /weather"} 1`,
		di.FacilitatorMetricsURL: `go402_facilitator_settlements_total{network="eip155:31337",reason="",result="success",scheme="exact"}`,
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %v, want a line with %s", url, resp.StatusCode, err, want)
		}
	}
}

// checkMetricsListen checks a facilitator started with metricsListen: its
// metricsUrl is on another address, serving the metrics and nothing else,
// and the main listener serves them too.
func checkMetricsListen(t *testing.T, info facilitatorInfo) {
	t.Helper()
	if !strings.HasPrefix(info.MetricsURL, "http://127.0.0.1:") || !strings.HasSuffix(info.MetricsURL, "/metrics") || strings.HasPrefix(info.MetricsURL, info.URL) {
		t.Fatalf("metricsUrl %q (url %q), want another loopback address", info.MetricsURL, info.URL)
	}
	base := strings.TrimSuffix(info.MetricsURL, "/metrics")
	for url, want := range map[string]int{info.MetricsURL: http.StatusOK, info.URL + "/metrics": http.StatusOK, base + "/supported": http.StatusNotFound} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusOK && !strings.Contains(string(body), "go402_facilitator_settlements_in_flight 0")) {
			t.Errorf("GET %s: %d, want %d with the metrics", url, resp.StatusCode, want)
		}
	}
}

// checkGatewayMetricsListen checks a gateway started with metricsListen:
// its metricsUrl is on another address and serves the metrics, which the
// main listener serves too.
func checkGatewayMetricsListen(t *testing.T, info gatewayInfo) {
	t.Helper()
	if !strings.HasPrefix(info.MetricsURL, "http://127.0.0.1:") || strings.HasPrefix(info.MetricsURL, info.GatewayURL) {
		t.Fatalf("metricsUrl %q (gatewayUrl %q), want another loopback address", info.MetricsURL, info.GatewayURL)
	}
	for _, url := range []string{info.MetricsURL, info.GatewayURL + "/metrics"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
			t.Errorf("GET %s: %d, want the metrics", url, resp.StatusCode)
		}
	}
}
