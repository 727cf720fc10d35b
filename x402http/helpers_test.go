package x402http_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// schemes returns the scheme servers pricing in the shop's devnet.
func (s *shop) schemes(t *testing.T) *x402.Registry[x402.SchemeServer] {
	t.Helper()
	nets := &evm.Networks{}
	if err := s.net.Register(nets); err != nil {
		t.Fatal(err)
	}
	return evm.ServerSchemes(nets)
}

// option is one option paying price to the shop's payee on the devnet.
func (s *shop) option(price string) []x402http.PaymentOption {
	return []x402http.PaymentOption{{Network: "eip155:84532", Price: price, PayTo: s.payee.Hex()}}
}

// serve starts a server with a middleware built from cfg (its Facilitator
// and Schemes default to the shop's) in front of h.
func (s *shop) serve(t *testing.T, cfg x402http.Config, h http.Handler) (*x402http.Middleware, *httptest.Server) {
	t.Helper()
	if cfg.Facilitator == nil {
		cfg.Facilitator = s.fac
	}
	if cfg.Schemes == nil {
		cfg.Schemes = s.schemes(t)
	}
	mw, err := x402http.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(h))
	t.Cleanup(srv.Close)
	return mw, srv
}

// exchange is a finished request.
type exchange struct {
	status int
	header http.Header
	body   string
}

// do sends a request to base+path, the path written on the request line as
// given (encoded characters included).
func do(t *testing.T, method, base, path string, header http.Header) exchange {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchange{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// required decodes the PAYMENT-REQUIRED header of a 402 exchange.
func required(t *testing.T, e exchange) *x402.PaymentRequired {
	t.Helper()
	if e.status != http.StatusPaymentRequired {
		t.Fatalf("status %d, want 402 (body %s)", e.status, e.body)
	}
	pr, err := x402.DecodePaymentRequired(e.header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// otherPayer is the shop seen by another payer (devnet account 2; account
// 0 is the shop's payer, 1 its payee, 3 the facilitator's signer).
func (s *shop) otherPayer(t *testing.T) *shop {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(s.accts[2].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	o := *s
	if o.client, err = evm.NewExactClient(evm.ExactClientConfig{Signer: signer}); err != nil {
		t.Fatal(err)
	}
	return &o
}
