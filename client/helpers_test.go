package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// shop is a paid API on a devnet (chain 84532, v1 name "base-sepolia") with
// an in-process go402 facilitator behind the x402http middleware, plus a
// v1-only server and a server whose settlements fail.
type shop struct {
	net    *devnet.Devnet
	nets   *evm.Networks
	assets *client.Assets // nets, for the client
	fac    x402.Facilitator
	srv    *httptest.Server // x402http middleware
	v1     *httptest.Server // a legacy v1 server
	payer  devnet.Account
	payees [2]common.Address

	mu     sync.Mutex
	bodies []string // bodies the /echo handler saw
	calls  atomic.Int64
}

// failingSettle is a facilitator whose settlements fail with
// unexpected_settle_error: a fault a live devnet cannot produce on demand.
type failingSettle struct{ x402.Facilitator }

func (f failingSettle) Settle(_ context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	n := x402.Network("eip155:84532")
	if req.X402Version == x402.V1 {
		n = "base-sepolia"
	}
	return &x402.SettleResponse{Success: false, ErrorReason: x402.ReasonUnexpectedSettleError, ErrorMessage: "injected failure", Network: n}, nil
}

// pendingSettle is a facilitator whose settlements stay pending: the
// transaction was broadcast but its receipt not seen in time.
type pendingSettle struct{ x402.Facilitator }

func (f pendingSettle) Settle(_ context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	return &x402.SettleResponse{Success: false, ErrorReason: x402.ReasonSettlementPending, Transaction: "0x" + strings.Repeat("ab", 32), Network: "eip155:84532"}, nil
}

func newShop(t *testing.T) *shop {
	t.Helper()
	// The chain is served over JSON-RPC, for the clients to read the state
	// of their payments, and mines a block every second, as a live chain
	// does, so that authorizations expire on chain.
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 5, RPCAddr: "127.0.0.1:0", BlockTime: time.Second}, Signer: 3})
	net, accts, fac, nets := st.Devnet, st.Accounts, st.Facilitator, st.Networks
	s := &shop{net: net, nets: nets, assets: assetsOf(t, nets), fac: fac, payer: accts[0], payees: [2]common.Address{accts[1].Address, accts[2].Address}}
	opt := func(price string, payee common.Address) x402http.PaymentOption {
		return x402http.PaymentOption{Network: "eip155:84532", Price: price, PayTo: payee.Hex()}
	}
	routes := []x402http.Route{
		{Pattern: "GET /weather", Accepts: []x402http.PaymentOption{opt("$0.001", s.payees[0])}, Description: "Weather", MimeType: "application/json"},
		{Pattern: "POST /echo", Accepts: []x402http.PaymentOption{opt("$0.001", s.payees[0])}},
		{Pattern: "GET /two", Accepts: []x402http.PaymentOption{opt("$0.002", s.payees[0]), opt("$0.001", s.payees[1])}},
		{Pattern: "GET /pricey", Accepts: []x402http.PaymentOption{opt("$0.05", s.payees[0])}},
		{Pattern: "/idem", Accepts: []x402http.PaymentOption{opt("$0.001", s.payees[0])}, PaymentIdentifier: x402http.PaymentIDOptional},
	}
	mw, err := x402http.New(x402http.Config{Facilitator: fac, Schemes: evm.ServerSchemes(nets), Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := x402http.New(x402http.Config{Facilitator: failingSettle{fac}, Schemes: evm.ServerSchemes(nets), Routes: []x402http.Route{
		{Pattern: "GET /broken/weather", Accepts: []x402http.PaymentOption{opt("$0.001", s.payees[0])}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := x402http.New(x402http.Config{Facilitator: pendingSettle{fac}, Schemes: evm.ServerSchemes(nets), Routes: []x402http.Route{
		{Pattern: "GET /pending/weather", Accepts: []x402http.PaymentOption{opt("$0.001", s.payees[0])}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	weather := func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		fmt.Fprint(w, `{"forecast":"sunny"}`)
	}
	mux.HandleFunc("/weather", weather)
	mux.HandleFunc("/two", weather)
	mux.HandleFunc("/pricey", weather)
	mux.HandleFunc("/idem", weather)
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		fmt.Fprintf(w, "echo:%s", b)
	})
	mux.HandleFunc("/open", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "free") })
	mux.HandleFunc("/plain402", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusPaymentRequired)
		fmt.Fprint(w, "pay us by cheque")
	})
	root := http.NewServeMux()
	root.Handle("/broken/", broken.Handler(http.HandlerFunc(weather)))
	root.Handle("/pending/", pending.Handler(http.HandlerFunc(weather)))
	root.Handle("/", mw.Handler(mux))
	s.srv = httptest.NewServer(root)
	t.Cleanup(s.srv.Close)
	s.v1 = httptest.NewServer(s.v1Handler(t))
	t.Cleanup(s.v1.Close)
	return s
}

// v1Handler is a tiny legacy x402 v1 server: a 402 with a JSON body, paid
// with X-PAYMENT, answered with X-PAYMENT-RESPONSE.
func (s *shop) v1Handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := x402.PaymentRequirementsV1{
			Scheme: "exact", Network: "base-sepolia", MaxAmountRequired: x402.NewAmount(2000),
			Resource: "http://" + r.Host + r.URL.Path, Description: "legacy report", MimeType: "text/plain",
			PayTo: s.payees[1].Hex(), MaxTimeoutSeconds: 60, Asset: s.net.Token().Address.Hex(),
			Extra: evm.Asset{Name: s.net.Token().Name, Version: s.net.Token().Version}.Extra(),
		}
		refuse := func(msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusPaymentRequired)
			_ = json.NewEncoder(w).Encode(x402.PaymentRequiredV1{X402Version: 1, Error: msg, Accepts: []x402.PaymentRequirementsV1{req}})
		}
		h := r.Header.Get(x402.HeaderXPayment)
		if h == "" {
			refuse("X-PAYMENT header is required")
			return
		}
		p, err := x402.DecodeXPayment(h)
		if err != nil {
			refuse(err.Error())
			return
		}
		freq := x402.NewFacilitatorRequestV1(p, &req)
		vr, err := s.fac.Verify(r.Context(), freq)
		if err != nil || !vr.IsValid {
			refuse(fmt.Sprintf("invalid: %v %v", vr, err))
			return
		}
		sr, err := s.fac.Settle(r.Context(), freq)
		if err != nil || !sr.Success {
			refuse("settlement failed")
			return
		}
		enc, err := x402.EncodePaymentResponse(sr)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set(x402.HeaderXPaymentResponse, enc)
		s.calls.Add(1)
		fmt.Fprint(w, "legacy report")
	})
}

func (s *shop) balance(t *testing.T, a common.Address) *big.Int {
	t.Helper()
	b, err := s.net.BalanceOf(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingSigner counts signatures, so tests can assert that nothing was
// signed.
type countingSigner struct {
	evm.Signer
	n atomic.Int64
}

func (s *countingSigner) SignDigest(ctx context.Context, d common.Hash) ([]byte, error) {
	s.n.Add(1)
	return s.Signer.SignDigest(ctx, d)
}

// signer returns a counting signer for an account.
func signer(t *testing.T, a devnet.Account) *countingSigner {
	t.Helper()
	k, err := evm.NewPrivateKeySignerFromECDSA(a.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return &countingSigner{Signer: k}
}

// client returns a Client paying from the shop's payer with a policy,
// reading the chain through the devnet's JSON-RPC endpoint.
func (s *shop) client(t *testing.T, p client.Policy) (*client.Client, *countingSigner) {
	t.Helper()
	return s.clientWith(t, p, true)
}

func (s *shop) get(t *testing.T, c *client.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTPClient().Do(req)
	if resp != nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assetsOf returns the client assets of a networks registry.
func assetsOf(t *testing.T, nets *evm.Networks) *client.Assets {
	t.Helper()
	a, err := client.AssetsFromNetworks(nets)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
