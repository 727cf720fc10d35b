package mcpwallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go402/go402/x402mcp"
)

const callToolDescription = `Call a tool of another MCP server (streamable HTTP URL); if the tool asks for an x402 payment, pay it within the wallet's limits and call it again with the payment. Returns the tool's result (text, structured content, isError) and what was paid. If the price is above the approval threshold, nothing is paid: the result has "approval"; ask the user, then call again with the same arguments and confirm set to approval.confirm.`

const budgetDescription = `Show the wallet's limits (per payment, total, per host, approval threshold, allowed networks and hosts), what was spent, and the payments made by this server (price, network, payTo, transaction).`

// CallToolInput are the arguments of the call_tool tool.
type CallToolInput struct {
	Server    string         `json:"server" jsonschema:"the MCP server's streamable HTTP URL, such as https://tools.example/mcp"`
	Tool      string         `json:"tool" jsonschema:"the tool's name"`
	Arguments map[string]any `json:"arguments,omitempty" jsonschema:"the tool's arguments"`
	Confirm   string         `json:"confirm,omitempty" jsonschema:"the approval.confirm token of an earlier answer, once the user approved that payment"`
}

// CallToolOutput is the result of the call_tool tool.
type CallToolOutput struct {
	IsError    bool   `json:"isError,omitempty"`
	Text       string `json:"text,omitempty"`
	Structured any    `json:"structured,omitempty"`
	// Truncated: the text was cut at the size limit, or the structured
	// content left out for its size.
	Truncated bool      `json:"truncated,omitempty"`
	Paid      *Payment  `json:"paid,omitempty"`
	Approval  *Approval `json:"approval,omitempty"`
}

// callTool is the call_tool tool.
func (w *Wallet) callTool(ctx context.Context, _ *mcp.CallToolRequest, in CallToolInput) (*mcp.CallToolResult, CallToolOutput, error) {
	u, err := w.checkURL(in.Server)
	if err != nil {
		return nil, CallToolOutput{}, err
	}
	if in.Tool == "" {
		return nil, CallToolOutput{}, errors.New("tool: the name of the tool to call is required")
	}
	args, err := json.Marshal(in.Arguments)
	if err != nil {
		return nil, CallToolOutput{}, fmt.Errorf("arguments: %w", err)
	}
	h := sha256.Sum256([]byte(u.String() + "\x00" + in.Tool + "\x00" + string(args)))
	c := &call{key: "mcp\x00" + hex.EncodeToString(h[:]), confirm: in.Confirm}
	ctx = withCall(ctx, c)
	mc := mcp.NewClient(&mcp.Implementation{Name: "go402-wallet", Version: "1"}, nil)
	cs, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: u.String(), HTTPClient: w.plainHTTP()}, nil)
	if err != nil {
		return nil, CallToolOutput{}, fmt.Errorf("connecting to %s: %w", u.Redacted(), err)
	}
	defer cs.Close()
	res, receipt, err := x402mcp.NewSession(w.c, cs, u.String()).CallTool(ctx, &mcp.CallToolParams{Name: in.Tool, Arguments: in.Arguments})
	if err != nil {
		if c.approval != nil && errors.Is(err, errNeedsApproval) {
			return nil, CallToolOutput{Approval: c.approval}, nil
		}
		return nil, CallToolOutput{}, describe(err)
	}
	out := CallToolOutput{IsError: res.IsError, Paid: w.record("call_tool", u.String()+"#"+in.Tool, receipt, 0)}
	w.setToolOutput(&out, res)
	return nil, out, nil
}

// setToolOutput copies a tool result's text and structured content into
// out, each bounded by MaxBody.
func (w *Wallet) setToolOutput(out *CallToolOutput, res *mcp.CallToolResult) {
	var texts []string
	for _, ct := range res.Content {
		if tc, ok := ct.(*mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	out.Text = strings.Join(texts, "\n")
	if int64(len(out.Text)) > w.cfg.MaxBody {
		out.Text, out.Truncated = strings.ToValidUTF8(out.Text[:w.cfg.MaxBody], ""), true
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil && int64(len(b)) <= w.cfg.MaxBody {
			out.Structured = res.StructuredContent
		} else {
			out.Truncated = true
		}
	}
}

// plainHTTP is the HTTP client of MCP connections: it does not pay (the
// payment of a tool goes in the call's _meta) and follows no redirect.
func (w *Wallet) plainHTTP() *http.Client {
	return &http.Client{Transport: w.cfg.Client.Base, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// BudgetOutput is the result of the budget tool.
type BudgetOutput struct {
	MaxPerPayment string            `json:"maxPerPayment,omitempty"`
	Budget        string            `json:"budget,omitempty"`
	BudgetPerHost string            `json:"budgetPerHost,omitempty"`
	ApproveAbove  string            `json:"approveAbove,omitempty"`
	AllowNetworks []string          `json:"allowNetworks,omitempty"`
	AllowHosts    []string          `json:"allowHosts,omitempty"`
	Spent         string            `json:"spent"`
	Outstanding   string            `json:"outstanding,omitempty"`
	Reserved      string            `json:"reserved,omitempty"`
	Payments      int               `json:"payments"`
	Hosts         map[string]string `json:"hosts,omitempty"`
	History       []Payment         `json:"history"`
}

// budget is the budget tool.
func (w *Wallet) budget(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, BudgetOutput, error) {
	sp, err := w.c.Spending(ctx)
	if err != nil {
		return nil, BudgetOutput{}, err
	}
	p := w.cfg.Client.Policy
	out := BudgetOutput{MaxPerPayment: p.MaxPerRequest, Budget: p.Budget, BudgetPerHost: p.BudgetPerHost, ApproveAbove: w.threshold.String(),
		AllowHosts: slices.Clone(w.cfg.AllowHosts), Spent: sp.Spent, Outstanding: sp.Outstanding, Reserved: sp.Reserved, Payments: sp.Payments, Hosts: sp.Hosts}
	for _, n := range p.AllowNetworks {
		out.AllowNetworks = append(out.AllowNetworks, string(n))
	}
	w.mu.Lock()
	out.History = slices.Clone(w.history)
	w.mu.Unlock()
	if out.History == nil {
		out.History = []Payment{}
	}
	return nil, out, nil
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
