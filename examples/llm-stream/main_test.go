package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/examples/internal/devinfo"
	"github.com/go402/go402/examples/internal/devtest"
	"github.com/go402/go402/x402"
)

// TestLLMStreamChargesPerToken serves the example against `go402 dev` and
// pays it with a go402 client: the stream is charged $0.0001 a token
// delivered, and a request for more tokens than $0.01 pays for stops at
// the maximum with finish_reason "length".
func TestLLMStreamChargesPerToken(t *testing.T) {
	dev := devtest.StartDev(t)
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	payTo := crypto.PubkeyToAddress(key.PublicKey).Hex() // a fresh address: its balance starts at 0
	api, err := newAPI(t.Context(), []string{"-devnet-info", dev.InfoFile, "-pay-to", payTo})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	payer := dev.Info.Accounts[3] // approved Permit2 for the test USDC by go402 dev
	pk, err := crypto.HexToECDSA(strings.TrimPrefix(payer.PrivateKey, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(pk)
	if err != nil {
		t.Fatal(err)
	}
	nets := &evm.Networks{}
	if _, err := devinfo.Load(dev.InfoFile, nets); err != nil {
		t.Fatal(err)
	}
	schemes := new(x402.Registry[x402.SchemeClient])
	if err := upto.RegisterClient(schemes, upto.ClientConfig{Signer: signer}); err != nil {
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
	addrs := []string{payer.Address, payTo}
	for _, tc := range []struct {
		query  string
		tokens int
		finish string
	}{
		{"prompt=hello+metered+world&max_tokens=12", 12, "stop"},
		{"prompt=long&max_tokens=150", 100, "length"}, // $0.01 buys 100 tokens
	} {
		before := dev.Balances(t, addrs...)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/completions?"+tc.query, nil)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%s: %d %v %q", tc.query, resp.StatusCode, err, body)
		}
		if n := strings.Count(string(body), `"token"`); n != tc.tokens || !strings.Contains(string(body), `"finish_reason":"`+tc.finish+`"`) || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
			t.Fatalf("%s: %d tokens, body %q", tc.query, n, body)
		}
		rec, ok := client.ReceiptFromResponse(resp)
		want := int64(tc.tokens) * 100
		if !ok || rec.Settlement == nil || !rec.Settlement.Success || rec.Settlement.Amount == nil || rec.Settlement.Amount.Big().Int64() != want {
			t.Fatalf("%s: receipt %+v", tc.query, rec)
		}
		dev.Moved(t, before, addrs, -want, want)
	}
}
