package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/x402"
)

const discoverUsage = `discover [--facilitator URL | --devnet-info FILE] [--type http|mcp] [--network CAIP2] [--max PRICE] [--limit N] [--json]

Lists the paid resources a facilitator catalogued (its GET
/discovery/resources, the x402 Bazaar): the resources it settled payments
for whose servers declared them discoverable, most recently paid first,
with their price in the asset's units and how to call them. A resource
priced far above its peers (same type, network and asset) is marked
OUTLIER. --max keeps the resources payable at or below PRICE ("0.01",
"$0.01", or "0.01 USDC" for that asset only); --network and --type filter
on the facilitator. The facilitator is --facilitator, default
$GO402_FACILITATOR_URL, or the facilitatorUrl of a go402 dev info file
(--devnet-info).`

// maxDiscoverItems bounds how many resources one discover reads.
const maxDiscoverItems = 10000

func runDiscover(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "discover", discoverUsage)
	facURL := fs.String("facilitator", os.Getenv("GO402_FACILITATOR_URL"), "the facilitator's base `URL`; default $GO402_FACILITATOR_URL")
	infoFile := fs.String("devnet-info", "", "JSON `file` written by go402 dev --info-file: use its facilitator")
	typ := fs.String("type", "", "only resources of this `type`: http or mcp")
	network := fs.String("network", "", "only resources paid on this CAIP-2 `network`, such as eip155:8453")
	maxPrice := fs.String("max", "", "only resources payable for at most `PRICE` (\"0.01\", \"$0.01\", \"0.01 USDC\")")
	limit := fs.Int("limit", 100, "list at most `N` resources (after --max)")
	asJSON := fs.Bool("json", false, "print one JSON document (the facilitator's listing, filtered) instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *limit <= 0 {
		return usagef("--limit must be positive")
	}
	base, err := discoverFacilitator(*facURL, *infoFile)
	if err != nil {
		return err
	}
	var max *x402.Price
	if *maxPrice != "" {
		p, err := x402.ParsePrice(*maxPrice)
		if err != nil {
			return usagef("--max: %v", err)
		}
		max = &p
	}
	if *typ != "" && *typ != bazaar.TypeHTTP && *typ != bazaar.TypeMCP {
		return usagef("--type must be http or mcp")
	}
	items, err := discoverItems(ctx, base, bazaar.ListParams{Type: *typ, Network: x402.Network(*network)}, max, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(bazaar.ListResponse{X402Version: x402.V2, Items: items, Pagination: bazaar.Pagination{Limit: *limit, Total: len(items)}})
	}
	printDiscovered(e, items)
	return nil
}

// discoverFacilitator returns the facilitator URL: the flag, or the info
// file's.
func discoverFacilitator(flagURL, infoFile string) (string, error) {
	if infoFile != "" {
		b, err := os.ReadFile(infoFile)
		if err != nil {
			return "", fmt.Errorf("reading --devnet-info: %w", err)
		}
		var info struct {
			FacilitatorURL string `json:"facilitatorUrl"`
		}
		if err := json.Unmarshal(b, &info); err != nil || info.FacilitatorURL == "" {
			return "", usagef("--devnet-info %s names no facilitatorUrl (go402 dev writes one)", infoFile)
		}
		return info.FacilitatorURL, nil
	}
	if flagURL == "" {
		return "", usagef("no facilitator: give --facilitator URL (or set GO402_FACILITATOR_URL), or --devnet-info FILE")
	}
	return flagURL, nil
}

// discoverItems pages through the listing, keeping the items within max,
// until limit of them or the end.
func discoverItems(ctx context.Context, base string, p bazaar.ListParams, max *x402.Price, limit int) ([]bazaar.Resource, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	items := []bazaar.Resource{}
	p.Limit = 100
	for read := 0; read < maxDiscoverItems; {
		p.Offset = read
		lr, err := bazaar.List(ctx, hc, base, p)
		if err != nil {
			return nil, err
		}
		for _, it := range lr.Items {
			if withinMax(it, max) {
				items = append(items, it)
				if len(items) == limit {
					return items, nil
				}
			}
		}
		read += len(lr.Items)
		if len(lr.Items) == 0 || read >= lr.Pagination.Total {
			break
		}
	}
	return items, nil
}

// withinMax reports whether one of the resource's prices is at most max
// (nil: any). A price in an asset of unknown decimals never is; a max with
// an asset symbol compares with that asset's prices only.
func withinMax(it bazaar.Resource, max *x402.Price) bool {
	if max == nil {
		return true
	}
	if it.Metadata == nil {
		return false
	}
	for _, pr := range it.Metadata.Prices {
		if pr.Units == "" || (max.Unit != "" && max.Unit != "USD" && !strings.EqualFold(max.Unit, pr.Symbol)) {
			continue
		}
		limit, err := max.Atomic(uint8(pr.Decimals))
		amt, err2 := x402.ParseAmount(pr.Amount)
		if err == nil && err2 == nil && amt.Cmp(limit) <= 0 {
			return true
		}
	}
	return false
}

func printDiscovered(e env, items []bazaar.Resource) {
	if len(items) == 0 {
		fmt.Fprintln(e.stdout, "no resources listed")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PRICE\tNETWORK\tTYPE\tCALL\tRESOURCE\tDESCRIPTION")
	for _, it := range items {
		price, network := "?", ""
		if it.Metadata != nil && len(it.Metadata.Prices) > 0 {
			pr := it.Metadata.Prices[0]
			network = string(pr.Network)
			price = pr.Amount + " (atomic)"
			if pr.Units != "" {
				price = pr.Units + " " + pr.Symbol
			}
			if it.Metadata.Outlier {
				price += " OUTLIER"
			}
		}
		call := ""
		if ext := it.Declaration(); ext != nil {
			call = ext.Info.Input.Method
			if ext.Info.Input.Type == bazaar.TypeMCP {
				call = "tool " + ext.Info.Input.ToolName
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(price, 40), oneLine(network, 40), oneLine(it.Type, 8), oneLine(call, 40), oneLine(it.Resource, 200), oneLine(it.Description, 60))
	}
	_ = tw.Flush()
}

// oneLine returns s on one line, without control characters (a listing
// is untrusted: no terminal escapes), cut to n bytes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = bazaar.Truncate(s, n-3) + "..."
	}
	return s
}
