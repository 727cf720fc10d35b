package client_test

import (
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// TestUptoBudget: the client pays upto routes (registered by NewEVM),
// reserving each payment's maximum; a settled one counts what its
// settlement transaction transferred, as read from the chain (not what the
// server reports); one the server charged 0 (nothing sent) stays counted
// at its maximum until the chain shows it expired unused, then frees the
// budget.
func TestUptoBudget(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3, RPCAddr: "127.0.0.1:0"}})
	ctx := t.Context()
	payer, payee := st.Accounts[0], st.Accounts[1].Address
	approvePermit2(t, st, payer)
	srv := uptoServer(t, st, payee)
	// A server that under-reports its charges: its receipts say 1 atom
	// whatever the settlement transferred.
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.Config.Handler.ServeHTTP(&underReporter{ResponseWriter: w}, r)
	}))
	t.Cleanup(liar.Close)

	var shift atomic.Int64 // how far the client's clock is ahead
	s, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	newClient := func() *client.Client {
		c, err := client.NewEVM(s, client.Config{
			Assets: assetsOf(t, st.Networks), RPCURLs: map[x402.Network]string{st.Network: st.Devnet.RPCURL()},
			Policy: client.Policy{Budget: "$1", MaxValidity: 10 * time.Second},
			Now:    func() time.Time { return time.Now().Add(time.Duration(shift.Load())) },
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	c := newClient()
	if r := payAt(t, c, liar.URL, 3_000); *r.Settlement.Amount != x402.NewAmount(1) {
		t.Fatalf("the lying server's receipt says %s", r.Settlement.Amount)
	}
	if sp := spending(t, c); sp.Spent != "0.003" {
		t.Errorf("after a charge of 0.003 reported as 0.000001: %+v, want what the chain shows, 0.003", sp)
	}

	c = newClient()
	if r := payAt(t, c, srv.URL, 2_500); *r.Settlement.Amount != x402.NewAmount(2_500) || r.Option.Requirements.Amount != x402.NewAmount(10_000) {
		t.Fatalf("receipt %+v", r.Settlement)
	}
	if sp := spending(t, c); sp.Spent != "0.0025" || sp.Outstanding != "0" {
		t.Errorf("after a charge of 0.0025: %+v, want 0.0025 spent", sp)
	}
	if r := payAt(t, c, srv.URL, 0); r.Settlement.Transaction != "" || !r.Settlement.Amount.IsZero() {
		t.Fatalf("receipt %+v", r.Settlement)
	}
	if sp := spending(t, c); sp.Spent != "0.0125" || sp.Outstanding != "0.01" {
		t.Errorf("after a charge of 0: %+v, want the maximum outstanding", sp)
	}
	// Past its deadline, on chain and for the client, the unused
	// authorization frees its budget.
	if err := st.Devnet.AdvanceTime(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	shift.Store(int64(30 * time.Second))
	if err := c.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	if sp := spending(t, c); sp.Spent != "0.0025" || sp.Outstanding != "0" {
		t.Errorf("after the zero charge expired: %+v, want 0.0025 spent", sp)
	}
}

// uptoServer serves GET /llm?used=N, an upto route of maximum $0.01 whose
// handler charges N atoms, settled by the stack's facilitator.
func uptoServer(t *testing.T, st *stacktest.Stack, payee common.Address) *httptest.Server {
	t.Helper()
	fa, err := upto.FacilitatorAddress(t.Context(), st.Facilitator, st.Network)
	if err != nil {
		t.Fatal(err)
	}
	schemes := evm.ServerSchemes(st.Networks)
	if err := upto.RegisterServer(schemes, &upto.Server{Networks: st.Networks, Facilitators: map[x402.Network]common.Address{st.Network: fa}}); err != nil {
		t.Fatal(err)
	}
	opt := st.Option("$0.01", payee.Hex())
	opt.Scheme = upto.Scheme
	_, srv := st.Serve(t, x402http.Config{Schemes: schemes, Routes: []x402http.Route{{Pattern: "GET /llm", Accepts: []x402http.PaymentOption{opt}}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			used, _ := strconv.ParseUint(r.URL.Query().Get("used"), 10, 64)
			if err := x402http.Charge(r, x402.NewAmount(used)); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "used %d", used)
		}))
	return srv
}

// payAt pays base/llm?used=N with c and returns the receipt of a settled
// payment.
func payAt(t *testing.T, c *client.Client, base string, used int) *client.Receipt {
	t.Helper()
	resp, err := c.HTTPClient().Get(base + fmt.Sprintf("/llm?used=%d", used))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	r, ok := client.ReceiptFromResponse(resp)
	if resp.StatusCode != 200 || !ok || r.Settlement == nil || !r.Settlement.Success {
		t.Fatalf("paid: %d %+v", resp.StatusCode, r)
	}
	return r
}

// underReporter rewrites the amount of the PAYMENT-RESPONSE it sends to 1.
type underReporter struct{ http.ResponseWriter }

func (u *underReporter) WriteHeader(code int) {
	if h := u.Header().Get(x402.HeaderPaymentResponse); h != "" {
		if sr, err := x402.DecodePaymentResponse(h); err == nil && sr.Amount != nil {
			one := x402.NewAmount(1)
			sr.Amount = &one
			if enc, err := x402.EncodePaymentResponse(sr); err == nil {
				u.Header().Set(x402.HeaderPaymentResponse, enc)
			}
		}
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *underReporter) Write(b []byte) (int, error) { return u.ResponseWriter.Write(b) }

// approvePermit2 has a approve Permit2 for the stack's token.
func approvePermit2(t *testing.T, st *stacktest.Stack, a devnet.Account) {
	t.Helper()
	data := crypto.Keccak256([]byte("approve(address,uint256)"))[:4]
	data = append(data, common.LeftPadBytes(upto.Permit2Address().Bytes(), 32)...)
	data = append(data, common.LeftPadBytes(big.NewInt(1e12).Bytes(), 32)...)
	s, err := evm.NewSender(t.Context(), evm.SenderConfig{Backend: st.Devnet.Client(), Key: a.PrivateKey, ChainID: st.Devnet.ChainID(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Send(t.Context(), st.Devnet.Token().Address, data)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitReceipt(t.Context(), tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("approve: %v", err)
	}
}
