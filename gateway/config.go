package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/net/http/httpguts"
	"gopkg.in/yaml.v3"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/routepattern"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// Defaults applied by [Parse].
const (
	DefaultListen     = "127.0.0.1:8402"
	DefaultHealthPath = "/healthz"
	DefaultLogLevel   = "info"
	DefaultLogFormat  = "text"
)

// Route policies, as written in the configuration.
const (
	PolicySettleBeforeServe = "settle-before-serve"
	PolicyServeThenSettle   = "serve-then-settle"
)

// Config is the gateway's configuration, usually read from a YAML file
// with [Load] or [Parse]. sample-gateway.yaml documents every key.
type Config struct {
	// Listen is the HTTP listen address, host:port. Key "listen"; default
	// 127.0.0.1:8402.
	Listen string
	// HealthPath answers 200 to GET and HEAD without payment. Key
	// "healthPath"; default /healthz.
	HealthPath string
	// Facilitator verifies and settles payments. Key "facilitator".
	Facilitator Facilitator
	// Networks registers networks and assets beyond the built-in
	// stablecoins (evm.DefaultNetworks). Key "networks".
	Networks []Network
	// PayTo is the address priced routes are paid to unless they name
	// their own. Key "payTo".
	PayTo string
	// Network is the CAIP-2 network priced routes are paid on unless they
	// name their own. Key "network".
	Network x402.Network
	// Queue holds the settlements of serve-then-settle routes. Key "queue".
	Queue Queue
	// MaxBufferBytes bounds the response buffered by settle-before-serve
	// routes; 0 means x402http's default (32 MiB). Key "maxBufferBytes".
	MaxBufferBytes int64
	// CORS configures the cross-origin headers of priced routes (free
	// routes answer as their upstream does). Key "cors".
	CORS CORS
	// LogLevel is debug, info, warn or error. Key "logLevel"; default info.
	LogLevel string
	// LogFormat is text or json. Key "logFormat"; default text.
	LogFormat string
	// Routes are matched in order; the first match serves the request.
	// Key "routes".
	Routes []Route

	name  string              // the configuration's name, for messages
	where map[string]location // where each key's value came from
	env   func(string) string // the environment Parse was given
}

// Facilitator selects the facilitator: a remote one (URL) or the embedded
// devnet facilitator (Embedded.Devnet), exactly one of them.
type Facilitator struct {
	// URL is the base URL of a remote facilitator, such as
	// https://x402.org/facilitator. Key "facilitator.url".
	URL string
	// APIKeyEnv names the environment variable holding a bearer token sent
	// to the remote facilitator. Key "facilitator.apiKeyEnv".
	APIKeyEnv string
	// Embedded runs an in-process facilitator. Key "facilitator.embedded".
	Embedded Embedded
}

// Embedded configures the in-process facilitator.
type Embedded struct {
	// Devnet runs an embedded development chain and a facilitator on it
	// (DEV ONLY; the same as `go402 gateway --devnet`). Key
	// "facilitator.embedded.devnet".
	Devnet bool
}

// Network registers an extra network, or replaces the assets of a built-in
// one.
type Network struct {
	// Network is the CAIP-2 id "eip155:<chain id>". Key
	// "networks[i].network".
	Network x402.Network
	// Assets are the tokens payable on it, the default (for "$" prices)
	// first. Key "networks[i].assets".
	Assets []evm.Asset
}

// CORS is the cross-origin policy of priced routes: x402http.CORS.
type CORS struct {
	// AllowOrigins are the origins (https://app.example) whose browser
	// scripts may call priced routes, or "*" for any. Empty: no
	// Access-Control-Allow-Origin is added (an upstream's is kept). Key
	// "cors.allowOrigins".
	AllowOrigins []string
	// AllowHeaders are request headers allowed in preflights besides the
	// payment headers, Content-Type and Authorization. Key
	// "cors.allowHeaders".
	AllowHeaders []string
	// AllowCredentials allows cookies and HTTP authentication. Key
	// "cors.allowCredentials".
	AllowCredentials bool
	// MaxAgeSeconds is how long browsers may cache a preflight answer; 0
	// means 600. Key "cors.maxAgeSeconds".
	MaxAgeSeconds int
}

func (c CORS) middleware() x402http.CORS {
	return x402http.CORS{
		AllowOrigins:     c.AllowOrigins,
		AllowHeaders:     c.AllowHeaders,
		AllowCredentials: c.AllowCredentials,
		MaxAge:           time.Duration(c.MaxAgeSeconds) * time.Second,
	}
}

// Queue configures the durable settlement queue.
type Queue struct {
	// SQLite is the path of the queue's SQLite file. Key "queue.sqlite".
	SQLite string
}

// Route maps requests to an upstream or a directory, with a price.
type Route struct {
	// Path is the pattern "[METHOD ]PATH" of x402http.Route.Pattern:
	// literal segments, "{name}" parameters and a final "*" or
	// "{name...}". Matching is case-insensitive, on the cleaned and
	// decoded request path. Key "routes[i].path".
	Path string
	// Upstream is the base URL requests are proxied to. Key
	// "routes[i].upstream". Exactly one of Upstream and Dir is set.
	Upstream string
	// StripPrefix removes the literal segments of Path before the first
	// wildcard or parameter from the path sent upstream. Key
	// "routes[i].stripPrefix".
	StripPrefix bool
	// Dir is a directory whose files are served; Path must be literal
	// segments followed by a final wildcard, and the rest of the request
	// path names the file. Key "routes[i].dir".
	Dir string
	// Listing enables directory listings of a Dir route. Key
	// "routes[i].listing".
	Listing bool
	// Price is what one request costs, such as "$0.001" or "0.25 USDC"; an
	// empty price makes the route free. Key "routes[i].price".
	Price string
	// PayTo overrides Config.PayTo. Key "routes[i].payTo".
	PayTo string
	// Network overrides Config.Network. Key "routes[i].network".
	Network x402.Network
	// Networks offers the price on several networks, one payment option
	// each, in order. Key "routes[i].networks". At most one of Network and
	// Networks is set.
	Networks []x402.Network
	// Description and MimeType describe the resource in the 402 answer.
	// Keys "routes[i].description" and "routes[i].mimeType".
	Description string
	MimeType    string
	// Policy is settle-before-serve (the default) or serve-then-settle
	// (which needs Config.Queue). Key "routes[i].policy".
	Policy string
	// MaxTimeoutSeconds is how long a payment authorization stays valid;
	// 0 means 300. Key "routes[i].maxTimeoutSeconds".
	MaxTimeoutSeconds int
}

// Free reports whether the route has no price.
func (r *Route) Free() bool { return r.Price == "" }

// EffectivePayTo returns the address route r is paid to: its own payTo, or
// the configuration's default.
func (c *Config) EffectivePayTo(r *Route) string {
	if r.PayTo != "" {
		return r.PayTo
	}
	return c.PayTo
}

// EffectiveNetworks returns the networks route r is paid on: its own
// network or networks, or the configuration's default network.
func (c *Config) EffectiveNetworks(r *Route) []x402.Network {
	switch {
	case len(r.Networks) > 0:
		return slices.Clone(r.Networks)
	case r.Network != "":
		return []x402.Network{r.Network}
	case c.Network != "":
		return []x402.Network{c.Network}
	}
	return nil
}

// Name returns the name the configuration was parsed under.
func (c *Config) Name() string { return c.name }

// location is where a key's value came from: a line of the file, or
// another source such as a flag.
type location struct {
	line   int
	source string
}

// FieldError is a problem with one configuration key. Its text is
// "file:line: field: message".
type FieldError struct {
	// File is the configuration's name as given to Parse.
	File string
	// Line is the line of the value (or of its closest parent when the key
	// is missing); 0 when unknown or not from the file.
	Line int
	// Source names the flag or other source of a value that did not come
	// from the file.
	Source string
	// Field is the key's path, such as "routes[1].price".
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Source != "" {
			fmt.Fprintf(&b, " (from %s)", e.Source)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// fieldError builds a FieldError for key, located where key (or its
// closest recorded parent) came from.
func (c *Config) fieldError(key, format string, args ...any) *FieldError {
	e := &FieldError{File: c.name, Field: key, Msg: fmt.Sprintf(format, args...)}
	for k := key; ; {
		if l, ok := c.where[k]; ok {
			e.Line, e.Source = l.line, l.source
			break
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return e
}

// Load reads, parses and validates a configuration file, expanding ${VAR}
// references from the process environment.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: reading the configuration: %w", err)
	}
	c, err := Parse(path, data, os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes a YAML configuration named name (the file's path: it is
// used in messages, and relative dir and queue.sqlite paths are relative
// to its directory) and applies the defaults. In string values, ${NAME} is
// replaced by env(NAME); env may be nil (no environment). Parse reports
// unknown keys, malformed values and unset variables, all at once
// (joined), each a *FieldError; call Validate for the rest.
func Parse(name string, data []byte, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := &Config{name: name, where: map[string]location{}, env: env}
	d := &decoder{cfg: c}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return nil, &FieldError{File: name, Line: line, Msg: "invalid YAML: a single document is expected (remove the second ---)"}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		d.document(doc.Content[0])
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	c.defaults()
	c.resolvePaths(filepath.Dir(name))
	return c, nil
}

// syntaxError turns "yaml: line 3: ..." into "name:3: invalid YAML: ...".
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				return &FieldError{File: name, Line: line, Msg: "invalid YAML: " + text}
			}
		}
	}
	return &FieldError{File: name, Msg: "invalid YAML: " + msg}
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.HealthPath == "" {
		c.HealthPath = DefaultHealthPath
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.LogFormat == "" {
		c.LogFormat = DefaultLogFormat
	}
	c.Network = c.Network.Canonical()
	for i := range c.Networks {
		c.Networks[i].Network = c.Networks[i].Network.Canonical()
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		r.Network = r.Network.Canonical()
		for j := range r.Networks {
			r.Networks[j] = r.Networks[j].Canonical()
		}
	}
}

// resolvePaths makes relative file paths relative to base.
func (c *Config) resolvePaths(base string) {
	if base == "." || base == "" {
		return
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.Queue.SQLite = abs(c.Queue.SQLite)
	for i := range c.Routes {
		c.Routes[i].Dir = abs(c.Routes[i].Dir)
	}
}

// Set overrides a scalar key, as a command-line flag does, and records
// source (such as "--listen") for messages. Keys: listen, healthPath,
// payTo, network, queue.sqlite, facilitator.url and
// facilitator.embedded.devnet (each of the last two replaces the other).
// Call Validate afterwards.
func (c *Config) Set(key, value, source string) error {
	if c.where == nil {
		c.where = map[string]location{}
	}
	switch key {
	case "listen":
		c.Listen = value
	case "healthPath":
		c.HealthPath = value
	case "payTo":
		c.PayTo = value
	case "network":
		c.Network = x402.Network(value).Canonical()
	case "queue.sqlite":
		c.Queue.SQLite = value
	case "facilitator.url":
		c.Facilitator = Facilitator{URL: value, APIKeyEnv: c.Facilitator.APIKeyEnv}
	case "facilitator.embedded.devnet":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return &FieldError{File: c.name, Source: source, Field: key, Msg: "must be true or false"}
		}
		c.Facilitator = Facilitator{Embedded: Embedded{Devnet: b}}
		delete(c.where, "facilitator.url")
		delete(c.where, "facilitator.apiKeyEnv")
	default:
		return &FieldError{File: c.name, Source: source, Field: key, Msg: "not a key that can be set this way"}
	}
	c.where[key] = location{source: source}
	return nil
}

// Validate checks every value without any I/O and returns all the problems
// found, joined, each a *FieldError naming the key and its line. Whether
// prices resolve on their networks is checked by [New], which knows every
// registered network.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.listen()
	if !strings.HasPrefix(c.HealthPath, "/") || c.HealthPath == "/" || strings.ContainsAny(c.HealthPath, "*{} ?#") {
		v.fail("healthPath", "must be a plain absolute path such as /healthz")
	}
	v.facilitator()
	v.networks()
	if c.PayTo != "" {
		v.address("payTo", c.PayTo)
	}
	if c.Network != "" {
		v.network("network", c.Network)
	}
	if q := c.Queue.SQLite; q == ":memory:" || strings.HasPrefix(q, "file:") || strings.Contains(q, "?") {
		v.fail("queue.sqlite", "must be a plain file path (no :memory:, file: URI or '?'): the queue must survive restarts")
	}
	if c.MaxBufferBytes < 0 {
		v.fail("maxBufferBytes", "must not be negative")
	}
	v.cors()
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		v.fail("logLevel", "must be one of debug, info, warn, error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		v.fail("logFormat", "must be text or json")
	}
	v.routes()
	return errors.Join(v.errs...)
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, v.c.fieldError(key, format, args...))
}

func (v *validator) listen() {
	host, port, err := net.SplitHostPort(v.c.Listen)
	if err != nil {
		v.fail("listen", "must be host:port, such as %s", DefaultListen)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.fail("listen", "the port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, " /") {
		v.fail("listen", "the host must be an IP address or a host name")
	}
}

func (v *validator) facilitator() {
	f := v.c.Facilitator
	priced := slices.ContainsFunc(v.c.Routes, func(r Route) bool { return !r.Free() })
	switch {
	case f.URL != "" && f.Embedded.Devnet:
		v.fail("facilitator", "set only one of url and embedded")
	case f.URL == "" && !f.Embedded.Devnet && priced:
		v.fail("facilitator", "required for priced routes: set url (a remote facilitator) or embedded: {devnet: true}")
	case f.URL != "":
		u, err := url.Parse(f.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail("facilitator.url", "must be an http:// or https:// URL")
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			v.fail("facilitator.url", "must not contain credentials, a query or a fragment (use apiKeyEnv for a token)")
		}
	}
	if f.APIKeyEnv != "" {
		switch {
		case !isEnvName(f.APIKeyEnv):
			// Never quote the value: a token pasted here must not leak.
			v.fail("facilitator.apiKeyEnv", "must be the name of an environment variable (letters, digits and _), not the token itself")
		case f.URL == "":
			v.fail("facilitator.apiKeyEnv", "is only used with url")
		}
	}
}

func (v *validator) cors() {
	c := v.c.CORS
	for i, o := range c.AllowOrigins {
		key := fmt.Sprintf("cors.allowOrigins[%d]", i)
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			v.fail(key, "must be an origin such as https://app.example (scheme and host, no path), or *")
		}
	}
	for i, h := range c.AllowHeaders {
		if !httpguts.ValidHeaderFieldName(h) {
			v.fail(fmt.Sprintf("cors.allowHeaders[%d]", i), "must be a header name such as X-Api-Key")
		}
	}
	if c.MaxAgeSeconds < 0 {
		v.fail("cors.maxAgeSeconds", "must not be negative")
	}
}

func (v *validator) networks() {
	seen := map[x402.Network]int{}
	for i, n := range v.c.Networks {
		p := fmt.Sprintf("networks[%d]", i)
		if n.Network == "" {
			v.fail(p+".network", "required (eip155:<chain id>)")
		} else if v.network(p+".network", n.Network) {
			if j, dup := seen[n.Network]; dup {
				v.fail(p+".network", "%s is already listed in networks[%d]", n.Network, j)
			}
			seen[n.Network] = i
		}
		if len(n.Assets) == 0 {
			v.fail(p+".assets", "at least one asset is required")
		}
		addrs := map[common.Address]bool{}
		for j, a := range n.Assets {
			ap := fmt.Sprintf("%s.assets[%d]", p, j)
			switch {
			case a.Address == (common.Address{}):
				v.fail(ap+".address", "required (a 0x-prefixed 20-byte hex address)")
			case addrs[a.Address]:
				v.fail(ap+".address", "%s is listed twice", a.Address.Hex())
			}
			addrs[a.Address] = true
			if a.Name == "" {
				v.fail(ap+".name", "required (the token's EIP-712 domain name, such as USDC)")
			}
			if a.Version == "" {
				v.fail(ap+".version", "required (the token's EIP-712 domain version, such as \"2\")")
			}
			if a.Decimals > 77 {
				v.fail(ap+".decimals", "must be at most 77")
			}
			if a.TransferMethod != "" && a.TransferMethod != evm.TransferEIP3009 && a.TransferMethod != evm.TransferPermit2 {
				v.fail(ap+".transferMethod", "must be %s or %s", evm.TransferEIP3009, evm.TransferPermit2)
			}
		}
	}
}

// network checks an EVM network id and reports whether it is valid.
func (v *validator) network(key string, n x402.Network) bool {
	if _, err := x402.ParseNetwork(string(n)); err != nil {
		v.fail(key, "must be a CAIP-2 network such as eip155:8453")
		return false
	}
	if id, err := n.ChainID(); err != nil || id == 0 {
		v.fail(key, "must be an EVM network, eip155:<chain id>")
		return false
	}
	return true
}

func (v *validator) address(key, s string) {
	if msg := checkAddress(s); msg != "" {
		v.fail(key, "%s", msg)
	}
}

// checkAddress returns what is wrong with an EVM address, or "".
func checkAddress(s string) string {
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") || !common.IsHexAddress(s) {
		return "must be a 0x-prefixed 20-byte hex address"
	}
	digits := s[2:]
	if digits != strings.ToLower(digits) && digits != strings.ToUpper(digits) && common.HexToAddress(s).Hex() != s {
		return fmt.Sprintf("mixed-case address with a wrong EIP-55 checksum (a typo?); the checksummed form is %s", common.HexToAddress(s).Hex())
	}
	return ""
}

func (v *validator) routes() {
	c := v.c
	if len(c.Routes) == 0 {
		v.fail("routes", "at least one route is required")
	}
	seen := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		pat, err := routepattern.Parse(r.Path)
		if err != nil {
			v.fail(p+".path", "%v", err)
		} else {
			if j, dup := seen[pat.Key()]; dup {
				v.fail(p+".path", "the same pattern as routes[%d].path: this route would never match", j)
			}
			seen[pat.Key()] = i
		}
		switch {
		case r.Upstream != "" && r.Dir != "":
			v.fail(p, "set only one of upstream and dir")
		case r.Upstream == "" && r.Dir == "":
			v.fail(p, "set upstream (a URL to proxy to) or dir (a directory to serve)")
		case r.Upstream != "":
			if msg := checkUpstream(r.Upstream); msg != "" {
				v.fail(p+".upstream", "%s", msg)
			}
			if r.Listing {
				v.fail(p+".listing", "only applies to dir routes")
			}
		default:
			if r.StripPrefix {
				v.fail(p+".stripPrefix", "only applies to upstream routes (dir routes always strip the route's prefix)")
			}
			if pat != nil {
				switch {
				case !pat.Rest || pat.Params > 0:
					v.fail(p+".path", "a dir route's path must be literal segments followed by a final * (such as /files/*)")
				case pat.Method != "" && pat.Method != "GET":
					v.fail(p+".path", "dir routes serve GET and HEAD only")
				}
			}
		}
		v.routePayment(r, p)
	}
}

func (v *validator) routePayment(r *Route, p string) {
	c := v.c
	if r.Free() {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"payTo", r.PayTo != ""},
			{"network", r.Network != ""},
			{"networks", len(r.Networks) > 0},
			{"policy", r.Policy != ""},
			{"maxTimeoutSeconds", r.MaxTimeoutSeconds != 0},
		} {
			if k.set {
				v.fail(p+"."+k.key, "only applies to priced routes (this route has no price, so it is free)")
			}
		}
		return
	}
	if price, err := x402.ParsePrice(r.Price); err != nil {
		v.fail(p+".price", "must be a price such as \"$0.001\" or \"0.25 USDC\"")
	} else if price.IsZero() {
		v.fail(p+".price", "must be more than zero (leave price out for a free route)")
	}
	if r.PayTo != "" {
		v.address(p+".payTo", r.PayTo)
	} else if c.PayTo == "" {
		v.fail(p+".payTo", "required: set payTo on the route or at the top level")
	}
	switch {
	case r.Network != "" && len(r.Networks) > 0:
		v.fail(p, "set only one of network and networks")
	case r.Network != "":
		v.network(p+".network", r.Network)
	case len(r.Networks) > 0:
		seen := map[x402.Network]bool{}
		for j, n := range r.Networks {
			k := fmt.Sprintf("%s.networks[%d]", p, j)
			if v.network(k, n) && seen[n] {
				v.fail(k, "%s is listed twice", n)
			}
			seen[n] = true
		}
	case c.Network == "":
		v.fail(p+".network", "required: set network on the route or at the top level")
	}
	switch r.Policy {
	case "", PolicySettleBeforeServe:
	case PolicyServeThenSettle:
		if c.Queue.SQLite == "" {
			v.fail(p+".policy", "serve-then-settle needs a settlement queue: set queue: {sqlite: PATH}")
		}
	default:
		v.fail(p+".policy", "must be %s or %s", PolicySettleBeforeServe, PolicyServeThenSettle)
	}
	if r.MaxTimeoutSeconds < 0 {
		v.fail(p+".maxTimeoutSeconds", "must not be negative")
	}
}

// checkUpstream returns what is wrong with an upstream URL, or "".
func checkUpstream(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "must be an http:// or https:// URL"
	case u.User != nil:
		return "must not contain credentials"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not contain a query or a fragment"
	}
	return ""
}

// isEnvName reports whether s is a portable environment variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// decoder walks the YAML node tree into a Config, recording the line of
// every key and collecting errors.
type decoder struct {
	cfg  *Config
	errs []error
}

// handlers maps the keys of a mapping to their decoders.
type handlers map[string]func(v *yaml.Node, path string)

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{File: d.cfg.name, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) mark(path string, line int) { d.cfg.where[path] = location{line: line} }

// follow resolves aliases.
func follow(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") }

func childPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// mapping decodes a mapping whose keys must all be in hs, once each. A
// null value leaves the key unset.
func (d *decoder) mapping(n *yaml.Node, path string, hs handlers) {
	n = follow(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := path
		if what == "" {
			what = "the top level"
		}
		d.fail(n, path, "%s must be a mapping of keys to values", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, raw := n.Content[i], n.Content[i+1]
		val := follow(raw)
		p := childPath(path, k.Value)
		h, ok := hs[k.Value]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.fail(k, path, "keys must be plain names")
			continue
		case !ok:
			d.fail(k, p, "unknown key%s", hs.suggest(k.Value))
			continue
		case seen[k.Value]:
			d.fail(k, p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		if isNull(val) {
			continue
		}
		d.mark(p, k.Line)
		h(val, p)
		if raw.Kind == yaml.AliasNode {
			d.relocate(p, k.Line)
		}
	}
}

// relocate reports everything decoded under path (through an alias) at
// line, where the alias is used.
func (d *decoder) relocate(path string, line int) {
	for k, l := range d.cfg.where {
		if l.line > 0 && (strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[")) {
			d.cfg.where[k] = location{line: line}
		}
	}
}

// suggest returns " (did you mean X?)" for a near miss, or the known keys.
func (hs handlers) suggest(key string) string {
	names := make([]string, 0, len(hs))
	for k := range hs {
		names = append(names, k)
	}
	slices.Sort(names)
	lk := strings.ToLower(key)
	for _, k := range names {
		lo := strings.ToLower(k)
		if lo == lk || (len(lk) >= 4 && (strings.HasPrefix(lo, lk) || strings.HasPrefix(lk, lo) || editDistance(lo, lk) <= 2)) {
			return fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) list(n *yaml.Node, path string, item func(v *yaml.Node, path string)) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list (- item lines, or [a, b])")
		return
	}
	for i, raw := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.mark(p, raw.Line)
		item(follow(raw), p)
		if raw.Kind == yaml.AliasNode {
			d.relocate(p, raw.Line)
		}
	}
}

// str decodes a scalar, expanding ${VAR} references.
func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be a single value, not a list or mapping")
		return
	}
	*dst = d.expand(n, path, n.Value)
}

// strings decodes a list of scalars.
func (d *decoder) strings(n *yaml.Node, path string, dst *[]string) {
	d.list(n, path, func(v *yaml.Node, p string) {
		var s string
		d.str(v, p, &s)
		*dst = append(*dst, s)
	})
}

func (d *decoder) network(n *yaml.Node, path string, dst *x402.Network) {
	var s string
	d.str(n, path, &s)
	*dst = x402.Network(s)
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	var s string
	d.str(n, path, &s)
	if n.Kind != yaml.ScalarNode {
		return
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		d.fail(n, path, "must be true or false")
		return
	}
	*dst = b
}

func (d *decoder) integer(n *yaml.Node, path string, bits int, dst func(int64)) {
	var s string
	d.str(n, path, &s)
	if n.Kind != yaml.ScalarNode {
		return
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		d.fail(n, path, "must be a decimal integer")
		return
	}
	dst(v)
}

// expand replaces ${NAME} by the environment variable NAME; "$${" is a
// literal "${". An unset or empty variable is an error.
func (d *decoder) expand(n *yaml.Node, path, s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			d.fail(n, path, "unterminated ${ (write $${ for a literal ${)")
			return b.String()
		}
		name := s[i+2 : i+end]
		switch val := d.cfg.env(name); {
		case !isEnvName(name):
			d.fail(n, path, "${...} must hold an environment variable name")
		case val == "":
			d.fail(n, path, "environment variable %s (referenced as ${%s}) is not set", name, name)
		default:
			b.WriteString(val)
		}
		s = s[i+end+1:]
	}
}

// document decodes the top-level mapping.
func (d *decoder) document(n *yaml.Node) {
	c := d.cfg
	d.mapping(n, "", handlers{
		"listen":     func(v *yaml.Node, p string) { d.str(v, p, &c.Listen) },
		"healthPath": func(v *yaml.Node, p string) { d.str(v, p, &c.HealthPath) },
		"facilitator": func(v *yaml.Node, p string) {
			f := &c.Facilitator
			d.mapping(v, p, handlers{
				"url":       func(v *yaml.Node, p string) { d.str(v, p, &f.URL) },
				"apiKeyEnv": func(v *yaml.Node, p string) { d.str(v, p, &f.APIKeyEnv) },
				"embedded": func(v *yaml.Node, p string) {
					d.mapping(v, p, handlers{
						"devnet": func(v *yaml.Node, p string) { d.boolean(v, p, &f.Embedded.Devnet) },
					})
				},
			})
		},
		"networks": func(v *yaml.Node, p string) {
			d.list(v, p, func(v *yaml.Node, p string) { c.Networks = append(c.Networks, d.extraNetwork(v, p)) })
		},
		"payTo":   func(v *yaml.Node, p string) { d.str(v, p, &c.PayTo) },
		"network": func(v *yaml.Node, p string) { d.network(v, p, &c.Network) },
		"queue": func(v *yaml.Node, p string) {
			d.mapping(v, p, handlers{
				"sqlite": func(v *yaml.Node, p string) { d.str(v, p, &c.Queue.SQLite) },
			})
		},
		"maxBufferBytes": func(v *yaml.Node, p string) { d.integer(v, p, 64, func(x int64) { c.MaxBufferBytes = x }) },
		"cors": func(v *yaml.Node, p string) {
			cors := &c.CORS
			d.mapping(v, p, handlers{
				"allowOrigins":     func(v *yaml.Node, p string) { d.strings(v, p, &cors.AllowOrigins) },
				"allowHeaders":     func(v *yaml.Node, p string) { d.strings(v, p, &cors.AllowHeaders) },
				"allowCredentials": func(v *yaml.Node, p string) { d.boolean(v, p, &cors.AllowCredentials) },
				"maxAgeSeconds": func(v *yaml.Node, p string) {
					d.integer(v, p, 32, func(x int64) { cors.MaxAgeSeconds = int(x) })
				},
			})
		},
		"logLevel":  func(v *yaml.Node, p string) { d.str(v, p, &c.LogLevel) },
		"logFormat": func(v *yaml.Node, p string) { d.str(v, p, &c.LogFormat) },
		"routes": func(v *yaml.Node, p string) {
			d.list(v, p, func(v *yaml.Node, p string) { c.Routes = append(c.Routes, d.route(v, p)) })
		},
	})
}

func (d *decoder) route(n *yaml.Node, path string) Route {
	var r Route
	d.mapping(n, path, handlers{
		"path":        func(v *yaml.Node, p string) { d.str(v, p, &r.Path) },
		"upstream":    func(v *yaml.Node, p string) { d.str(v, p, &r.Upstream) },
		"stripPrefix": func(v *yaml.Node, p string) { d.boolean(v, p, &r.StripPrefix) },
		"dir":         func(v *yaml.Node, p string) { d.str(v, p, &r.Dir) },
		"listing":     func(v *yaml.Node, p string) { d.boolean(v, p, &r.Listing) },
		"price":       func(v *yaml.Node, p string) { d.str(v, p, &r.Price) },
		"payTo":       func(v *yaml.Node, p string) { d.str(v, p, &r.PayTo) },
		"network":     func(v *yaml.Node, p string) { d.network(v, p, &r.Network) },
		"networks": func(v *yaml.Node, p string) {
			d.list(v, p, func(v *yaml.Node, p string) {
				var n x402.Network
				d.network(v, p, &n)
				r.Networks = append(r.Networks, n)
			})
		},
		"description": func(v *yaml.Node, p string) { d.str(v, p, &r.Description) },
		"mimeType":    func(v *yaml.Node, p string) { d.str(v, p, &r.MimeType) },
		"policy":      func(v *yaml.Node, p string) { d.str(v, p, &r.Policy) },
		"maxTimeoutSeconds": func(v *yaml.Node, p string) {
			d.integer(v, p, 32, func(x int64) { r.MaxTimeoutSeconds = int(x) })
		},
	})
	return r
}

func (d *decoder) extraNetwork(n *yaml.Node, path string) Network {
	var net Network
	d.mapping(n, path, handlers{
		"network": func(v *yaml.Node, p string) { d.network(v, p, &net.Network) },
		"assets": func(v *yaml.Node, p string) {
			d.list(v, p, func(v *yaml.Node, p string) { net.Assets = append(net.Assets, d.asset(v, p)) })
		},
	})
	return net
}

func (d *decoder) asset(n *yaml.Node, path string) evm.Asset {
	var a evm.Asset
	d.mapping(n, path, handlers{
		"address": func(v *yaml.Node, p string) {
			var s string
			d.str(v, p, &s)
			if v.Kind != yaml.ScalarNode {
				return
			}
			if msg := checkAddress(s); msg != "" {
				d.fail(v, p, "%s", msg)
				return
			}
			a.Address = common.HexToAddress(s)
		},
		"name":           func(v *yaml.Node, p string) { d.str(v, p, &a.Name) },
		"version":        func(v *yaml.Node, p string) { d.str(v, p, &a.Version) },
		"symbol":         func(v *yaml.Node, p string) { d.str(v, p, &a.Symbol) },
		"transferMethod": func(v *yaml.Node, p string) { d.str(v, p, &a.TransferMethod) },
		"decimals": func(v *yaml.Node, p string) {
			d.integer(v, p, 16, func(x int64) {
				if x < 0 || x > 255 {
					d.fail(v, p, "must be from 0 to 77")
					return
				}
				a.Decimals = uint8(x)
			})
		},
	})
	return a
}
