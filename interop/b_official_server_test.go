package interop

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
)

// goPay pays url with the go402 client as account i and returns the status,
// body and receipt.
func (w *world) goPay(i int, url string) (int, string, *client.Receipt) {
	t := w.t
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(w.accts[i].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(w.nets)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(signer, client.Config{Assets: assets})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r, ok := client.ReceiptFromResponse(resp)
	if !ok {
		t.Fatalf("no receipt: %d %s", resp.StatusCode, body)
	}
	return resp.StatusCode, string(body), r
}

// officialServerV2 starts server-v2.mjs (@x402/express) using the
// facilitator at facURL.
func (w *world) officialServerV2(facURL string) *proc {
	w.t.Helper()
	return w.start("server-v2.mjs", "Server", map[string]string{
		"FACILITATOR_URL": facURL,
		"PAY_TO":          w.addr(acctPayee).Hex(),
		"PRICE_AMOUNT":    fmt.Sprint(priceAtoms),
	})
}

// TestGoClientPaysOfficialServer: the go402 client pays an @x402/express
// (v2) server that verifies and settles through go402's facilitator over
// HTTP.
func TestGoClientPaysOfficialServer(t *testing.T) {
	w := newWorld(t, 0)
	_, facURL := w.goFacilitator()
	srv := w.officialServerV2(facURL)

	b := w.snapshot(w.addr(acctGoPayer), w.addr(acctPayee))
	status, body, rcpt := w.goPay(acctGoPayer, srv.url("/paid"))
	if status != 200 || body != `{"paid":true,"served":1}` {
		t.Fatalf("paid: %d %q", status, body)
	}
	if rcpt.Payer != w.addr(acctGoPayer).Hex() {
		t.Errorf("receipt payer %s", rcpt.Payer)
	}
	w.checkSettled(rcpt.Settlement, w.dev.Network())
	b.moved(priceAtoms)
}

// TestOfficialServerWithGoFacilitator: an @x402/express (v2) server using
// go402's facilitator over HTTP, paid by @x402/fetch (v2).
func TestOfficialServerWithGoFacilitator(t *testing.T) {
	w := newWorld(t, 0)
	_, facURL := w.goFacilitator()
	srv := w.officialServerV2(facURL)

	b := w.snapshot(w.addr(acctNodePayer), w.addr(acctPayee))
	r := w.runClient("client-v2.mjs", map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.url("/paid")})
	if r.Status != 200 || r.Body != `{"paid":true,"served":1}` {
		t.Fatalf("paid: %d %q", r.Status, r.Body)
	}
	w.checkSettled(r.PaymentResponse, w.dev.Network())
	b.moved(priceAtoms)
}
