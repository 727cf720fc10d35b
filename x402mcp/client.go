package x402mcp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrNotTransport is returned by [Session] when its client was not built
// with [Transport] as its Config.Base: the paid call could not be made.
var ErrNotTransport = errors.New("x402mcp: the client's Config.Base is not x402mcp.Transport")

// Transport returns the http.RoundTripper to set as the go402 client's
// Config.Base (client.Config.Base) so that a [Session] can pay for tool
// calls with that client: it carries the requests of a Session's calls
// over the MCP session and sends every other request with next
// (http.DefaultTransport if nil).
func Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return transport{next: next}
}

type transport struct{ next http.RoundTripper }

type callKey struct{}

// call is a tool call being paid: the session, the call, the first
// (payment-required) answer, and the answer to the paid call.
type call struct {
	cs       *mcp.ClientSession
	params   *mcp.CallToolParams
	required *x402.PaymentRequired
	result   *mcp.CallToolResult
	handled  bool
}

// RoundTrip answers the client's requests of a call: the unpaid one with
// the payment-required answer already received (nothing is sent again),
// the paid one by calling the tool with the payment in _meta. Its answer
// is rendered as HTTP for the client: 402 with PAYMENT-REQUIRED for a
// payment-required result, 500 for another error result, 200 otherwise,
// with PAYMENT-RESPONSE when the result carries a receipt.
func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	c, ok := r.Context().Value(callKey{}).(*call)
	if !ok || r.URL.Scheme != "mcp" {
		return t.next.RoundTrip(r)
	}
	c.handled = true
	h := r.Header.Get(x402.HeaderPaymentSignature)
	if h == "" {
		return answer(r, http.StatusPaymentRequired, c.required, nil)
	}
	pp, err := x402.DecodePaymentSignature(h)
	if err != nil {
		return nil, err
	}
	params := *c.params
	params.Meta = make(mcp.Meta, len(c.params.Meta)+1)
	for k, v := range c.params.Meta {
		params.Meta[k] = v
	}
	params.Meta[MetaPayment] = pp
	res, err := c.cs.CallTool(r.Context(), &params)
	if err != nil {
		return nil, err
	}
	c.result = res
	sr, _ := ReceiptFromResult(res)
	if pr, ok := PaymentRequiredFromResult(res); ok {
		return answer(r, http.StatusPaymentRequired, pr, sr)
	}
	status := http.StatusOK
	if res.IsError {
		status = http.StatusInternalServerError
	}
	return answer(r, status, nil, sr)
}

// answer renders a tool result as the HTTP response the client reads.
func answer(r *http.Request, status int, pr *x402.PaymentRequired, sr *x402.SettleResponse) (*http.Response, error) {
	h := http.Header{}
	if pr != nil {
		// pr was decoded and validated from the result: encoded as is,
		// without EncodePaymentRequired's bound for HTTP headers (which
		// the MCP answer never crossed); the client decodes it within
		// x402.MaxHeaderSize.
		enc, err := reencode(pr)
		if err != nil {
			return nil, err
		}
		h.Set(x402.HeaderPaymentRequired, enc)
	}
	if sr != nil {
		enc, err := x402.EncodePaymentResponse(sr)
		if err != nil {
			return nil, err
		}
		h.Set(x402.HeaderPaymentResponse, enc)
	}
	return &http.Response{
		Status: http.StatusText(status), StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader("")), ContentLength: 0, Request: r,
	}, nil
}

// Session pays for the tool calls of an MCP client session with a go402
// client, within its policy. It is safe for concurrent use.
type Session struct {
	c      *client.Client
	cs     *mcp.ClientSession
	server string
}

// NewSession returns a Session calling tools over cs and paying with c,
// whose Config.Base must be [Transport]. server names the MCP server in
// the client's budgets and quotes (the per-host budget): the host of a URL
// ("https://tools.example/mcp" counts as "tools.example"), or a name; ""
// means the name the server gave itself at initialization.
func NewSession(c *client.Client, cs *mcp.ClientSession, server string) *Session {
	return &Session{c: c, cs: cs, server: server}
}

// ClientSession returns the underlying MCP client session.
func (s *Session) ClientSession() *mcp.ClientSession { return s.cs }

// CallTool calls a tool. If the result says that payment is required, it
// chooses an option the client's policy allows, signs it and calls the
// tool once more with the payment in params._meta["x402/payment"],
// returning that call's result and the receipt (nil when nothing was
// paid). A tool error result to a paid call carries no settlement: the
// receipt then has no Settlement, and the client releases the payment from
// its budgets once the chain shows it unused.
//
// The errors are the client's: a *client.PolicyError (nothing was signed),
// a *client.PaymentError (the server refused the payment; the result is
// then its payment-required answer), a *client.OutcomeUnknownError, one
// wrapping client.ErrNoPayableOption, or the session's. A call whose
// params already carry a payment is made as it is, and never paid again.
func (s *Session) CallTool(ctx context.Context, params *mcp.CallToolParams) (*mcp.CallToolResult, *client.Receipt, error) {
	if params == nil {
		params = &mcp.CallToolParams{}
	}
	res, err := s.cs.CallTool(ctx, params)
	if err != nil {
		return nil, nil, err
	}
	pr, ok := PaymentRequiredFromResult(res)
	if !ok || params.Meta[MetaPayment] != nil {
		return res, nil, nil
	}
	c := &call{cs: s.cs, params: params, required: pr}
	resp, err := s.c.RoundTrip(s.request(ctx, c))
	if err != nil {
		if !c.handled {
			return nil, nil, errors.Join(ErrNotTransport, err)
		}
		return c.result, nil, err
	}
	_ = resp.Body.Close()
	receipt, _ := client.ReceiptFromResponse(resp)
	return c.result, receipt, nil
}

// Quote calls a tool unpaid and reports what paying for the call would
// involve under the client's policy, signing nothing. A call that needs no
// payment is run (its result returned) and its Quote is Free.
func (s *Session) Quote(ctx context.Context, params *mcp.CallToolParams) (*client.Quote, *mcp.CallToolResult, error) {
	if params == nil {
		params = &mcp.CallToolParams{}
	}
	res, err := s.cs.CallTool(ctx, params)
	if err != nil {
		return nil, nil, err
	}
	pr, ok := PaymentRequiredFromResult(res)
	if !ok {
		return &client.Quote{Free: true, StatusCode: http.StatusOK}, res, nil
	}
	c := &call{cs: s.cs, params: params, required: pr}
	r := s.request(ctx, c)
	q, err := s.c.Quote(r.Context(), r)
	if err != nil && !c.handled {
		return nil, res, errors.Join(ErrNotTransport, err)
	}
	return q, res, err
}

// request is the request the client pays for a call:
// POST mcp://<server>/tools/<name>.
func (s *Session) request(ctx context.Context, c *call) *http.Request {
	r, _ := http.NewRequestWithContext(context.WithValue(ctx, callKey{}, c), http.MethodPost, "mcp://server/", nil)
	r.URL = &url.URL{Scheme: "mcp", Host: s.host(), Path: "/tools/" + c.params.Name}
	r.Host = r.URL.Host
	return r
}

// host is the server's name in the client's budgets.
func (s *Session) host() string {
	name := s.server
	if u, err := url.Parse(name); err == nil && u.Host != "" {
		name = u.Host
	}
	if name == "" {
		if ir := s.cs.InitializeResult(); ir != nil && ir.ServerInfo != nil {
			name = ir.ServerInfo.Name
		}
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == ':', r == '[', r == ']':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "mcp-server"
	}
	return b.String()
}
