package x402http_test

import (
	"encoding/json"
	"math/big"
	"net/http"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// payV1 pays accepts[i] of a v1 402 body with X-PAYMENT.
func (s *shop) payV1(t *testing.T, body string, i int) http.Header {
	t.Helper()
	v1, err := x402.DecodePaymentRequiredV1([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := v1.Accepts[i].ToV2()
	obj, err := s.client.CreatePayload(t.Context(), x402.V1, req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodeXPayment(&x402.PaymentPayloadV1{X402Version: x402.V1, Scheme: "exact", Network: v1.Accepts[i].Network, Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{x402.HeaderXPayment: {h}}
}

// A v1 payment names only its scheme and network: it is matched to the
// option its authorization pays, not to the first option on its network.
func TestV1PaymentMatchesItsOption(t *testing.T) {
	s := newShop(t)
	other := s.net.Accounts()[2].Address
	token := s.net.Token()
	extra := evm.Asset{Name: token.Name, Version: token.Version}.Extra()
	// Another token on the same network, at the same price and payTo: only
	// the signature (its EIP-712 domain) tells the options apart.
	unknownToken := common.HexToAddress("0x00000000000000000000000000000000000bEEF1")
	_, srv := s.serve(t, x402http.Config{Routes: []x402http.Route{
		{Pattern: "GET /two-payees", Accepts: []x402http.PaymentOption{
			{Network: "eip155:84532", Price: "$0.002", PayTo: other.Hex()},
			{Network: "eip155:84532", Price: "$0.001", PayTo: s.payee.Hex()},
		}},
		{Pattern: "GET /two-assets", Accepts: []x402http.PaymentOption{
			{Network: "eip155:84532", Amount: x402.NewAmount(1000), Asset: unknownToken.Hex(), Extra: extra, PayTo: s.payee.Hex()},
			{Network: "eip155:84532", Amount: x402.NewAmount(1000), Asset: token.Address.Hex(), Extra: extra, PayTo: s.payee.Hex()},
		}},
	}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := x402http.PaymentFromContext(r.Context())
		_ = json.NewEncoder(w).Encode(p.Requirements)
	}))
	for _, path := range []string{"/two-payees", "/two-assets"} {
		before := s.balance(t)
		unpaid := do(t, http.MethodGet, srv.URL, path, nil)
		e := do(t, http.MethodGet, srv.URL, path, s.payV1(t, unpaid.body, 1))
		if e.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, e.status, e.body)
		}
		var paid x402.PaymentRequirements
		if err := json.Unmarshal([]byte(e.body), &paid); err != nil {
			t.Fatal(err)
		}
		if !sameAddress(paid.Asset, token.Address.Hex()) || !sameAddress(paid.PayTo, s.payee.Hex()) || paid.Amount != x402.NewAmount(1000) {
			t.Errorf("%s: paid %+v", path, paid)
		}
		sr, err := x402.DecodePaymentResponse(e.header.Get(x402.HeaderXPaymentResponse))
		if err != nil || !sr.Success {
			t.Fatalf("%s: settlement %+v %v", path, sr, err)
		}
		if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
			t.Errorf("%s: payee received %s", path, got)
		}
	}
	// A v1 authorization paying neither option's payTo and amount matches
	// nothing, and never reaches the handler.
	pay := s.payV1(t, do(t, http.MethodGet, s.srv.URL, "/reports/1", nil).body, 0) // $0.05 to the payee
	if e := do(t, http.MethodGet, srv.URL, "/two-payees", pay); e.status != http.StatusPaymentRequired || e.body == "" || e.header.Get(x402.HeaderXPaymentResponse) != "" {
		t.Fatalf("foreign v1 payment: %d %s", e.status, e.body)
	}
}

func sameAddress(a, b string) bool { return common.HexToAddress(a) == common.HexToAddress(b) }
