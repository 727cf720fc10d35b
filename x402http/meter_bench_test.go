package x402http_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// BenchmarkMeteredRequest measures a paid metered request on loopback,
// middleware included, with the stand-in scheme and facilitator (no
// chain): a held-back answer charged once, and an event stream of 32
// events charged per event (receipt in the trailer).
//
//	go test -run XXX -bench MeteredRequest ./x402http
func BenchmarkMeteredRequest(b *testing.B) {
	for _, tc := range []struct{ name, query string }{{"held", ""}, {"sse32", "?sse=32"}} {
		b.Run(tc.name, func(b *testing.B) {
			_, srv := meteredShopB(b, func(w http.ResponseWriter, r *http.Request) {
				n, _ := strconv.Atoi(r.URL.Query().Get("sse"))
				if n == 0 {
					_ = x402http.Charge(r, x402.NewAmount(42))
					_, _ = io.WriteString(w, "answer")
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				rc := http.NewResponseController(w)
				for i := range n {
					fmt.Fprintf(w, "data: %d\n\n", i)
					_ = rc.Flush()
					_ = x402http.Use(r, 1)
				}
			})
			pr, err := x402.DecodePaymentRequired(mustGet(b, srv.URL+"/m").Header.Get(x402.HeaderPaymentRequired))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				h, _ := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: pr.Accepts[0], Payload: x402.Object(`{"id":"b` + strconv.Itoa(i) + `"}`)})
				req, _ := http.NewRequest("GET", srv.URL+"/m"+tc.query, nil)
				req.Header.Set(x402.HeaderPaymentSignature, h)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || (resp.Header.Get(x402.HeaderPaymentResponse) == "" && resp.Trailer.Get(x402.HeaderPaymentResponse) == "") {
					b.Fatalf("%d, no receipt", resp.StatusCode)
				}
			}
		})
	}
}

func mustGet(b *testing.B, url string) *http.Response {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
