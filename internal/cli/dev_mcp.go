package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402mcp"
)

// stackMCPPath is where the sample API serves its paid MCP tools
// (streamable HTTP).
const stackMCPPath = "/mcp"

// devMCP is the "mcp" entry of the info file of `go402 dev`: the MCP
// endpoint (streamable HTTP) and its paid tools.
type devMCP struct {
	URL   string       `json:"url"`
	Tools []devMCPTool `json:"tools"`
}

// devMCPTool is one paid tool of the dev MCP endpoint.
type devMCPTool struct {
	Name        string `json:"name"`
	Price       string `json:"price"`
	Scheme      string `json:"scheme"`
	PayTo       string `json:"payTo"`
	Description string `json:"description,omitempty"`
}

// stackMux is the sample API with the paid MCP tools at stackMCPPath,
// and those tools.
func stackMux(fac x402.Facilitator, schemes *x402.Registry[x402.SchemeServer], network x402.Network, payTo string, log *slog.Logger) (*http.ServeMux, []devMCPTool, error) {
	mux := stackAPI()
	tools := stackMCPTools(payTo)
	h, err := stackMCPHandler(fac, schemes, network, tools, log)
	if err != nil {
		return nil, nil, err
	}
	mux.Handle(stackMCPPath, h)
	return mux, tools, nil
}

// stackMCPTools are the paid tools of the dev MCP endpoint, paid to payTo.
func stackMCPTools(payTo string) []devMCPTool {
	return []devMCPTool{
		{Name: "weather", Price: "$0.001", Scheme: evm.SchemeExact, PayTo: payTo, Description: "Today's weather in a city"},
		{Name: "report", Price: "$0.05", Scheme: evm.SchemeExact, PayTo: payTo, Description: "A quarterly report"},
		{Name: "generate", Price: stackUptoMax, Scheme: upto.Scheme, PayTo: payTo, Description: "Text generation, charged " + stackUptoUnitPrice + " a token (at most " + stackUptoMax + ")"},
	}
}

// stackMCPHandler is the dev MCP endpoint: the tools of stackMCPTools,
// verified and settled through fac, plus the free "ping".
func stackMCPHandler(fac x402.Facilitator, schemes *x402.Registry[x402.SchemeServer], network x402.Network, tools []devMCPTool, log *slog.Logger) (http.Handler, error) {
	ps, err := x402mcp.New(x402mcp.Config{Facilitator: fac, Schemes: schemes, Logger: log})
	if err != nil {
		return nil, err
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "go402-dev-tools", Version: readBuildInfo().Version}, nil)
	for _, t := range tools {
		price := x402mcp.Tool{Accepts: []x402mcp.Option{{Scheme: t.Scheme, Network: network, PayTo: t.PayTo, Price: t.Price}}, Description: t.Description, MimeType: "application/json"}
		schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","description":"a city name"}}}`)
		h := stackToolHandler(t.Name)
		if t.Name == "generate" {
			schema = json.RawMessage(`{"type":"object","properties":{"tokens":{"type":"integer","minimum":0,"maximum":100,"description":"how many tokens to generate (default 10)"}}}`)
			h = stackGenerate
		}
		tool := &mcp.Tool{Name: t.Name, Description: t.Description + " (paid: " + t.Price + ", " + t.Scheme + ")", InputSchema: schema}
		// Discoverable: the facilitator lists the tool once paid (go402 discover).
		if price, err = x402mcp.Discoverable(tool, price); err != nil {
			return nil, err
		}
		if err := ps.AddTool(srv, tool, price, h); err != nil {
			return nil, err
		}
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "ping", Description: "A free tool: answers pong"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, map[string]string, error) {
		return nil, map[string]string{"answer": "pong"}, nil
	})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil), nil
}

// stackToolHandler answers a paid call of the sample tool name.
func stackToolHandler(name string) mcp.ToolHandler {
	return func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in struct {
			City string `json:"city"`
		}
		if len(req.Params.Arguments) > 0 {
			if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "arguments: " + err.Error()}}}, nil
			}
		}
		if in.City == "" {
			in.City = "Lisbon"
		}
		text := fmt.Sprintf(`{"city":%q,"forecast":"sunny","celsius":22}`, in.City)
		if name == "report" {
			text = `{"quarter":"Q3","revenue":"1.2M","growth":"12%"}`
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
	}
}

// mcpToolList is "weather $0.001 (exact), ..." for the console.
func mcpToolList(tools []devMCPTool) string {
	var s string
	for i, t := range tools {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %s (%s)", t.Name, t.Price, t.Scheme)
	}
	return s
}

// stackGenerate is the upto tool: it "generates" the tokens asked for (10
// by default, at most 100) and reports their price, $0.0001 each (100
// atomic units of the 6-decimal test USDC), as the usage to settle.
func stackGenerate(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in := struct {
		Tokens *int `json:"tokens"`
	}{}
	if len(req.Params.Arguments) > 0 {
		if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "arguments: " + err.Error()}}}, nil
		}
	}
	n := 10
	if in.Tokens != nil {
		n = *in.Tokens
	}
	if n < 0 || n > 100 {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "tokens: between 0 and 100"}}}, nil
	}
	if err := x402mcp.ReportUsage(ctx, x402.NewAmount(uint64(n)*100)); err != nil {
		return nil, err
	}
	text, _ := json.Marshal(map[string]any{"tokens": n, "text": strings.TrimSpace(strings.Repeat("lorem ", n))})
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}}}, nil
}
