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
