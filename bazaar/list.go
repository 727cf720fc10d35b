package bazaar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go402/go402/x402"
)

// ListParams are the query parameters of GET /discovery/resources. Zero
// fields are left out.
type ListParams struct {
	Type    string // "http" or "mcp"
	PayTo   string
	Scheme  string
	Network x402.Network
	Limit   int
	Offset  int
}

// Query encodes p as a URL query.
func (p ListParams) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("type", p.Type)
	set("payTo", p.PayTo)
	set("scheme", p.Scheme)
	set("network", string(p.Network))
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Offset > 0 {
		q.Set("offset", strconv.Itoa(p.Offset))
	}
	return q
}

// ListResponse is the body of GET /discovery/resources.
type ListResponse struct {
	X402Version int        `json:"x402Version"`
	Items       []Resource `json:"items"`
	Pagination  Pagination `json:"pagination"`
}

// Pagination is a page's place in the listing: Total matching resources,
// of which Limit from Offset are in the page.
type Pagination struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
	Total  int `json:"total"`
}

// Resource is one catalogued resource: its URL, type, the payment
// requirements it was paid with, when it was last paid, its description
// and the bazaar extension it declared (under "bazaar" in Extensions).
// Metadata is what go402's facilitator adds.
type Resource struct {
	Resource    string                     `json:"resource"`
	Type        string                     `json:"type"`
	X402Version int                        `json:"x402Version"`
	Accepts     []x402.PaymentRequirements `json:"accepts"`
	LastUpdated string                     `json:"lastUpdated"`
	Description string                     `json:"description,omitempty"`
	MimeType    string                     `json:"mimeType,omitempty"`
	Extensions  x402.Object                `json:"extensions,omitempty"`
	Metadata    *Metadata                  `json:"metadata,omitempty"`
}

// Metadata is go402's addition to a listed resource.
type Metadata struct {
	// ToolName is an MCP tool's name (the resource URL is its server's).
	ToolName string `json:"toolName,omitempty"`
	// Prices are the prices of Accepts, in the asset's units where the
	// facilitator knows the asset.
	Prices []Price `json:"prices,omitempty"`
	// Outlier is set when the resource is priced far above its peers (the
	// resources of the same type paid in the same asset on the same
	// network); OutlierReason says by how much.
	Outlier       bool   `json:"outlier,omitempty"`
	OutlierReason string `json:"outlierReason,omitempty"`
}

// Price is one payment requirement's price. Units is Amount in whole
// tokens ("0.01") and Symbol the token's ("USDC"), both empty when the
// facilitator does not know the asset.
type Price struct {
	Scheme   string       `json:"scheme"`
	Network  x402.Network `json:"network"`
	Asset    string       `json:"asset"`
	Amount   string       `json:"amount"`
	Units    string       `json:"units,omitempty"`
	Symbol   string       `json:"symbol,omitempty"`
	Decimals int          `json:"decimals,omitempty"`
}

// Declaration returns the resource's bazaar extension, parsed (and checked
// as [Parse] checks it), or nil when it has none or it is invalid.
func (r Resource) Declaration() *Extension {
	raw := Declared(r.Extensions)
	if raw == nil {
		return nil
	}
	ext, err := Parse(raw)
	if err != nil {
		return nil
	}
	return ext
}

// maxListBody bounds the body List reads.
const maxListBody = 16 << 20

// List fetches one page of GET /discovery/resources from the facilitator
// at base (its URL, without the path). c nil is http.DefaultClient.
func List(ctx context.Context, c *http.Client, base string, p ListParams) (*ListResponse, error) {
	if c == nil {
		c = http.DefaultClient
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + "/discovery/resources")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bazaar: facilitator URL %s is not an http(s) URL", short(base))
	}
	u.RawQuery = p.Query().Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bazaar: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bazaar: listing resources: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody+1))
	if err != nil {
		return nil, fmt.Errorf("bazaar: reading the listing: %w", err)
	}
	if len(body) > maxListBody {
		return nil, errors.New("bazaar: the listing exceeds 16 MiB")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bazaar: GET /discovery/resources answered %s: %s", resp.Status, short(string(body)))
	}
	return DecodeList(body)
}

// DecodeList decodes and checks a GET /discovery/resources body.
func DecodeList(body []byte) (*ListResponse, error) {
	var lr ListResponse
	if err := json.Unmarshal(body, &lr); err != nil {
		return nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "the listing is not a discovery response", Err: err}
	}
	if lr.Pagination.Limit < 0 || lr.Pagination.Offset < 0 || lr.Pagination.Total < 0 {
		return nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "the listing's pagination is negative"}
	}
	for i := range lr.Items {
		if lr.Items[i].Resource == "" {
			return nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: fmt.Sprintf("items[%d] has no resource", i)}
		}
	}
	return &lr, nil
}
