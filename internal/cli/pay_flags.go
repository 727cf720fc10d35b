package cli

import (
	"flag"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

// payOptions are the parsed flags of go402 pay.
type payOptions struct {
	url        *url.URL
	method     string
	headers    http.Header
	host       string
	data       []string
	output     string
	include    bool
	max        string
	budget     string
	budgetFile string
	networks   []x402.Network
	dryRun     bool
	unsafeDry  bool
	json       bool
	verbose    bool
	devnetInfo string
	assetsFile string
	assets     []client.Asset // declared with --asset
	timeout    time.Duration
	validity   time.Duration
	rpc        map[x402.Network]string // --rpc, and a devnet's endpoint
	keys       keyFlags
	// Payment channels (batch-settlement): see pay_channels.go.
	channelFile  string
	listChannels bool
	refund       string
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// defaultPayMax caps what `go402 pay` pays per request unless --max says
// otherwise.
const defaultPayMax = "$0.10"

// payFlagLists are the repeatable flags of go402 pay, as given.
type payFlagLists struct {
	headers, data, networks, assets, rpc listFlag
}

func parsePayFlags(e env, args []string) (*payOptions, error) {
	o := &payOptions{}
	var l payFlagLists
	fs := newPayFlagSet(e, o, &l)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if err := o.keys.check(fs); err != nil {
		return nil, err
	}
	if o.listChannels || o.refund != "" {
		return o, o.checkChannelFlags(pos, l.rpc)
	}
	if o.url, err = parsePayURL(pos); err != nil {
		return nil, err
	}
	if err := o.setRequest(l.headers, l.data); err != nil {
		return nil, err
	}
	if err := o.setPolicy(l.networks, l.assets); err != nil {
		return nil, err
	}
	if err := o.setRPC(l.rpc); err != nil {
		return nil, err
	}
	if err := o.checkCombinations(); err != nil {
		return nil, err
	}
	if o.output == "-" {
		o.output = ""
	}
	return o, nil
}

// newPayFlagSet declares the flags of go402 pay, to be parsed into o and l.
func newPayFlagSet(e env, o *payOptions, l *payFlagLists) *flag.FlagSet {
	fs := newFlagSet(e, "pay", payUsage)
	fs.StringVar(&o.method, "X", "", "HTTP `method` (default GET, or POST with -d)")
	fs.Var(&l.headers, "H", "request header `'Name: value'` (repeatable)")
	fs.Var(&l.data, "d", "request `body`: text, @FILE to read a file or @- to read standard input; sent as is, with Content-Type application/x-www-form-urlencoded unless -H sets one; repeated -d are joined with &")
	fs.Var(&l.data, "data", "same as -d")
	fs.StringVar(&o.output, "o", "", "write the response body to `file` instead of standard output (- means standard output)")
	fs.BoolVar(&o.include, "i", false, "print the status line and the response headers on standard output before the body")
	fs.StringVar(&o.max, "max", defaultPayMax, "most to pay for this request, a `price` such as $0.05 or \"0.05 USDC\"; a payer is never asked to trust the server's price blindly")
	fs.StringVar(&o.budget, "budget", "", "most to pay in total, a `price`; with --budget-file, across runs")
	fs.StringVar(&o.budgetFile, "budget-file", "", "`file` recording what was spent, so that --budget holds across runs")
	fs.Var(&l.networks, "allow-network", "only pay on this CAIP-2 `network`, such as eip155:8453 or eip155:* (repeatable; default any known network)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the price and whether the policy allows it; pay and sign nothing (the request is sent once, unpaid: GET and HEAD only)")
	fs.BoolVar(&o.unsafeDry, "unsafe-dry-run", false, "allow --dry-run with another method than GET or HEAD, although the unpaid request reaches the server, which may act on it")
	fs.BoolVar(&o.json, "json", false, "print one JSON object on standard output (see above)")
	fs.BoolVar(&o.verbose, "v", false, "log the payment steps on standard error (never keys or signatures)")
	fs.StringVar(&o.devnetInfo, "devnet-info", "", "JSON `file` written by --info-file of go402 devnet, dev, facilitator --devnet or gateway --devnet: adds that devnet and its test USDC to the known networks")
	fs.Var(&l.assets, "asset", "declare a `token` payable, NETWORK/ADDRESS:DECIMALS[,symbol=SYM][,name=NAME][,version=VER][,usd] (repeatable; see above)")
	fs.StringVar(&o.assetsFile, "assets", os.Getenv("GO402_ASSETS"), "JSON `file` of declared tokens (see above); default $GO402_ASSETS")
	fs.Var(&l.rpc, "rpc", "JSON-RPC endpoint of a network, `NETWORK=URL` such as eip155:8453=https://..., to read whether a payment the server did not confirm was used (repeatable; --devnet-info gives the devnet's)")
	fs.DurationVar(&o.validity, "max-validity", client.DefaultMaxValidity, "sign payments valid for at most this `duration` (the server's maxTimeoutSeconds if shorter)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this `duration` (the whole exchange, payment included)")
	o.keys.register(fs)
	registerChannelFlags(fs, o)
	return fs
}

// parsePayURL checks the positional arguments: exactly one absolute
// http or https URL.
func parsePayURL(pos []string) (*url.URL, error) {
	switch len(pos) {
	case 0:
		return nil, usagef("missing URL")
	case 1:
	default:
		return nil, usagef("one URL only; unexpected arguments: %s", strings.Join(pos[1:], " "))
	}
	u, err := url.Parse(pos[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("URL %q: want an absolute http:// or https:// URL", pos[0])
	}
	return u, nil
}

// setRequest checks and records the request flags: -H, -d, -X and what
// --dry-run may send.
func (o *payOptions) setRequest(headers, data []string) error {
	o.headers = http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !httpguts.ValidHeaderFieldName(name) || strings.ContainsAny(value, "\r\n\x00") {
			return usagef("-H %q: want 'Name: value'", h)
		}
		if strings.EqualFold(name, "Host") {
			o.host = value
			continue
		}
		o.headers.Add(name, value)
	}
	o.data = data
	if o.method == "" {
		o.method = http.MethodGet
		if len(data) > 0 {
			o.method = http.MethodPost
		}
	}
	if !httpguts.ValidHeaderFieldName(o.method) {
		return usagef("-X %q is not an HTTP method", o.method)
	}
	if o.dryRun && !o.unsafeDry && o.method != http.MethodGet && o.method != http.MethodHead {
		return usagef("--dry-run sends the request unpaid to learn its price, and a %s may change something on a server that does not ask for payment: add --unsafe-dry-run to send it anyway", o.method)
	}
	if o.unsafeDry && !o.dryRun {
		return usagef("--unsafe-dry-run only applies with --dry-run")
	}
	return nil
}

// setPolicy checks and records the policy flags: --allow-network,
// --asset, --max and --budget.
func (o *payOptions) setPolicy(networks, assets []string) error {
	for _, n := range networks {
		nw, err := x402.ParseNetworkPattern(n)
		if err != nil {
			return usagef("--allow-network: %v", err)
		}
		o.networks = append(o.networks, nw)
	}
	for _, spec := range assets {
		a, err := client.ParseAsset(spec)
		if err != nil {
			return usagef("--asset: %v", err)
		}
		o.assets = append(o.assets, a)
	}
	for _, p := range []struct {
		flag string
		v    *string
	}{{"max", &o.max}, {"budget", &o.budget}} {
		v, err := expandAtomic(*p.v, o.assets)
		if err != nil {
			return usagef("--%s: %v", p.flag, err)
		}
		*p.v = v
	}
	if err := (client.Policy{MaxPerRequest: o.max, Budget: o.budget}).Validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// setRPC checks and records the --rpc endpoints.
func (o *payOptions) setRPC(specs []string) error {
	for _, spec := range specs {
		n, u, ok := strings.Cut(spec, "=")
		nw, err := x402.ParseNetwork(strings.TrimSpace(n))
		switch {
		case !ok || err != nil || nw.Namespace() != x402.NamespaceEIP155:
			return usagef("--rpc %q: want NETWORK=URL with an EVM network, such as eip155:8453=https://...", n)
		case !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://"):
			return usagef("--rpc for %s: want an http(s) or ws(s) URL", nw)
		}
		if o.rpc == nil {
			o.rpc = map[x402.Network]string{}
		}
		o.rpc[nw.Canonical()] = u
	}
	return nil
}

// checkCombinations refuses flags that make no sense together or alone.
func (o *payOptions) checkCombinations() error {
	switch {
	case o.budgetFile != "" && o.budget == "":
		return usagef("--budget-file needs --budget")
	case o.timeout < 0:
		return usagef("--timeout must not be negative")
	case o.validity < time.Second:
		return usagef("--max-validity must be at least 1s")
	case o.json && o.output == "-":
		return usagef("-o - and --json both write to standard output")
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, as curl allows; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
