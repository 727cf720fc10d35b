package cli

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

// What go402 gateway prints and writes in its --info-file.

// printGateway prints what is being served, and with the devnet, how to
// try it: info describes the devnet, and infoFile is where it was written
// ("" for nowhere).
func printGateway(w io.Writer, baseURL string, cfg *gateway.Config, d *devnet.Devnet, info *gatewayInfo, infoFile string) {
	fmt.Fprintf(w, "go402 gateway is running\n\n")
	fmt.Fprintf(w, "  URL          %s\n", baseURL)
	fmt.Fprintf(w, "  Health       %s/health  (readiness: %s/ready)\n", baseURL, baseURL)
	switch {
	case d != nil:
		fmt.Fprintf(w, "  Facilitator  embedded, on the devnet %s (DEV ONLY)\n", d.Network())
	case cfg.Facilitator.URL != "":
		fmt.Fprintf(w, "  Facilitator  %s\n", cfg.Facilitator.URL)
	case len(cfg.Facilitators) > 0:
		for i, f := range cfg.Facilitators {
			label := "Facilitators"
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(w, "  %-12s %d. %s\n", label, i+1, f.URL)
		}
	default:
		fmt.Fprintf(w, "  Facilitator  none (every route is free)\n")
	}
	printRoutes(w, cfg)
	if d != nil && info != nil {
		tok := d.Token()
		fmt.Fprintf(w, "\nDevnet (DEV ONLY, public keys):\n")
		fmt.Fprintf(w, "  RPC URL    %s\n", d.RPCURL())
		fmt.Fprintf(w, "  Token      %s  (name %q, version %q)\n", tok.Address.Hex(), tok.Name, tok.Version)
		keys := "see `go doc github.com/go402/go402/devnet`"
		if infoFile != "" {
			keys = "keys in the info file"
		}
		switch info.Payers {
		case 0:
			fmt.Fprintf(w, "  Payers     none: a route is paid to account 0\n")
		case 1:
			fmt.Fprintf(w, "  Payers     account 0 (%s; these keys are public, DEV ONLY)\n", keys)
		default:
			fmt.Fprintf(w, "  Payers     accounts 0-%d (%s; these keys are public, DEV ONLY)\n", info.Payers-1, keys)
		}
		if infoFile != "" {
			fmt.Fprintf(w, "  Info file  %s (deleted on exit)\n", infoFile)
		}
		if len(info.Endpoints) > 0 {
			ep := info.Endpoints[0]
			fmt.Fprintf(w, "\ntry it:\n")
			fmt.Fprintf(w, "  curl -i %s%s\n", curlMethod(ep.Method), shellQuote(ep.URL))
			switch {
			case infoFile == "":
				fmt.Fprintf(w, "  (with --info-file PATH, a go402 pay line to paste is printed here)\n")
			case info.Payers > 0:
				fmt.Fprintf(w, "  GO402_PAYER_KEY=%s %s pay%s%s --devnet-info %s %s\n",
					info.Accounts[0].PrivateKey, selfCommand(os.Args[0]), payMethod(ep.Method), payMax(ep.Price), shellQuote(infoFile), shellQuote(ep.URL))
			}
		}
	}
	fmt.Fprintf(w, "\nSIGHUP reloads %s; Ctrl-C stops.\n", cfg.Name())
}

// curlMethod and payMethod are the flags that send method, or "" for GET.
func curlMethod(method string) string {
	if method == "" || method == http.MethodGet {
		return ""
	}
	return "-X " + shellQuote(method) + " "
}

func payMethod(method string) string {
	if method == "" || method == http.MethodGet {
		return ""
	}
	return " -X " + shellQuote(method)
}

// payMax is the --max flag a go402 pay line needs to pay price, or "" when
// the default (defaultPayMax) covers it.
func payMax(price string) string {
	p, err1 := x402.ParsePrice(price)
	def, err2 := x402.ParsePrice(defaultPayMax)
	if err1 != nil || err2 != nil {
		return ""
	}
	a, err1 := p.Atomic(18)
	b, err2 := def.Atomic(18)
	if err1 != nil || err2 != nil || a.Cmp(b) <= 0 {
		return ""
	}
	return " --max " + shellQuote(price)
}

// gatewayInfo is the --info-file JSON of go402 gateway --devnet: the
// devnet's fields, as go402 devnet writes them (so that go402 pay
// --devnet-info reads it), then the gateway's.
type gatewayInfo struct {
	devnet.Info
	GatewayURL string `json:"gatewayUrl"`
	// MetricsURL is where Prometheus scrapes the gateway.
	MetricsURL string `json:"metricsUrl"`
	// Facilitator describes the embedded facilitator, which has no URL.
	Facilitator string `json:"facilitator"`
	// Payers is how many accounts, first in Accounts, the gateway never
	// uses: the embedded facilitator settles from neither, and no route
	// is paid to them.
	Payers int `json:"payers"`
	// Endpoints are the URLs of the routes payable on the devnet, where
	// they can be listed: each route whose path is literal, and the files
	// (up to gatewayMaxDirEndpoints) of each dir route, unless an earlier
	// route takes them.
	Endpoints []devEndpoint `json:"endpoints"`
}

func newGatewayInfo(baseURL string, cfg *gateway.Config, d *devnet.Devnet) *gatewayInfo {
	accts := d.Accounts()
	return &gatewayInfo{
		Info:        d.Info(),
		GatewayURL:  baseURL,
		Facilitator: fmt.Sprintf("embedded in the gateway (DEV ONLY), settling on %s from %s", d.Network(), accts[gatewayDevnetSigner].Address.Hex()),
		Payers:      gatewayPayers(cfg, accts),
		Endpoints:   gatewayEndpoints(baseURL, cfg, x402.Network(d.Network())),
	}
}

// gatewayPayers returns how many accounts, first in accts, the gateway
// never uses: the index of the first one it settles from or a priced
// route is paid to.
func gatewayPayers(cfg *gateway.Config, accts []devnet.Account) int {
	used := map[common.Address]bool{accts[gatewayDevnetSigner].Address: true}
	for i := range cfg.Routes {
		if r := &cfg.Routes[i]; !r.Free() {
			used[common.HexToAddress(cfg.EffectivePayTo(r))] = true
		}
	}
	for i, a := range accts {
		if used[a.Address] {
			return i
		}
	}
	return len(accts)
}

// gatewayEndpoints lists the URLs of the priced routes payable on network:
// a route with a literal path gives one, a dir route the files it serves
// (up to gatewayMaxDirEndpoints, in lexical order; dotfiles and symbolic
// links left out). A URL that an earlier route (or the health check) takes
// is left out, and so are routes with parameters or an upstream route
// ending in a wildcard, whose URLs cannot be listed.
func gatewayEndpoints(baseURL string, cfg *gateway.Config, network x402.Network) []devEndpoint {
	eps := []devEndpoint{}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		method, segs, rest, listable := routeURLParts(r.Path)
		if r.Free() || !slices.Contains(cfg.EffectiveNetworks(r), network) || !listable {
			continue
		}
		if method == "" || r.Dir != "" {
			method = http.MethodGet
		}
		add := func(segs []string) {
			path := "/" + strings.Join(segs, "/")
			if j, ok := cfg.RouteFor(method, path); !ok || j != i {
				return // an earlier route, or the health check, takes it
			}
			u := (&url.URL{Path: path}).EscapedPath()
			eps = append(eps, devEndpoint{URL: baseURL + u, Method: method, Price: r.Price, PayTo: common.HexToAddress(cfg.EffectivePayTo(r)).Hex(),
				Scheme: routeScheme(r), Policy: routePolicy(r)})
		}
		switch {
		case !rest:
			add(segs)
		case r.Dir != "":
			n := 0
			_ = filepath.WalkDir(r.Dir, func(p string, de fs.DirEntry, err error) error {
				switch {
				case err != nil:
					return nil // unreadable: not served either
				case p != r.Dir && strings.HasPrefix(de.Name(), "."):
					if de.IsDir() {
						return filepath.SkipDir
					}
					return nil
				case !de.Type().IsRegular():
					return nil
				}
				rel, err := filepath.Rel(r.Dir, p)
				if err != nil {
					return nil
				}
				add(append(slices.Clip(segs), strings.Split(filepath.ToSlash(rel), "/")...))
				if n++; n >= gatewayMaxDirEndpoints {
					return filepath.SkipAll
				}
				return nil
			})
		}
	}
	return eps
}

// routeURLParts splits a route pattern "[METHOD ]PATH" (see
// gateway.Route.Path) into its method (upper case, "" for any) and the
// path segments before a final "*" or "{name...}", as written, to build
// URLs from. listable is false when the path has parameters. Which route a
// URL reaches is the gateway's to say (gateway.Config.RouteFor).
func routeURLParts(pattern string) (method string, segs []string, rest, listable bool) {
	p := strings.TrimSpace(pattern)
	if m, tail, ok := strings.Cut(p, " "); ok {
		method, p = strings.ToUpper(m), strings.TrimSpace(tail)
	}
	for seg := range strings.SplitSeq(strings.Trim(p, "/"), "/") {
		switch {
		case seg == "":
		case seg == "*" || strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}"):
			rest = true
		case strings.HasPrefix(seg, "{") || strings.HasPrefix(seg, ":"):
			return method, nil, false, false
		default:
			segs = append(segs, seg)
		}
	}
	return method, segs, rest, true
}

// printRoutes prints the route table.
func printRoutes(w io.Writer, cfg *gateway.Config) {
	fmt.Fprintf(w, "  Routes\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		target := r.Upstream
		if r.Dir != "" {
			target = "dir " + r.Dir
		}
		price := "free"
		if !r.Free() {
			var nets []string
			for _, n := range cfg.EffectiveNetworks(r) {
				nets = append(nets, string(n))
			}
			policy := r.Policy
			if policy == "" {
				policy = gateway.PolicySettleBeforeServe
			}
			price = fmt.Sprintf("%s on %s to %s, %s", r.Price, strings.Join(nets, ", "), cfg.EffectivePayTo(r), policy)
		}
		fmt.Fprintf(tw, "    %s\t→ %s\t%s\n", r.Path, target, price)
	}
	_ = tw.Flush()
}

// routePolicy is the settlement policy of r as the info file names it.
// routeScheme is the scheme of a gateway route, as the info file names it.
func routeScheme(r *gateway.Route) string {
	if r.Scheme == "" {
		return evm.SchemeExact
	}
	return r.Scheme
}

func routePolicy(r *gateway.Route) string {
	if r.Policy == "" {
		return gateway.PolicySettleBeforeServe
	}
	return r.Policy
}
