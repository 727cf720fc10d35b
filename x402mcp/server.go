package x402mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go402/go402/internal/payclaims"
	"github.com/go402/go402/x402"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The _meta keys of the x402 MCP transport.
const (
	// MetaPayment is the key of the PaymentPayload in a tool call's
	// params._meta.
	MetaPayment = "x402/payment"
	// MetaPaymentResponse is the key of the SettleResponse in a tool
	// result's _meta.
	MetaPaymentResponse = "x402/payment-response"
)

// Defaults.
const (
	// DefaultMaxTimeoutSeconds is a tool's MaxTimeoutSeconds when it is 0.
	DefaultMaxTimeoutSeconds = 300
	// settleTimeout bounds a settlement.
	settleTimeout = 2 * time.Minute
	// claimSlack is how long past the tool's MaxTimeoutSeconds a claim may
	// last when the authorization stays valid longer.
	claimSlack = 10 * time.Minute
)

// Claimer is a durable store of claimed payments, shared by every server
// that uses it, across restarts: an x402http.Queue (such as sqlitequeue)
// is one. Claim must fail with an error wrapping ErrDuplicate (or
// x402http.ErrDuplicate) for a key claimed before and not released.
type Claimer interface {
	Claim(ctx context.Context, key string, until time.Time) error
	Release(ctx context.Context, key string) error
}

// ErrDuplicate is what a [Claimer] wraps for a payment claimed already.
var ErrDuplicate = errors.New("x402mcp: payment already used")

// Config configures a [Server].
type Config struct {
	// Facilitator verifies and settles payments. Required.
	Facilitator x402.Facilitator
	// Schemes are the scheme servers pricing options and reading
	// payments (for the EVM schemes: evm.ServerSchemes). Required.
	Schemes *x402.Registry[x402.SchemeServer]
	// Claims, if set, records durably the payments used, in addition to
	// the in-process claims: a payment then buys one tool result across
	// restarts and across the servers sharing it.
	Claims Claimer
	// IsDuplicate reports whether an error of Claims.Claim means the
	// payment was used already; nil: errors.Is(err, ErrDuplicate). Set it
	// to match x402http.ErrDuplicate when Claims is an x402http.Queue.
	IsDuplicate func(error) bool
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Option is one way to pay for a tool.
type Option struct {
	// Scheme is the x402 scheme; "" means "exact".
	Scheme string
	// Network is the CAIP-2 network, such as "eip155:8453".
	Network x402.Network
	// PayTo receives the payment.
	PayTo string
	// Price is the price, such as "$0.01" or "0.5 USDC", converted by the
	// scheme server. With Tool.Price set, it may be empty: the computed
	// price is used.
	Price string
	// Amount and Asset give the price in atomic units of an asset instead
	// of Price (Extra is then the scheme's extra, such as the EIP-712
	// domain of an EVM token).
	Amount x402.Amount
	Asset  string
	Extra  x402.Object
}

func (o *Option) scheme() string {
	if o.Scheme == "" {
		return "exact"
	}
	return o.Scheme
}

// Tool is the price of a tool.
type Tool struct {
	// Accepts are the payment options, at least one.
	Accepts []Option
	// Price, if set, computes the price of a call from its request (its
	// arguments are in req.Params.Arguments): every option is then priced
	// at it. A zero price makes the call free; an error refuses the call
	// with an error result.
	Price func(ctx context.Context, req *mcp.CallToolRequest) (x402.Price, error)
	// Description and MimeType describe the resource in the
	// PaymentRequired.
	Description, MimeType string
	// Resource is the resource URL; "" means "mcp://tool/" + the tool's
	// name.
	Resource string
	// MaxTimeoutSeconds is how long a payment authorization must stay
	// valid; 0 means DefaultMaxTimeoutSeconds.
	MaxTimeoutSeconds int
	// Extensions, if set, is the PaymentRequired's extensions object (such
	// as a Bazaar discovery declaration); payers echo it in their payment.
	Extensions x402.Object
}

// Server sells tool calls. It is safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	claims payclaims.Set
	// suspended holds the verified payments of calls that asked the client
	// for input (multi round-trip requests): the same payment comes back
	// with the answers and continues the call.
	suspended suspensions
	// results are the first results of payment identifiers.
	results results
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Facilitator == nil {
		return nil, errors.New("x402mcp: a Facilitator is required")
	}
	if cfg.Schemes == nil {
		return nil, errors.New("x402mcp: Config.Schemes is required (for EVM: evm.ServerSchemes)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IsDuplicate == nil {
		cfg.IsDuplicate = func(err error) bool { return errors.Is(err, ErrDuplicate) }
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "x402mcp")
	return s, nil
}

// paidTool is a Tool checked and prepared for a named tool.
type paidTool struct {
	Tool
	name   string
	static []x402.PaymentRequirements // nil when Price is set
}

// prepare checks t for the tool name and resolves its static price.
func (s *Server) prepare(name string, t Tool) (*paidTool, error) {
	if len(t.Accepts) == 0 {
		return nil, fmt.Errorf("x402mcp: tool %q has no payment options", name)
	}
	if t.MaxTimeoutSeconds <= 0 {
		t.MaxTimeoutSeconds = DefaultMaxTimeoutSeconds
	}
	if t.Resource == "" {
		t.Resource = "mcp://tool/" + name
	}
	pt := &paidTool{Tool: t, name: name}
	for j, o := range t.Accepts {
		if err := s.checkOption(&o, t.Price != nil); err != nil {
			return nil, fmt.Errorf("x402mcp: tool %q option %d: %w", name, j, err)
		}
	}
	if t.Price == nil {
		reqs, err := s.requirements(pt, nil)
		if err != nil {
			return nil, fmt.Errorf("x402mcp: tool %q: %w", name, err)
		}
		pt.static = reqs
	}
	return pt, nil
}

// checkOption checks an option at start-up.
func (s *Server) checkOption(o *Option, priced bool) error {
	if o.PayTo == "" {
		return errors.New("payTo is required")
	}
	if _, err := x402.ParseNetwork(string(o.Network)); err != nil {
		return err
	}
	if _, _, err := s.cfg.Schemes.Lookup(x402.V2, o.scheme(), o.Network); err != nil {
		return err
	}
	if o.Price == "" && !priced && o.Asset == "" {
		return errors.New("give a Price, or an Amount with its Asset")
	}
	return nil
}

// requirements builds the requirements of t's options, at the price
// dynamic if it is not nil.
func (s *Server) requirements(t *paidTool, dynamic *x402.Price) ([]x402.PaymentRequirements, error) {
	reqs := make([]x402.PaymentRequirements, 0, len(t.Accepts))
	for j, o := range t.Accepts {
		req := x402.PaymentRequirements{Network: o.Network, Amount: o.Amount, Asset: o.Asset, PayTo: o.PayTo, Extra: o.Extra}
		if dynamic != nil || o.Price != "" {
			p := dynamic
			if p == nil {
				parsed, err := x402.ParsePrice(o.Price)
				if err != nil {
					return nil, fmt.Errorf("option %d: %w", j, err)
				}
				p = &parsed
			}
			srv, _, err := s.cfg.Schemes.Lookup(x402.V2, o.scheme(), o.Network)
			if err != nil {
				return nil, fmt.Errorf("option %d: %w", j, err)
			}
			if req, err = srv.Requirements(o.Network, *p, o.PayTo, t.MaxTimeoutSeconds); err != nil {
				return nil, fmt.Errorf("option %d: %w", j, err)
			}
		}
		req.Scheme = o.scheme()
		req.MaxTimeoutSeconds = t.MaxTimeoutSeconds
		reqs = append(reqs, req)
	}
	return reqs, nil
}

// offer is what a call must pay: the requirements and the resource.
type offer struct {
	reqs []x402.PaymentRequirements
	res  x402.ResourceInfo
	ext  x402.Object
}

// offerFor prices a call; nil and no error when the call is free.
func (s *Server) offerFor(ctx context.Context, t *paidTool, req *mcp.CallToolRequest) (*offer, error) {
	off := &offer{reqs: t.static, res: x402.ResourceInfo{URL: t.Resource, Description: t.Description, MimeType: t.MimeType}, ext: t.Extensions}
	if t.Price == nil {
		return off, nil
	}
	p, err := t.Price(ctx, req)
	if err != nil {
		return nil, err
	}
	if p.IsZero() {
		return nil, nil
	}
	if off.reqs, err = s.requirements(t, &p); err != nil {
		return nil, err
	}
	return off, nil
}

// requirementsEqual compares what a client accepted with what the server
// requires: every field, addresses case-insensitively, the amount exactly,
// extra as JSON.
func requirementsEqual(a, b *x402.PaymentRequirements) bool {
	return a.Scheme == b.Scheme &&
		a.Network == b.Network &&
		a.Amount == b.Amount &&
		strings.EqualFold(a.Asset, b.Asset) &&
		strings.EqualFold(a.PayTo, b.PayTo) &&
		a.MaxTimeoutSeconds == b.MaxTimeoutSeconds &&
		a.Extra.Equal(b.Extra)
}
