package client_test

import (
	"fmt"
	"math/big"
	"net/http"
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

// TestUptoBudget: the client pays upto routes (registered by NewEVM) and
// counts each payment at its maximum; a payment the server charged 0
// (nothing sent) stays counted until the chain shows it expired unused,
// then frees the budget.
func TestUptoBudget(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3, RPCAddr: "127.0.0.1:0"}})
	ctx := t.Context()
	payer, payee := st.Accounts[0], st.Accounts[1].Address
	approvePermit2(t, st, payer)
	fa, err := upto.FacilitatorAddress(ctx, st.Facilitator, st.Network)
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

	var shift atomic.Int64 // how far the client's clock is ahead
	s, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(s, client.Config{
		Assets: assetsOf(t, st.Networks), RPCURLs: map[x402.Network]string{st.Network: st.Devnet.RPCURL()},
		Policy: client.Policy{Budget: "$1", MaxValidity: 10 * time.Second},
		Now:    func() time.Time { return time.Now().Add(time.Duration(shift.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	pay := func(used int) *client.Receipt {
		t.Helper()
		resp, err := c.HTTPClient().Get(srv.URL + fmt.Sprintf("/llm?used=%d", used))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r, ok := client.ReceiptFromResponse(resp)
		if resp.StatusCode != 200 || !ok || r.Settlement == nil || !r.Settlement.Success {
			t.Fatalf("paid: %d %+v", resp.StatusCode, r)
		}
		return r
	}
	if r := pay(2_500); *r.Settlement.Amount != x402.NewAmount(2_500) || r.Option.Requirements.Amount != x402.NewAmount(10_000) {
		t.Fatalf("receipt %+v", r.Settlement)
	}
	if sp := spending(t, c); sp.Spent != "0.01" || sp.Outstanding != "0" {
		t.Errorf("after a charge of 0.0025: %+v, want 0.01 (the maximum) spent", sp)
	}
	if r := pay(0); r.Settlement.Transaction != "" || !r.Settlement.Amount.IsZero() {
		t.Fatalf("receipt %+v", r.Settlement)
	}
	if sp := spending(t, c); sp.Spent != "0.02" || sp.Outstanding != "0.01" {
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
	if sp := spending(t, c); sp.Spent != "0.01" || sp.Outstanding != "0" {
		t.Errorf("after the zero charge expired: %+v, want 0.01 spent", sp)
	}
}

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
