package x402mcp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A tool sold with batch-settlement (an x402.ChargeAdmitter: channelserver
// with vouchers verified locally and charges in SQLite), bought by the
// go402 client's batch-settlement payer, on the devnet: one deposit, then
// vouchers, one charge per successful call; a tool error result aborts its
// charge; a payer that lost its state recovers through the corrective
// payment-required result.
func TestBatchSettlementTool(t *testing.T) {
	ctx := t.Context()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 4, RPCAddr: "127.0.0.1:0"}, Signer: 3})
	receiver, authorizer := st.Accounts[1], st.Accounts[2]
	auth, err := evm.NewPrivateKeySignerFromECDSA(authorizer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "channels.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	scheme := &batchsettlement.Server{ReceiverAuthorizer: auth.Address(), Networks: st.Networks}
	chans, err := channelserver.New(channelserver.Config{Scheme: scheme, Store: store, Facilitator: st.Facilitator, Authorizer: auth})
	if err != nil {
		t.Fatal(err)
	}
	reg := &x402.Registry[x402.SchemeServer]{}
	if err := reg.Register(x402.V2, batchsettlement.Scheme, st.Network, chans); err != nil {
		t.Fatal(err)
	}
	ps, err := x402mcp.New(x402mcp.Config{Facilitator: st.Facilitator, Schemes: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "batch-tools", Version: "1"}, nil)
	var ran atomic.Int64
	var fail atomic.Bool
	err = ps.AddTool(srv, &mcp.Tool{Name: "quote", InputSchema: objectSchema},
		x402mcp.Tool{Accepts: []x402mcp.Option{{Scheme: batchsettlement.Scheme, Network: st.Network, Price: "$0.001", PayTo: receiver.Address.Hex()}}},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ran.Add(1)
			if fail.Load() {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no quote today"}}}, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "42"}}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	cs, err := newClient(nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })

	signer, err := evm.NewPrivateKeySignerFromECDSA(st.Accounts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	reader := batchsettlement.NewRPCChannelReader(map[x402.Network]string{st.Network: st.Devnet.RPCURL()})
	assets, err := client.AssetsFromNetworks(st.Networks)
	if err != nil {
		t.Fatal(err)
	}
	mk := func() (*batchsettlement.Payer, *x402mcp.Session) {
		p, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: signer, Reader: reader})
		if err != nil {
			t.Fatal(err)
		}
		sreg := new(x402.Registry[x402.SchemeClient])
		if err := sreg.Register(x402.V2, batchsettlement.Scheme, "eip155:*", p); err != nil {
			t.Fatal(err)
		}
		c, err := client.New(client.Config{Schemes: sreg, Assets: assets, Base: x402mcp.Transport(nil), Policy: client.Policy{Budget: "$1"}})
		if err != nil {
			t.Fatal(err)
		}
		return p, x402mcp.NewSession(c, cs, hs.URL)
	}
	call := func(s *x402mcp.Session) (*mcp.CallToolResult, *client.Receipt) {
		t.Helper()
		res, receipt, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "quote"})
		if err != nil {
			t.Fatal(err)
		}
		return res, receipt
	}
	p1, s1 := mk()
	for i := range 3 {
		res, receipt := call(s1)
		if res.IsError || text(res) != "42" || receipt == nil || receipt.Settlement == nil || !receipt.Settlement.Success {
			t.Fatalf("call %d: %+v %+v", i, res, receipt)
		}
	}
	fail.Store(true)
	if res, receipt := call(s1); !res.IsError || text(res) != "no quote today" || receipt == nil || receipt.Settlement != nil {
		t.Fatalf("error call: %+v %+v", res, receipt)
	}
	fail.Store(false)
	recs, err := p1.Store().List(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("channel records %v %v", recs, err)
	}
	// The payer counted the voucher of the error call; the server did not
	// charge it, and tells the next payment so.
	res, _ := call(s1)
	if res.IsError {
		t.Fatalf("call after an error: %+v", res)
	}
	bal, _, err := reader.ReadChannel(ctx, st.Network, recs[0].ChannelID)
	if err != nil || bal != x402.NewAmount(10_000) {
		t.Fatalf("channel balance %s %v (one deposit of ten calls)", bal, err)
	}
	// A payer that lost its state recovers from the chain and the
	// server's corrective answer.
	p2, s2 := mk()
	if res, _ := call(s2); res.IsError {
		t.Fatalf("cold start: %+v", res)
	}
	rec, _, err := p2.Store().Get(ctx, st.Network, recs[0].ChannelID)
	if err != nil || rec.Charged != x402.NewAmount(5000) {
		t.Fatalf("after recovery: charged %s, %v (four charged calls before, one now)", rec.Charged, err)
	}
	if n := ran.Load(); n != 6 {
		t.Errorf("the tool ran %d times, want 6", n)
	}
}
