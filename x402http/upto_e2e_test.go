package x402http_test

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// uptoShop is a metered API on the devnet, paid with the real "upto"
// scheme through go402's facilitator: GET /charge?n=N charges N atomic
// units (max $0.01 = 10000), GET /tokens?n=N streams N tokens as
// server-sent events at $0.0001 (100) a token.
type uptoShop struct {
	st     *stacktest.Stack
	srv    *httptest.Server
	payer  devnet.Account
	payee  common.Address
	token  common.Address
	mu     sync.Mutex
	header string // the last payment header received
}

func newUptoShop(t testing.TB) *uptoShop {
	return newUptoShopLead(t, 0)
}

// newUptoShopLead is newUptoShop with the devnet's block timestamps
// allowed to run lead ahead of the clock (0: the devnet's default, 10 s):
// each settlement mines a block one second after the previous one, so
// past the lead a burst of settlements waits for the clock.
func newUptoShopLead(t testing.TB, lead time.Duration) *uptoShop {
	t.Helper()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 4, TimestampLead: lead}})
	s := &uptoShop{st: st, payer: st.Accounts[0], payee: st.Accounts[1].Address, token: st.Devnet.Token().Address}
	fa, err := upto.FacilitatorAddress(t.Context(), st.Facilitator, st.Network)
	if err != nil {
		t.Fatal(err)
	}
	schemes := evm.ServerSchemes(st.Networks)
	if err := upto.RegisterServer(schemes, &upto.Server{Networks: st.Networks, Facilitators: map[x402.Network]common.Address{st.Network: fa}}); err != nil {
		t.Fatal(err)
	}
	opt := []x402http.PaymentOption{{Scheme: upto.Scheme, Network: st.Network, Price: "$0.01", PayTo: s.payee.Hex()}}
	mw, err := x402http.New(x402http.Config{Facilitator: st.Facilitator, Schemes: schemes, Routes: []x402http.Route{
		{Pattern: "GET /charge", Accepts: opt},
		{Pattern: "GET /tokens", Accepts: opt, UnitPrice: "$0.0001", MimeType: "text/event-stream"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /charge", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseUint(r.URL.Query().Get("n"), 10, 64)
		err := x402http.Charge(r, x402.NewAmount(n))
		fmt.Fprintf(w, "charged %d (%v)", n, err)
	})
	mux.HandleFunc("GET /tokens", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		delay, _ := time.ParseDuration(r.URL.Query().Get("delay"))
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range n {
			if r.Context().Err() != nil {
				return // the client is gone: charged for what it was sent
			}
			if _, err := fmt.Fprintf(w, "data: tok%d\n\n", i); err != nil || rc.Flush() != nil {
				return
			}
			_ = x402http.Use(r, 1) // sent: charged
			time.Sleep(delay)      // a model producing tokens
		}
	})
	s.srv = httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.header = r.Header.Get(x402.HeaderPaymentSignature)
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})))
	t.Cleanup(s.srv.Close)
	approvePermit2(t, st.Devnet, s.payer, s.token)
	return s
}

// approvePermit2 has a approve Permit2 for token: the upto client never
// sends an approve itself.
func approvePermit2(t testing.TB, d *devnet.Devnet, a devnet.Account, token common.Address) {
	t.Helper()
	if err := d.ApprovePermit2(t.Context(), a, token, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))); err != nil {
		t.Fatal(err)
	}
}

// client is a go402 client paying upto (and exact) from the shop's payer.
func (s *uptoShop) client(t testing.TB) *client.Client {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(s.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	schemes := new(x402.Registry[x402.SchemeClient])
	if err := upto.RegisterClient(schemes, upto.ClientConfig{Signer: signer}); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(s.st.Networks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(signer, client.Config{Schemes: schemes, Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.05"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *uptoShop) balances(t *testing.T) (payer, payee *big.Int) {
	t.Helper()
	var err error
	if payer, err = s.st.Devnet.BalanceOf(t.Context(), s.payer.Address); err != nil {
		t.Fatal(err)
	}
	if payee, err = s.st.Devnet.BalanceOf(t.Context(), s.payee); err != nil {
		t.Fatal(err)
	}
	return payer, payee
}

// TestUptoMeteredOnDevnet: a go402 client pays metered routes with the
// real upto scheme, and the chain moves exactly what was used: the
// handler's charge, nothing for zero usage (no transaction), never more
// than the maximum, and per token for an event stream whose receipt
// arrives as a trailer.
func TestUptoMeteredOnDevnet(t *testing.T) {
	s := newUptoShop(t)
	c := s.client(t)
	for _, tc := range []struct {
		name, path string
		moved      int64
		body       string
	}{
		{"charge what was used", "/charge?n=1234", 1234, "charged 1234 (<nil>)"},
		{"zero usage moves nothing", "/charge?n=0", 0, "charged 0 (<nil>)"},
		{"over-reporting is capped at the maximum", "/charge?n=25000", 10000, "charged 25000 (x402http: usage exceeds the maximum the payment authorized (10000))"},
		{"per token over SSE", "/tokens?n=7", 700, "data: tok0\n\ndata: tok1\n\ndata: tok2\n\ndata: tok3\n\ndata: tok4\n\ndata: tok5\n\ndata: tok6\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payer0, payee0 := s.balances(t)
			req, _ := http.NewRequestWithContext(t.Context(), "GET", s.srv.URL+tc.path, nil)
			resp, err := c.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || string(body) != tc.body {
				t.Fatalf("%d %q %v", resp.StatusCode, body, err)
			}
			rec, ok := client.ReceiptFromResponse(resp)
			if !ok || rec.Settlement == nil || !rec.Settlement.Success || rec.Settlement.Amount == nil || rec.Settlement.Amount.String() != strconv.FormatInt(tc.moved, 10) {
				t.Fatalf("receipt %+v", rec)
			}
			if (tc.moved == 0) != (rec.Settlement.Transaction == "") {
				t.Fatalf("transaction %q for %d", rec.Settlement.Transaction, tc.moved)
			}
			payer1, payee1 := s.balances(t)
			if d := new(big.Int).Sub(payer0, payer1); d.Int64() != tc.moved {
				t.Fatalf("payer paid %s, want %d", d, tc.moved)
			}
			if d := new(big.Int).Sub(payee1, payee0); d.Int64() != tc.moved {
				t.Fatalf("payee got %s, want %d", d, tc.moved)
			}
			// The payment bought this answer only, charged or not.
			s.mu.Lock()
			h := s.header
			s.mu.Unlock()
			e := do(t, "GET", s.srv.URL, tc.path, http.Header{x402.HeaderPaymentSignature: {h}})
			if e.status != http.StatusPaymentRequired {
				t.Fatalf("replayed payment: %d %s", e.status, e.body)
			}
			if payer2, _ := s.balances(t); payer2.Cmp(payer1) != 0 {
				t.Fatal("the replay moved funds")
			}
		})
	}
}

// TestUptoSSEDisconnect: a client that leaves an event stream is charged
// on chain for the tokens it was sent before the handler noticed.
func TestUptoSSEDisconnect(t *testing.T) {
	s := newUptoShop(t)
	c := s.client(t)
	payer0, _ := s.balances(t)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", s.srv.URL+"/tokens?n=90&delay=20ms", nil)
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for range 3 {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		_, _ = br.ReadString('\n')
	}
	resp.Body.Close() // gone after 3 tokens
	deadline := time.Now().Add(10 * time.Second)
	for {
		payer1, _ := s.balances(t)
		paid := new(big.Int).Sub(payer0, payer1).Int64()
		if paid > 0 {
			if paid%100 != 0 || paid < 300 || paid >= 9000 {
				t.Fatalf("paid %d for a stream left after 3 of 90 tokens", paid)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing settled for the tokens delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkUptoMeteredDevnet measures a paid metered request end to end
// on the devnet: the go402 client signs an upto payment, the middleware
// verifies it with go402's facilitator, the handler charges 1234, and the
// facilitator settles that amount on chain before the answer is released.
// The devnet's timestamps may lead the clock by 10 min, so up to 600
// settlements do not wait for it.
//
//	go test -run XXX -bench UptoMeteredDevnet -benchtime 50x ./x402http
func BenchmarkUptoMeteredDevnet(b *testing.B) {
	s := newUptoShopLead(b, 10*time.Minute)
	c := s.client(b)
	for b.Loop() {
		req, _ := http.NewRequestWithContext(b.Context(), "GET", s.srv.URL+"/charge?n=1234", nil)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if rec, ok := client.ReceiptFromResponse(resp); resp.StatusCode != 200 || !ok || rec.Settlement == nil || !rec.Settlement.Success {
			b.Fatalf("%d", resp.StatusCode)
		}
	}
}
