package facilitator

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"time"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// Discovery limits and the outlier rule.
const (
	// MaxResourceURLBytes bounds a catalogued resource URL.
	MaxResourceURLBytes = 2048
	// OutlierFactor: a resource priced more than OutlierFactor times the
	// median of its peers (same type, network and asset; at least
	// outlierMinPeers of them, itself included) is flagged in listings.
	OutlierFactor = 100
	// MaxDiscoveryLimit bounds the limit of GET /discovery/resources;
	// DefaultDiscoveryLimit is used when it is not given.
	MaxDiscoveryLimit     = 1000
	DefaultDiscoveryLimit = 100

	outlierMinPeers = 3
	maxPeers        = 10000
)

// AssetInfo is what a listing shows of an asset: its symbol and decimals.
type AssetInfo struct {
	Symbol   string
	Decimals uint8
}

// catalog returns the ledger's discovery catalogue, or nil.
func (f *Facilitator) catalog() ledger.Catalog {
	c, _ := f.cfg.Store.(ledger.Catalog)
	return c
}

// catalogue records the resource of a settled payment whose server
// declared it discoverable (the bazaar extension the client echoed). It
// runs only after a successful settlement; a declaration [bazaar.Parse]
// refuses, or a resource URL that is not an absolute http(s) URL, is not
// catalogued. A failure is logged: the payment was settled.
func (f *Facilitator) catalogue(ctx context.Context, req *x402.FacilitatorRequest, resp *x402.SettleResponse, err error) {
	if err != nil || resp == nil || !resp.Success || req == nil || req.X402Version != x402.V2 || req.Payload == nil {
		return
	}
	raw := bazaar.Declared(req.Payload.Extensions)
	cat := f.catalog()
	if raw == nil || cat == nil {
		return
	}
	r, rerr := catalogEntry(req, raw)
	if rerr != nil {
		f.log.Info("resource not catalogued", "err", rerr)
		return
	}
	r.UpdatedAt = f.cfg.Now()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	if err := cat.PutResource(wctx, r); err != nil {
		f.log.Error("cataloguing a resource", "resource", r.URL, "err", err)
	}
}

// catalogEntry builds the catalogue entry of a v2 settle request whose
// payment carries the bazaar extension raw.
func catalogEntry(req *x402.FacilitatorRequest, raw []byte) (*ledger.Resource, error) {
	ext, err := bazaar.Parse(raw)
	if err != nil {
		return nil, err
	}
	p, err := req.Payment()
	if err != nil {
		return nil, err
	}
	if p.Resource == nil {
		return nil, &x402.Error{Reason: bazaar.ReasonRejected, Message: "the payment names no resource"}
	}
	u, err := url.Parse(p.Resource.URL)
	mcpTool := ext.Info.Input.Type == bazaar.TypeMCP && u != nil && u.Scheme == "mcp" // x402mcp's default, mcp://tool/NAME
	if err != nil || len(p.Resource.URL) > MaxResourceURLBytes || (u.Scheme != "http" && u.Scheme != "https" && !mcpTool) || u.Host == "" || u.User != nil {
		return nil, &x402.Error{Reason: bazaar.ReasonRejected, Message: "the resource URL is not an absolute http(s) URL (or mcp: for a tool) of at most 2048 bytes"}
	}
	u.RawQuery, u.Fragment = "", ""
	if ext.RouteTemplate != "" {
		u.Path, u.RawPath = ext.RouteTemplate, ""
	}
	r := &ledger.Resource{
		URL: u.String(), Type: ext.Info.Input.Type, ToolName: ext.Info.Input.ToolName, Version: x402.V2,
		Description: bazaar.Truncate(p.Resource.Description, bazaar.MaxDescriptionBytes),
		MimeType:    bazaar.Truncate(p.Resource.MimeType, 128),
		Scheme:      p.Requirements.Scheme, Network: string(p.Requirements.Network), Asset: p.Requirements.Asset,
		PayTo: p.Requirements.PayTo, Amount: p.Requirements.Amount.String(),
	}
	r.Key = r.URL
	if r.Type == bazaar.TypeMCP {
		r.Key = r.URL + "#tool=" + r.ToolName
	}
	if r.Accepts, err = json.Marshal([]x402.PaymentRequirements{p.Requirements}); err != nil {
		return nil, err
	}
	extJSON, err := json.Marshal(ext)
	if err != nil {
		return nil, err
	}
	if r.Extensions, err = json.Marshal(map[string]json.RawMessage{bazaar.Key: extJSON}); err != nil {
		return nil, err
	}
	return r, nil
}

// DiscoveryResources lists the catalogued resources (GET
// /discovery/resources), most recently paid first, each with its prices in
// the asset's units (where [Config].Assets knows the asset) and an outlier
// flag. A limit of 0 is DefaultDiscoveryLimit, one above
// MaxDiscoveryLimit is MaxDiscoveryLimit. It returns an *x402.Error for a
// negative limit or offset.
func (f *Facilitator) DiscoveryResources(ctx context.Context, q bazaar.ListParams) (*bazaar.ListResponse, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "limit and offset must not be negative"}
	}
	if q.Limit == 0 {
		q.Limit = DefaultDiscoveryLimit
	}
	q.Limit = min(q.Limit, MaxDiscoveryLimit)
	out := &bazaar.ListResponse{X402Version: x402.V2, Items: []bazaar.Resource{}, Pagination: bazaar.Pagination{Limit: q.Limit, Offset: q.Offset}}
	cat := f.catalog()
	if cat == nil {
		return out, nil
	}
	page, total, err := cat.Resources(ctx, ledger.ResourceFilter{Type: q.Type, Network: string(q.Network), Scheme: q.Scheme, PayTo: q.PayTo, Limit: q.Limit, Offset: q.Offset})
	if err != nil {
		return nil, err
	}
	out.Pagination.Total = total
	medians := map[ledger.Peers]*big.Int{}
	for _, r := range page {
		item, err := f.listItem(ctx, cat, r, medians)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

func (f *Facilitator) listItem(ctx context.Context, cat ledger.Catalog, r *ledger.Resource, medians map[ledger.Peers]*big.Int) (bazaar.Resource, error) {
	item := bazaar.Resource{
		Resource: r.URL, Type: r.Type, X402Version: r.Version, LastUpdated: r.UpdatedAt.UTC().Format(time.RFC3339),
		Description: r.Description, MimeType: r.MimeType, Extensions: x402.Object(r.Extensions),
		Metadata: &bazaar.Metadata{ToolName: r.ToolName},
	}
	if err := json.Unmarshal(r.Accepts, &item.Accepts); err != nil {
		return item, fmt.Errorf("facilitator: catalogue entry %q: %w", r.Key, err)
	}
	for _, a := range item.Accepts {
		pr := bazaar.Price{Scheme: a.Scheme, Network: a.Network, Asset: a.Asset, Amount: a.Amount.String()}
		if f.cfg.Assets != nil {
			if info, ok := f.cfg.Assets(a.Network, a.Asset); ok {
				pr.Units, pr.Symbol, pr.Decimals = a.Amount.Format(info.Decimals), info.Symbol, int(info.Decimals)
			}
		}
		item.Metadata.Prices = append(item.Metadata.Prices, pr)
	}
	peers := ledger.Peers{Type: r.Type, Network: r.Network, Asset: r.Asset}
	med, ok := medians[peers]
	if !ok {
		amounts, err := cat.PeerAmounts(ctx, peers, maxPeers)
		if err != nil {
			return item, err
		}
		med = median(amounts)
		medians[peers] = med
	}
	amt, ok := new(big.Int).SetString(r.Amount, 10)
	if ok && med != nil && med.Sign() > 0 && amt.Cmp(new(big.Int).Mul(med, big.NewInt(OutlierFactor))) > 0 {
		item.Metadata.Outlier = true
		ratio := new(big.Int).Quo(amt, med)
		item.Metadata.OutlierReason = fmt.Sprintf("priced %s times the median of the %s resources paid in this asset on %s", ratio, r.Type, r.Network)
	}
	return item, nil
}

// median returns the median of amounts (the lower middle one for an even
// count), or nil when there are fewer than outlierMinPeers.
func median(amounts []string) *big.Int {
	var vals []*big.Int
	for _, a := range amounts {
		if v, ok := new(big.Int).SetString(a, 10); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) < outlierMinPeers {
		return nil
	}
	slices.SortFunc(vals, func(a, b *big.Int) int { return a.Cmp(b) })
	return vals[(len(vals)-1)/2]
}
