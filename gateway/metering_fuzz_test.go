package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzUnannounce: removing the usage header from a Trailer announcement
// keeps every other name, in order, and never the usage header.
func FuzzUnannounce(f *testing.F) {
	f.Add("X-Usage, Grpc-Status", "x-usage")
	f.Add(" , X-USAGE ,,a", "X-Usage")
	f.Add("", "X-Usage")
	f.Fuzz(func(t *testing.T, trailer, name string) {
		h := http.Header{}
		if trailer != "" {
			h.Set("Trailer", trailer)
		}
		unannounce(h, name)
		var want []string
		for _, k := range strings.Split(trailer, ",") {
			if k = strings.TrimSpace(k); k != "" && !strings.EqualFold(k, name) {
				want = append(want, k)
			}
		}
		got := h.Get("Trailer")
		if got != strings.Join(want, ", ") {
			t.Fatalf("Trailer %q less %q: %q, want %q", trailer, name, got, strings.Join(want, ", "))
		}
		if len(want) == 0 && len(h.Values("Trailer")) != 0 {
			t.Fatalf("empty Trailer kept: %q", h.Values("Trailer"))
		}
	})
}
