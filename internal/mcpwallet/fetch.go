package mcpwallet

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/net/http/httpguts"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

const fetchDescription = `Make an HTTP request; if the server answers 402 Payment Required (x402), pay it within the wallet's limits and send it again. Returns the status, the response headers, the body (text, or bodyBase64 when it is not UTF-8; truncated beyond a size limit) and what was paid (price, network, payTo, transaction). If the price is above the approval threshold, nothing is paid: the result has "approval"; ask the user, then call again with the same arguments and confirm set to approval.confirm. Redirects are not followed.`

const quoteDescription = `Ask a URL for its x402 price without paying or signing anything (the request is sent once, unpaid; GET and HEAD only). Returns the price, network, asset, payTo, whether the wallet's policy allows it and whether it needs the user's approval.`

// FetchInput are the arguments of the fetch tool.
type FetchInput struct {
	URL     string            `json:"url" jsonschema:"the absolute http or https URL"`
	Method  string            `json:"method,omitempty" jsonschema:"the HTTP method (default GET, or POST with a body)"`
	Headers map[string]string `json:"headers,omitempty" jsonschema:"request headers"`
	Body    string            `json:"body,omitempty" jsonschema:"the request body, as text"`
	Confirm string            `json:"confirm,omitempty" jsonschema:"the approval.confirm token of an earlier answer, once the user approved that payment"`
}

// FetchOutput is the result of the fetch tool.
type FetchOutput struct {
	Status     int                 `json:"status,omitempty"`
	Headers    map[string][]string `json:"headers,omitempty"`
	Body       string              `json:"body,omitempty"`
	BodyBase64 string              `json:"bodyBase64,omitempty"`
	Truncated  bool                `json:"truncated,omitempty"`
	// Paid is what was paid, nil if nothing.
	Paid *Payment `json:"paid,omitempty"`
	// Approval, when set, is a request for confirmation: nothing was paid.
	Approval *Approval `json:"approval,omitempty"`
}

// fetch is the fetch tool.
func (w *Wallet) fetch(ctx context.Context, _ *mcp.CallToolRequest, in FetchInput) (*mcp.CallToolResult, FetchOutput, error) {
	req, key, err := w.newRequest(ctx, in.URL, in.Method, in.Headers, in.Body)
	if err != nil {
		return nil, FetchOutput{}, err
	}
	c := &call{key: key, confirm: in.Confirm}
	resp, err := w.http.Do(req.WithContext(withCall(ctx, c)))
	if err != nil {
		if c.approval != nil && errors.Is(err, errNeedsApproval) {
			return nil, FetchOutput{Approval: c.approval}, nil
		}
		return nil, FetchOutput{}, describe(err)
	}
	defer resp.Body.Close()
	out := FetchOutput{Status: resp.StatusCode, Headers: resp.Header}
	body, err := io.ReadAll(io.LimitReader(resp.Body, w.cfg.MaxBody+1))
	if int64(len(body)) > w.cfg.MaxBody {
		body, out.Truncated = body[:w.cfg.MaxBody], true
	}
	if utf8.Valid(body) {
		out.Body = string(body)
	} else {
		out.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	if r, ok := client.ReceiptFromResponse(resp); ok {
		out.Paid = w.record("fetch", req.URL.String(), r, resp.StatusCode)
	}
	if err != nil && !out.Truncated {
		return nil, out, fmt.Errorf("reading the response body: %w", err)
	}
	return nil, out, nil
}

// newRequest builds a request from a tool's arguments and returns the
// key that binds an approval to it (method, URL, headers and body).
func (w *Wallet) newRequest(ctx context.Context, rawURL, method string, headers map[string]string, body string) (*http.Request, string, error) {
	u, err := w.checkURL(rawURL)
	if err != nil {
		return nil, "", err
	}
	if method == "" {
		method = http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
	}
	method = strings.ToUpper(method)
	if !httpguts.ValidHeaderFieldName(method) {
		return nil, "", fmt.Errorf("method %q is not an HTTP method", method)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d:%s", method, u.String(), len(body), body)
	for name, v := range headers {
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, "", fmt.Errorf("header %q: invalid name or value", name)
		}
		if isPaymentHeader(name) {
			return nil, "", fmt.Errorf("header %q: the wallet makes the payment headers itself", name)
		}
		req.Header.Set(name, v)
	}
	for _, name := range sortedKeys(req.Header) {
		fmt.Fprintf(h, "\x00%s:%s", name, strings.Join(req.Header[name], ","))
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "go402-mcp")
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	return req, "http\x00" + hex.EncodeToString(h.Sum(nil)), nil
}

// isPaymentHeader reports the x402 headers the client writes.
func isPaymentHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case http.CanonicalHeaderKey(x402.HeaderPaymentSignature), http.CanonicalHeaderKey(x402.HeaderXPayment):
		return true
	}
	return false
}

// QuoteInput are the arguments of the quote tool.
type QuoteInput struct {
	URL     string            `json:"url" jsonschema:"the absolute http or https URL"`
	Method  string            `json:"method,omitempty" jsonschema:"GET (default) or HEAD"`
	Headers map[string]string `json:"headers,omitempty" jsonschema:"request headers"`
}

// QuoteOutput is the result of the quote tool.
type QuoteOutput struct {
	URL           string `json:"url"`
	Free          bool   `json:"free"`
	Status        int    `json:"status"`
	Price         string `json:"price,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	Network       string `json:"network,omitempty"`
	Asset         string `json:"asset,omitempty"`
	PayTo         string `json:"payTo,omitempty"`
	Description   string `json:"description,omitempty"`
	Allowed       bool   `json:"allowed"`
	Refusal       string `json:"refusal,omitempty"`
	NeedsApproval bool   `json:"needsApproval,omitempty"`
}

// quote is the quote tool: it signs nothing.
func (w *Wallet) quote(ctx context.Context, _ *mcp.CallToolRequest, in QuoteInput) (*mcp.CallToolResult, QuoteOutput, error) {
	if m := strings.ToUpper(in.Method); m != "" && m != http.MethodGet && m != http.MethodHead {
		return nil, QuoteOutput{}, fmt.Errorf("quote sends the request unpaid, so only GET and HEAD: a %s may change something on a server that does not charge", m)
	}
	req, _, err := w.newRequest(ctx, in.URL, in.Method, in.Headers, "")
	if err != nil {
		return nil, QuoteOutput{}, err
	}
	q, err := w.c.Quote(ctx, req)
	if err != nil {
		return nil, QuoteOutput{}, describe(err)
	}
	return nil, w.quoteOutput(q), nil
}

// quoteOutput describes a client Quote.
func (w *Wallet) quoteOutput(q *client.Quote) QuoteOutput {
	out := QuoteOutput{URL: q.URL, Free: q.Free, Status: q.StatusCode, Allowed: q.Refusal == nil}
	if q.Option != nil {
		r := q.Option.Requirements
		out.Price, out.Scheme, out.Network, out.Asset, out.PayTo = q.Option.Price, r.Scheme, string(r.Network), r.Asset, r.PayTo
		out.NeedsApproval = w.threshold.Exceeded(q.Option)
	}
	if q.Refusal != nil {
		out.Refusal = q.Refusal.Error()
	}
	if q.Resource != nil {
		out.Description = q.Resource.Description
	}
	return out
}

// describe turns a payment error into the tool's error: a policy refusal
// says that nothing was signed.
func describe(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var pe *client.PolicyError
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("refused by the policy (%s), nothing was signed or paid: %w", pe.Rule, err)
	case errors.Is(err, client.ErrPaymentOutcomeUnknown):
		return fmt.Errorf("payment sent and not confirmed; it may have been charged and counts against the budget until it expires unused: %w", err)
	case errors.Is(err, client.ErrPaymentRejected):
		return fmt.Errorf("payment rejected by the server: %w", err)
	}
	return err
}
