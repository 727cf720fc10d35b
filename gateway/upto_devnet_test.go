package gateway_test

import (
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// TestUptoRouteOnDevnet: a go402 client pays an upto route of the gateway
// with the real scheme, and the chain moves what the upstream reported in
// X-Usage: its report, capped at the price, and nothing without one.
func TestUptoRouteOnDevnet(t *testing.T) {
	e := newEnv(t)
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	if err := e.dev.ApprovePermit2(t.Context(), e.dev.Accounts()[0], e.dev.Token().Address, max); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.URL.Query().Get("usage"); u != "" {
			w.Header().Set("X-Usage", u)
		}
		fmt.Fprint(w, "answer")
	}))
	t.Cleanup(up.Close)
	_, srv := e.start(t, e.config(t, fmt.Sprintf("routes:\n  - {path: /llm, upstream: %s, price: $0.01, scheme: upto}\n", up.URL)))

	signer, err := evm.NewPrivateKeySignerFromECDSA(e.payer)
	if err != nil {
		t.Fatal(err)
	}
	schemes := new(x402.Registry[x402.SchemeClient])
	if err := upto.RegisterClient(schemes, upto.ClientConfig{Signer: signer}); err != nil {
		t.Fatal(err)
	}
	nets := &evm.Networks{}
	if err := e.dev.Register(nets); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(nets)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Schemes: schemes, Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.01"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		moved int64
	}{{"?usage=2500", 2500}, {"", 0}, {"?usage=99999", 10000}} {
		before := e.balance(t, e.payTo)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/llm"+tc.query, nil)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "answer" || resp.Header.Get("X-Usage") != "" {
			t.Fatalf("%s: %d %q %v", tc.query, resp.StatusCode, body, resp.Header)
		}
		rec, ok := client.ReceiptFromResponse(resp)
		if !ok || rec.Settlement == nil || !rec.Settlement.Success || rec.Settlement.Amount.Big().Int64() != tc.moved {
			t.Fatalf("%s: receipt %+v", tc.query, rec)
		}
		if got := new(big.Int).Sub(e.balance(t, e.payTo), before); got.Int64() != tc.moved {
			t.Fatalf("%s: payee got %s, want %d", tc.query, got, tc.moved)
		}
	}
}
