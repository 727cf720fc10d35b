package interop

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// The legacy v1 packages know networks by name only, so these tests run the
// devnet as chain 84532 and pay it as "base-sepolia".
const (
	v1ChainID = 84532
	v1Network = "base-sepolia"
)

// TestLegacyClientPaysGoServer: x402-fetch 1.x pays a go402 x402http route
// with X-PAYMENT (v1), settled by go402's facilitator.
//
// x402-fetch 1.x validates each requirement's outputSchema as an optional
// object and refuses a 402 body whose outputSchema is null (the spec's own
// example), so go402 sends the legacy x402-express shape
// {"input":{"type":"http","method":…,"discoverable":true}}. The test checks
// that shape in the body as served, then pays it with the legacy client.
func TestLegacyClientPaysGoServer(t *testing.T) {
	w := newWorld(t, v1ChainID)
	fac, _ := w.goFacilitator()
	srv := w.goServer(fac)

	resp, err := http.Get(srv.URL + "/weather")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var body struct {
		X402Version int `json:"x402Version"`
		Accepts     []struct {
			Network      string          `json:"network"`
			OutputSchema json.RawMessage `json:"outputSchema"`
		} `json:"accepts"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusPaymentRequired || body.X402Version != 1 || len(body.Accepts) == 0 {
		t.Fatalf("unpaid request: status %d, body %q (%v)", resp.StatusCode, raw, err)
	}
	if got, want := string(body.Accepts[0].OutputSchema), `{"input":{"type":"http","method":"GET","discoverable":true}}`; got != want || body.Accepts[0].Network != v1Network {
		t.Fatalf("v1 requirement: network %q, outputSchema %s; want %q, %s", body.Accepts[0].Network, got, v1Network, want)
	}

	b := w.snapshot(w.addr(acctNodePayer), w.addr(acctPayee))
	r := w.runClient("client-v1.mjs", map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + "/weather"})
	if r.Status != 200 || r.Body != `{"forecast":"sunny"}` {
		t.Fatalf("paid: %d %q", r.Status, r.Body)
	}
	w.checkSettled(r.PaymentResponse, v1Network)
	b.moved(priceAtoms)
}

// TestGoClientPaysLegacyServer: the go402 client pays an x402-express 1.x
// server (v1 body, X-PAYMENT) that verifies and settles through go402's
// facilitator over HTTP.
func TestGoClientPaysLegacyServer(t *testing.T) {
	w := newWorld(t, v1ChainID)
	_, facURL := w.goFacilitator()
	srv := w.start("server-v1.mjs", "Server", map[string]string{
		"FACILITATOR_URL": facURL,
		"PAY_TO":          w.addr(acctPayee).Hex(),
		"PRICE_AMOUNT":    fmt.Sprint(priceAtoms),
		"NETWORK_V1":      v1Network,
	})

	b := w.snapshot(w.addr(acctGoPayer), w.addr(acctPayee))
	status, body, rcpt := w.goPay(acctGoPayer, srv.url("/paid"))
	if status != 200 || body != `{"paid":true,"served":1}` {
		t.Fatalf("paid: %d %q", status, body)
	}
	w.checkSettled(rcpt.Settlement, v1Network)
	b.moved(priceAtoms)
}
