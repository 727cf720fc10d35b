package mcpwallet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402mcp"
)

// Defaults.
const (
	// DefaultMaxBody bounds the response body a fetch returns.
	DefaultMaxBody = 256 << 10
	// DefaultApprovalTTL is how long a confirmation token stays valid.
	DefaultApprovalTTL = 10 * time.Minute
	// DefaultTimeout bounds one tool call.
	DefaultTimeout = 60 * time.Second
	// maxHistory bounds the payments the budget tool lists.
	maxHistory = 1000
)

// Config configures a [Wallet].
type Config struct {
	// Signer holds the payer key. Required.
	Signer evm.Signer
	// Client is the paying client's configuration: its Policy (limits,
	// budgets, allowlists) applies to every payment. Its Base is wrapped
	// in x402mcp.Transport (so that tools can be paid too) and its
	// Policy.Approve, if set, is asked after the approval threshold.
	Client client.Config
	// ApproveAbove is the approval threshold (see [ParseThreshold]): a
	// payment above it needs a confirmation. Empty: none.
	ApproveAbove string
	// AllowHosts are the hosts (host or host:port; "*.example.com" for
	// its subdomains) that fetch, quote and call_tool may contact. Empty
	// means any.
	AllowHosts []string
	// MaxBody bounds the response body a fetch returns; 0 means
	// DefaultMaxBody.
	MaxBody int64
	// ApprovalTTL is how long a confirmation token stays valid; 0 means
	// DefaultApprovalTTL.
	ApprovalTTL time.Duration
	// Timeout bounds one tool call (the payment included); 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Logger receives the logs (never keys or signatures); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Wallet is the state of the `go402 mcp` server: the paying client, the
// confirmation tokens and the history. It is safe for concurrent use.
type Wallet struct {
	cfg       Config
	c         *client.Client
	http      *http.Client
	threshold *Threshold
	approvals *approvals
	log       *slog.Logger

	mu      sync.Mutex
	history []Payment
}

// New checks cfg and builds the paying client.
func New(cfg Config) (*Wallet, error) {
	if cfg.Signer == nil {
		return nil, errors.New("mcpwallet: a Signer is required")
	}
	th, err := ParseThreshold(cfg.ApproveAbove)
	if err != nil {
		return nil, err
	}
	if err := checkHosts(cfg.AllowHosts); err != nil {
		return nil, err
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.ApprovalTTL <= 0 {
		cfg.ApprovalTTL = DefaultApprovalTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Wallet{cfg: cfg, threshold: th, log: cfg.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.approvals = &approvals{pending: map[string]pending{}, ttl: cfg.ApprovalTTL, now: cfg.Now}
	cc := cfg.Client
	cc.Base = x402mcp.Transport(cc.Base)
	next := cc.Policy.Approve
	cc.Policy.Approve = func(ctx context.Context, q client.Quote) error {
		if err := w.approvals.check(ctx, w.threshold, q); err != nil {
			return err
		}
		if next != nil {
			return next(ctx, q)
		}
		return nil
	}
	if w.c, err = client.NewEVM(cfg.Signer, cc); err != nil {
		return nil, err
	}
	// Redirects are not followed: the agent sees the 3xx and decides, and
	// no payment goes to a host it did not name.
	w.http = &http.Client{Transport: w.c, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w, nil
}

// Client is the paying client.
func (w *Wallet) Client() *client.Client { return w.c }

// Server returns an MCP server offering the wallet's tools.
func (w *Wallet) Server(impl *mcp.Implementation) *mcp.Server {
	if impl == nil {
		impl = &mcp.Implementation{Name: "go402-wallet", Version: "1"}
	}
	srv := mcp.NewServer(impl, &mcp.ServerOptions{Instructions: instructions})
	mcp.AddTool(srv, &mcp.Tool{Name: "fetch", Description: fetchDescription}, bounded(w, w.fetch))
	mcp.AddTool(srv, &mcp.Tool{Name: "quote", Description: quoteDescription}, bounded(w, w.quote))
	mcp.AddTool(srv, &mcp.Tool{Name: "call_tool", Description: callToolDescription}, bounded(w, w.callTool))
	mcp.AddTool(srv, &mcp.Tool{Name: "budget", Description: budgetDescription}, bounded(w, w.budget))
	return srv
}

// bounded runs h within the wallet's Timeout.
func bounded[In, Out any](w *Wallet, h mcp.ToolHandlerFor[In, Out]) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
		defer cancel()
		return h(ctx, req, in)
	}
}

const instructions = `A wallet that pays for HTTP resources and MCP tools with x402 (stablecoins), within limits set by the user. Use quote to learn a price without paying, fetch to request a URL and pay if asked, call_tool to call a paid tool of another MCP server, budget to see the limits and what was spent. A result with "approval" set paid nothing: ask the user, then call again with the same arguments and confirm set to approval.confirm.`

// Payment is what a call paid, as the budget tool's history lists it.
type Payment struct {
	Time        time.Time `json:"time"`
	Tool        string    `json:"tool"`
	Target      string    `json:"target"`
	Price       string    `json:"price"`
	Scheme      string    `json:"scheme"`
	Network     string    `json:"network"`
	Asset       string    `json:"asset"`
	PayTo       string    `json:"payTo"`
	Payer       string    `json:"payer,omitempty"`
	Transaction string    `json:"transaction,omitempty"`
	// Charged is what the server charged when its settlement reports an
	// amount other than the price: a metered ("upto") payment, whose
	// Price is the maximum authorized.
	Charged string `json:"charged,omitempty"`
	// Settled is true when the server reported a successful settlement.
	Settled bool `json:"settled"`
	// Status is the HTTP status of a fetch, 0 for a tool.
	Status int `json:"status,omitempty"`
}

// record notes a receipt in the history and returns it as a Payment.
func (w *Wallet) record(tool, target string, r *client.Receipt, status int) *Payment {
	if r == nil {
		return nil
	}
	req := r.Option.Requirements
	p := Payment{Time: w.cfg.Now().UTC(), Tool: tool, Target: target, Price: r.Option.Price, Scheme: req.Scheme, Network: string(req.Network),
		Asset: req.Asset, PayTo: req.PayTo, Payer: r.Payer, Status: status}
	if s := r.Settlement; s != nil {
		p.Transaction, p.Settled = s.Transaction, s.Success
		if s.Success && s.Amount != nil && *s.Amount != req.Amount {
			p.Charged = strings.TrimSpace(s.Amount.Format(r.Option.Asset.Decimals) + " " + r.Option.Asset.Symbol)
		}
	}
	w.mu.Lock()
	w.history = append(w.history, p)
	if len(w.history) > maxHistory {
		w.history = w.history[len(w.history)-maxHistory:]
	}
	w.mu.Unlock()
	w.log.Info("paid", "tool", tool, "target", target, "price", p.Price, "network", p.Network, "transaction", p.Transaction)
	return &p
}

// checkHosts validates the host allowlist.
func checkHosts(hosts []string) error {
	for _, h := range hosts {
		if h == "" || strings.ContainsAny(h, "/ @") || (strings.Contains(h, "*") && !strings.HasPrefix(h, "*.")) {
			return fmt.Errorf("mcpwallet: allowed host %q: want host, host:port or *.domain", h)
		}
	}
	return nil
}

// checkURL accepts an absolute http(s) URL whose host is allowed.
func (w *Wallet) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want an absolute http:// or https:// URL", raw)
	}
	if u.User != nil {
		return nil, errors.New("url: credentials in the URL are not accepted")
	}
	if !w.hostAllowed(u) {
		return nil, fmt.Errorf("refused by the policy (host): %s is not in the allowed hosts", u.Host)
	}
	return u, nil
}

// hostAllowed matches u's host against the allowlist.
func (w *Wallet) hostAllowed(u *url.URL) bool {
	if len(w.cfg.AllowHosts) == 0 {
		return true
	}
	host := strings.ToLower(u.Hostname())
	hostport := strings.ToLower(u.Host)
	if u.Port() == "" {
		hostport = net.JoinHostPort(host, map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	for _, a := range w.cfg.AllowHosts {
		a = strings.ToLower(a)
		switch {
		case strings.HasPrefix(a, "*."):
			if strings.HasSuffix(host, a[1:]) {
				return true
			}
		case a == host || a == hostport:
			return true
		}
	}
	return false
}
