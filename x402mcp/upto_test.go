package x402mcp_test

import (
	"context"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A tool sold with "upto" (x402.MeteredScheme) on the devnet: the payer
// authorizes $0.01 through Permit2 and the server settles what the tool
// reports with ReportUsage: the reported amount, the maximum when it
// reports nothing or more than authorized, and nothing on chain for 0.
func TestUptoTool(t *testing.T) {
	m := newMarket(t)
	ctx := t.Context()
	token := m.st.Devnet.Token().Address
	if err := m.st.Devnet.ApprovePermit2(ctx, m.payer, token, big.NewInt(1_000_000_000)); err != nil {
		t.Fatal(err)
	}
	fa, err := upto.FacilitatorAddress(ctx, m.st.Facilitator, m.st.Network)
	if err != nil {
		t.Fatal(err)
	}
	reg := evm.ServerSchemes(m.st.Networks)
	if err := upto.RegisterServer(reg, &upto.Server{Networks: m.st.Networks, Facilitators: map[x402.Network]common.Address{m.st.Network: fa}}); err != nil {
		t.Fatal(err)
	}
	ps, err := x402mcp.New(x402mcp.Config{Facilitator: m.st.Facilitator, Schemes: reg})
	if err != nil {
		t.Fatal(err)
	}
	type usageIn struct {
		Report bool  `json:"report"`
		Used   int64 `json:"used"`
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "metered", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "generate"}, func(ctx context.Context, req *mcp.CallToolRequest, in usageIn) (*mcp.CallToolResult, any, error) {
		if in.Report {
			if err := x402mcp.ReportUsage(ctx, x402.NewAmount(uint64(in.Used))); err != nil {
				return nil, nil, err
			}
		}
		return nil, map[string]string{"text": "generated"}, nil
	})
	mw, err := ps.Middleware(map[string]x402mcp.Tool{"generate": {Accepts: []x402mcp.Option{{Scheme: upto.Scheme, Network: m.st.Network, PayTo: m.payee.Hex(), Price: "$0.01"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.AddReceivingMiddleware(mw)
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	cs, err := newClient(nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })

	k, err := evm.NewPrivateKeySignerFromECDSA(m.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	sreg := new(x402.Registry[x402.SchemeClient])
	if err := upto.RegisterClient(sreg, upto.ClientConfig{Signer: k}); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(m.st.Networks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Schemes: sreg, Assets: assets, Base: x402mcp.Transport(nil), Policy: client.Policy{MaxPerRequest: "$0.01"}})
	if err != nil {
		t.Fatal(err)
	}
	s := x402mcp.NewSession(c, cs, hs.URL)
	tests := []struct {
		name    string
		args    usageIn
		settled int64
	}{
		{"reported usage", usageIn{Report: true, Used: 3500}, 3500},
		{"no report settles the maximum", usageIn{}, 10_000},
		{"more than authorized settles the maximum", usageIn{Report: true, Used: 50_000}, 10_000},
		{"zero settles nothing", usageIn{Report: true, Used: 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := m.balance(t, m.payee)
			res, receipt, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "generate", Arguments: tt.args})
			if err != nil {
				t.Fatal(err)
			}
			if res.IsError || receipt == nil || receipt.Settlement == nil || !receipt.Settlement.Success {
				t.Fatalf("result %+v receipt %+v", res, receipt)
			}
			if a := receipt.Settlement.Amount; a == nil || *a != x402.NewAmount(uint64(tt.settled)) {
				t.Errorf("settled amount %v, want %d", a, tt.settled)
			}
			if got := new(big.Int).Sub(m.balance(t, m.payee), before); got.Cmp(big.NewInt(tt.settled)) != 0 {
				t.Errorf("payee received %s, want %d", got, tt.settled)
			}
		})
	}
}
