package x402mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A tool sold at $0.01 on Base Sepolia: a call without payment is answered
// with the PaymentRequired (the facilitator is only contacted for a paid
// call).
func ExampleServer_AddTool() {
	fac, err := remote.New(remote.Config{URL: "https://x402.org/facilitator"})
	if err != nil {
		log.Fatal(err)
	}
	sell, err := x402mcp.New(x402mcp.Config{Facilitator: fac, Schemes: evm.ServerSchemes(evm.DefaultNetworks())})
	if err != nil {
		log.Fatal(err)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1.0.0"}, nil)
	err = sell.AddTool(srv, &mcp.Tool{Name: "forecast", InputSchema: json.RawMessage(`{"type":"object"}`)},
		x402mcp.Tool{
			Accepts:     []x402mcp.Option{{Network: "eip155:84532", Price: "$0.01", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}},
			Description: "Tomorrow's weather",
		},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny"}}}, nil
		})
	if err != nil {
		log.Fatal(err)
	}

	// An MCP client calls it without paying.
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1.0.0"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "forecast"})
	if err != nil {
		log.Fatal(err)
	}
	pr, _ := x402mcp.PaymentRequiredFromResult(res)
	fmt.Println(res.IsError, pr.Error, pr.Resource.URL)
	fmt.Println(pr.Accepts[0].Scheme, pr.Accepts[0].Network, pr.Accepts[0].Amount, pr.Accepts[0].Asset)
	// Output:
	// true Payment required mcp://tool/forecast
	// exact eip155:84532 10000 0x036CbD53842c5426634e7929541eC2318f3dCF7e
}

// Tools added with the SDK's typed mcp.AddTool are sold through the
// server middleware; here the price follows the arguments.
func ExampleServer_Middleware() {
	fac, err := remote.New(remote.Config{URL: "https://x402.org/facilitator"})
	if err != nil {
		log.Fatal(err)
	}
	sell, err := x402mcp.New(x402mcp.Config{Facilitator: fac, Schemes: evm.ServerSchemes(evm.DefaultNetworks())})
	if err != nil {
		log.Fatal(err)
	}
	type pagesIn struct {
		Pages int `json:"pages"`
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "printer", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "print"}, func(ctx context.Context, req *mcp.CallToolRequest, in pagesIn) (*mcp.CallToolResult, any, error) {
		return nil, map[string]int{"printed": in.Pages}, nil
	})
	mw, err := sell.Middleware(map[string]x402mcp.Tool{"print": {
		Accepts: []x402mcp.Option{{Network: "eip155:84532", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}},
		Price: func(ctx context.Context, req *mcp.CallToolRequest) (x402.Price, error) {
			var in pagesIn
			if err := json.Unmarshal(req.Params.Arguments, &in); err != nil || in.Pages < 0 || in.Pages > 100 {
				return x402.Price{}, errors.New("pages must be 0 to 100")
			}
			return x402.ParsePrice(fmt.Sprintf("$0.%02d", in.Pages)) // $0.01 a page
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	srv.AddReceivingMiddleware(mw)
	fmt.Println("ready")
	// Output: ready
}

// An agent pays for tool calls with a go402 client and its spend policy:
// the client's Config.Base is x402mcp.Transport, so that the same client
// (and budget) pays for URLs and for tools.
func ExampleSession_CallTool() {
	ctx := context.Background()
	signer, err := evm.NewPrivateKeySigner("0x…") // your key, from a keystore
	if err != nil {
		log.Fatal(err)
	}
	wallet, err := client.NewEVM(signer, client.Config{
		Base:   x402mcp.Transport(http.DefaultTransport),
		Policy: client.Policy{MaxPerRequest: "$0.05", Budget: "$2"},
	})
	if err != nil {
		log.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1.0.0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "https://tools.example/mcp"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	tools := x402mcp.NewSession(wallet, cs, "https://tools.example/mcp")
	res, receipt, err := tools.CallTool(ctx, &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"city": "Lisbon"}})
	var refused *client.PolicyError
	switch {
	case errors.As(err, &refused):
		log.Fatalf("not paid (nothing signed): %v", refused)
	case err != nil:
		log.Fatal(err)
	}
	if receipt != nil && receipt.Settlement != nil {
		fmt.Println("paid", receipt.Option.Price, "in", receipt.Settlement.Transaction)
	}
	fmt.Println(res.Content)
}
