package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// Option is a way to pay for a resource that this client can sign: one
// entry of the server's accepts, with its price.
type Option struct {
	// Version is the x402 protocol version of the offer, 1 or 2.
	Version int
	// Requirements is the server's entry, in the v2 shape. For a v1
	// server it is converted with [x402.PaymentRequirementsV1.ToV2]: the
	// network is CAIP-2 ("eip155:84532" for "base-sepolia").
	Requirements x402.PaymentRequirements
	// Asset is the asset as the client's Assets registry knows it; the
	// zero Asset if the registry does not know it.
	Asset Asset
	// Price is the amount in whole units, for people: "0.001 USDC".
	Price string

	index  int               // position in the server's accepts
	scheme x402.SchemeClient // signs this option
	asset  common.Address    // EVM token contract, if the asset is an address
	payTo  common.Address    // EVM recipient, if payTo is an address
	known  bool              // Asset comes from the registry
	priced bool              // the decimals are known: whole is the price
	whole  decimal           // price in whole units
	dec    uint8             // the decimals whole was computed with

	// Paid through a payment channel (x402.ChannelSchemeClient): the
	// deposit this payment makes, which is what leaves the wallet and what
	// the budgets count instead of the price.
	channel x402.ChannelSchemeClient
	deposit x402.Amount
}

// Cheapest orders options by their price in whole units, cheapest first;
// options whose asset decimals are unknown come last. It is the default
// Config.Prefer.
func Cheapest(a, b Option) int {
	switch {
	case a.priced && b.priced:
		return a.whole.Cmp(b.whole)
	case a.priced:
		return -1
	case b.priced:
		return 1
	}
	return 0
}

// symbolOrAddress names the asset of o for messages.
func symbolOrAddress(o *Option) string {
	if o.Asset.Symbol != "" {
		return o.Asset.Symbol
	}
	return "token " + o.Requirements.Asset
}

// offer is a decoded 402: what the server accepts, in either version.
type offer struct {
	version    int
	errMsg     string
	resource   x402.ResourceInfo // v2
	extensions x402.Object       // v2
	accepts    []x402.PaymentRequirements
	v1         []x402.PaymentRequirementsV1 // v1 originals, aligned with accepts
}

// resourceFor returns the resource paid for with accepts[i].
func (o *offer) resourceFor(i int) *x402.ResourceInfo {
	if o.version == x402.V1 {
		_, res := o.v1[i].ToV2()
		return &res
	}
	r := o.resource
	return &r
}

// Bounds on what is read from a 402 response.
const (
	maxV1Body   = 1 << 20  // a v1 402 JSON body
	maxDrainLen = 64 << 10 // bytes read from a dropped body to reuse the connection
)

// drainClose reads a little of a body we drop, so that the connection can
// be reused, and closes it.
func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, body, maxDrainLen)
	_ = body.Close()
}

// restoredBody returns a body that yields prefix and then the rest of rc.
type restoredBody struct {
	io.Reader
	io.Closer
}

// readOffer decodes the payment requirements of a 402: the PAYMENT-REQUIRED
// header (v2), or else a v1 JSON body. The body is consumed and closed,
// except when the response is not an x402 one (ErrNotX402): then its body
// is restored for the caller.
func readOffer(resp *http.Response) (*offer, error) {
	if h := resp.Header.Get(x402.HeaderPaymentRequired); h != "" {
		drainClose(resp.Body)
		pr, err := x402.DecodePaymentRequired(h)
		if err != nil {
			return nil, fmt.Errorf("%w: PAYMENT-REQUIRED header: %w", ErrInvalidPaymentRequired, err)
		}
		return &offer{version: x402.V2, errMsg: pr.Error, resource: pr.Resource, extensions: pr.Extensions, accepts: pr.Accepts}, nil
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil, ErrNotX402
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxV1Body+1))
	if err != nil {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("client: reading the 402 response body: %w", err)
	}
	if v, derr := x402.DetectVersion(data); len(data) > maxV1Body || derr != nil || v != x402.V1 {
		resp.Body = restoredBody{io.MultiReader(bytes.NewReader(data), resp.Body), resp.Body}
		return nil, ErrNotX402
	}
	drainClose(resp.Body)
	p, err := x402.DecodePaymentRequiredV1(data)
	if err != nil {
		return nil, fmt.Errorf("%w: v1 402 body: %w", ErrInvalidPaymentRequired, err)
	}
	off := &offer{version: x402.V1, errMsg: p.Error, v1: p.Accepts}
	for i := range p.Accepts {
		req, _ := p.Accepts[i].ToV2()
		off.accepts = append(off.accepts, req)
	}
	return off, nil
}

// options returns the entries of off this client can sign, in the
// server's order. If there are none, the error wraps ErrNoPayableOption
// and says why each entry was skipped.
func (c *Client) options(off *offer) ([]Option, error) {
	var opts []Option
	var why []string
	for i, req := range off.accepts {
		o, err := c.option(off.version, i, req)
		if err != nil {
			why = append(why, fmt.Sprintf("accepts[%d]: %v", i, err))
			continue
		}
		opts = append(opts, o)
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoPayableOption, strings.Join(why, "; "))
	}
	return opts, nil
}

// option checks that a registered scheme client can pay req and prices
// it with the Assets registry.
func (c *Client) option(version, index int, req x402.PaymentRequirements) (Option, error) {
	o := Option{Version: version, Requirements: req, index: index}
	sc, _, err := c.schemes.Lookup(version, req.Scheme, req.Network)
	if err != nil {
		return o, fmt.Errorf("no scheme client for x402 v%d scheme %q on network %q", version, req.Scheme, req.Network)
	}
	if pc, ok := sc.(payableChecker); ok {
		if err := pc.CanPay(version, req); err != nil {
			return o, err
		}
	}
	o.scheme = sc
	o.channel, _ = sc.(x402.ChannelSchemeClient)
	o.asset, _ = parseAddress(req.Asset)
	o.payTo, _ = parseAddress(req.PayTo)
	if a, ok := c.assets.Lookup(req.Network, req.Asset); ok {
		o.Asset, o.known, o.priced = a, true, true
		o.whole, o.dec = wholeUnits(req.Amount, a.Decimals), a.Decimals
		o.Price = req.Amount.Format(a.Decimals) + " " + symbolOrAddress(&o)
		return o, nil
	}
	if d, ok := extraDecimals(req.Extra); ok {
		o.priced = true
		o.whole, o.dec = wholeUnits(req.Amount, d), d
		o.Price = req.Amount.Format(d) + " of token " + req.Asset
		return o, nil
	}
	o.Price = req.Amount.String() + " atomic units of token " + req.Asset
	return o, nil
}

// extraDecimals reads extra.decimals, a number (or a string of digits)
// from 0 to 77.
func extraDecimals(extra x402.Object) (uint8, bool) {
	raw, ok := extra.Field("decimals")
	if !ok {
		return 0, false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw)
	}
	d, err := strconv.ParseUint(s, 10, 8)
	if err != nil || d > 77 {
		return 0, false
	}
	return uint8(d), true
}

// parseAddress parses a 0x-prefixed 20-byte hex address, in any case.
func parseAddress(s string) (common.Address, bool) {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !common.IsHexAddress(s) {
		return common.Address{}, false
	}
	return common.HexToAddress(s), true
}
