package x402mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Environment of the stdio child: the test binary run again as an MCP
// server on its stdin and stdout, with a remote facilitator.
const (
	envChild       = "X402MCP_TEST_STDIO_SERVER"
	envNetwork     = "X402MCP_TEST_NETWORK"
	envFacilitator = "X402MCP_TEST_FACILITATOR"
	envPayTo       = "X402MCP_TEST_PAYTO"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "stdio child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild serves the test tools over stdio until stdin closes.
func runChild() error {
	var nc evm.NetworkConfig
	if err := json.Unmarshal([]byte(os.Getenv(envNetwork)), &nc); err != nil {
		return err
	}
	nets := &evm.Networks{}
	if err := nets.Add(nc); err != nil {
		return err
	}
	fac, err := remote.New(remote.Config{URL: os.Getenv(envFacilitator)})
	if err != nil {
		return err
	}
	srv, _, err := newToolServer(fac, nets, nc.Network, os.Getenv(envPayTo))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Run(ctx, &mcp.StdioTransport{})
}

// counts are the tool handlers' invocations.
type counts struct {
	weather, fail, compute atomic.Int64
}

var objectSchema = json.RawMessage(`{"type":"object"}`)

type computeIn struct {
	Units int `json:"units"`
}

type computeOut struct {
	Result int `json:"result"`
}

// newToolServer builds the MCP server of the tests: "weather" ($0.001, a
// raw handler), "fail" ($0.001, always an error result), "compute" (a
// typed tool priced at $0.001 per unit of its arguments, through the
// middleware), and the free "calls", which reports the counts.
func newToolServer(fac x402.Facilitator, nets *evm.Networks, network x402.Network, payTo string) (*mcp.Server, *counts, error) {
	ps, err := x402mcp.New(x402mcp.Config{Facilitator: fac, Schemes: evm.ServerSchemes(nets)})
	if err != nil {
		return nil, nil, err
	}
	n := &counts{}
	opt := func(price string) []x402mcp.Option {
		return []x402mcp.Option{{Network: network, PayTo: payTo, Price: price}}
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "go402-test-tools", Version: "1"}, nil)
	err = ps.AddTool(srv, &mcp.Tool{Name: "weather", InputSchema: objectSchema}, x402mcp.Tool{Accepts: opt("$0.001"), Description: "Weather"},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			n.weather.Add(1)
			p, ok := x402mcp.PaymentFromContext(ctx)
			if !ok || p.Payer == "" || req.Params.Meta[x402mcp.MetaPayment] != nil {
				return nil, fmt.Errorf("handler sees payment %v %+v and meta %v", ok, p, req.Params.Meta)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil
		})
	if err != nil {
		return nil, nil, err
	}
	err = ps.AddTool(srv, &mcp.Tool{Name: "fail", InputSchema: objectSchema}, x402mcp.Tool{Accepts: opt("$0.001")},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			n.fail.Add(1)
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "upstream down"}}}, nil
		})
	if err != nil {
		return nil, nil, err
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "compute"}, func(ctx context.Context, req *mcp.CallToolRequest, in computeIn) (*mcp.CallToolResult, computeOut, error) {
		n.compute.Add(1)
		return nil, computeOut{Result: in.Units * 2}, nil
	})
	mw, err := ps.Middleware(map[string]x402mcp.Tool{"compute": {Accepts: opt(""), Price: priceOfUnits}})
	if err != nil {
		return nil, nil, err
	}
	srv.AddReceivingMiddleware(mw)
	mcp.AddTool(srv, &mcp.Tool{Name: "calls"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, map[string]int64, error) {
		return nil, map[string]int64{"weather": n.weather.Load(), "fail": n.fail.Load(), "compute": n.compute.Load()}, nil
	})
	return srv, n, nil
}

// priceOfUnits prices a compute call at $0.001 per unit; 0 units is free.
func priceOfUnits(_ context.Context, req *mcp.CallToolRequest) (x402.Price, error) {
	var in computeIn
	if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
		return x402.Price{}, err
	}
	if in.Units < 0 || in.Units > 1000 {
		return x402.Price{}, fmt.Errorf("units %d out of range", in.Units)
	}
	micros := in.Units * 1000
	return x402.ParsePrice(fmt.Sprintf("$%d.%06d", micros/1_000_000, micros%1_000_000))
}

// market is a devnet with a facilitator, and the tool server's payee.
type market struct {
	st    *stacktest.Stack
	payee common.Address
	payer devnet.Account
}

func newMarket(t testing.TB) *market {
	t.Helper()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 4}})
	return &market{st: st, payee: st.Accounts[1].Address, payer: st.Accounts[0]}
}

// connected is an MCP client session to the tool server and the name to
// count it under.
type connected struct {
	cs     *mcp.ClientSession
	server string
}

// overHTTP serves the tools over the streamable HTTP transport on
// loopback (with the in-process facilitator) and connects to them.
func (m *market) overHTTP(t testing.TB, mws ...mcp.Middleware) connected {
	t.Helper()
	srv, _, err := newToolServer(m.st.Facilitator, m.st.Networks, m.st.Network, m.payee.Hex())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	cs, err := newClient(mws).Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: hs.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return connected{cs: cs, server: hs.URL}
}

// overStdio runs the tools in a child process (this test binary again)
// speaking MCP on its stdin and stdout, verifying and settling through the
// facilitator over HTTP, and connects to it.
func (m *market) overStdio(t testing.TB, mws ...mcp.Middleware) connected {
	t.Helper()
	nc, err := json.Marshal(m.st.Devnet.NetworkConfig())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envNetwork+"="+string(nc), envFacilitator+"="+m.st.FacilitatorURL(t), envPayTo+"="+m.payee.Hex())
	cmd.Stderr = os.Stderr
	cs, err := newClient(mws).Connect(t.Context(), &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return connected{cs: cs}
}

// countingSigner counts signatures.
type countingSigner struct {
	evm.Signer
	n atomic.Int64
}

func (s *countingSigner) SignDigest(ctx context.Context, d common.Hash) ([]byte, error) {
	s.n.Add(1)
	return s.Signer.SignDigest(ctx, d)
}

// wallet is a go402 client paying from the market's payer account, within
// policy, through x402mcp.Transport.
func (m *market) wallet(t testing.TB, policy client.Policy) (*client.Client, *countingSigner) {
	t.Helper()
	k, err := evm.NewPrivateKeySignerFromECDSA(m.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	sig := &countingSigner{Signer: k}
	assets, err := client.AssetsFromNetworks(m.st.Networks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(sig, client.Config{Base: x402mcp.Transport(nil), Assets: assets, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	return c, sig
}

func (m *market) balance(t *testing.T, a common.Address) *big.Int {
	t.Helper()
	b, err := m.st.Devnet.BalanceOf(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// calls reads the tool server's counts through its free "calls" tool.
func calls(t *testing.T, cs *mcp.ClientSession) map[string]int64 {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "calls"})
	if err != nil || res.IsError {
		t.Fatalf("calls: %v %+v", err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var out map[string]int64
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// text is the text of a result's first content.
func text(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

// newClient is an MCP client sending through mws.
func newClient(mws []mcp.Middleware) *mcp.Client {
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	c.AddSendingMiddleware(mws...)
	return c
}
