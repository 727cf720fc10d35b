package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/yamlconf"
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

// Payment-identifier modes of a route (routes[i].paymentIdentifier).
const (
	PaymentIDOptional = "optional"
	PaymentIDRequired = "required"
)

// Config is the gateway's configuration, usually read from a YAML file
// with [Load] or [Parse]. sample-gateway.yaml documents every key.
//
// The file is decoded by the shared kit, internal/yamlconf, as the
// facilitator's is: unknown keys are errors with a did-you-mean
// suggestion, ${NAME} in string values is replaced by the environment
// variable NAME, and the environment overrides the keys listed by
// [EnvOverrides], each with the variable GO402_ and the key's path in
// upper snake case (GO402_LISTEN, GO402_LOG_LEVEL, GO402_PAY_TO...).
type Config struct {
	// Listen is the HTTP listen address, host:port. Key "listen"; default
	// 127.0.0.1:8402.
	Listen string
	// MetricsListen, if set, is a second host:port serving only GET
	// /metrics (Prometheus), which the gateway serves on Listen too. Key
	// "metricsListen"; a reload does not move it.
	MetricsListen string
	// HealthPath answers 200 to GET and HEAD without payment, as /health
	// (LivenessPath) does. Deprecated: probe /health (liveness) and /ready
	// (readiness), which every gateway serves; this alias is kept for
	// existing load balancer settings. Key "healthPath"; default /healthz.
	HealthPath string
	// Facilitator verifies and settles payments. Key "facilitator".
	Facilitator Facilitator
	// Facilitators lists remote facilitators used in order, the next
	// when one is unreachable (see package facilitator/failover), instead
	// of Facilitator. Key "facilitators": a list whose items are a URL or
	// a mapping {url, apiKeyEnv, reservesFunds} (Embedded is not used).
	Facilitators []Facilitator
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
	// Timeouts bounds the HTTP server's connections. Key "timeouts".
	Timeouts Timeouts
	// RateLimits are the limits priced routes share and the trusted
	// proxies (see ratelimit.go). Key "rateLimits".
	RateLimits RateLimits
	// LogLevel is debug, info, warn or error. Key "logLevel"; default info.
	LogLevel string
	// LogFormat is text or json. Key "logFormat"; default text.
	LogFormat string
	// Routes are matched in order; the first match serves the request.
	// Key "routes".
	Routes []Route
	// Channels configures batch-settlement routes' payment channels. Key
	// "channels".
	Channels Channels

	name    string                // the configuration's name, for messages
	origins yamlconf.Origins      // where each key's value came from
	env     func(string) string   // the environment Parse was given
	limiter *x402http.RateLimiter // the shared rate limits, built by New
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
	// ReservesFunds says that the remote facilitator reserves a payer's
	// funds between verify and settle (a go402 facilitator does; x402.org
	// does not): serve-then-settle routes then serve a payer more than
	// one unsettled payment at a time. Key "facilitator.reservesFunds";
	// default false.
	ReservesFunds bool
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
	// SQLite is the path of the queue's SQLite file, for the gateway
	// processes of one host. Key "queue.sqlite".
	SQLite string
	// Postgres is a PostgreSQL connection string (x402http/pgqueue), for
	// gateway replicas on several hosts sharing the queue and the claims
	// of payments. At most one of SQLite and Postgres. Key
	// "queue.postgres".
	Postgres string
	// PostgresSchema is the PostgreSQL schema holding the queue's tables;
	// empty: the connection's search_path. Key "queue.postgresSchema".
	PostgresSchema string
	// LeaseSeconds is how long a replica holds a queued settlement it is
	// settling before another may take it over (the first died). If
	// zero, 180. Key "queue.leaseSeconds".
	LeaseSeconds int
	// Workers is how many queued settlements are settled at once. If
	// zero, 16 (x402http.DefaultSettleWorkers). Key "queue.workers".
	Workers int
	// BackPressure is the share (0 to 1) of its authorization's time the
	// oldest queued settlement may have used before serve-then-settle
	// routes answer new payments 503 with Retry-After. If zero, 0.5
	// (x402http.DefaultBackPressure); 1 turns it off. Key
	// "queue.backPressure".
	BackPressure float64
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
	// ShadowsPriced, on a free route, says that it is meant to match
	// requests a priced route matches too (such as a free /api/* after a
	// priced GET /api/premium, or a free catch-all /*); without it such a
	// route is refused. Key "routes[i].shadowsPriced".
	ShadowsPriced bool
	// Price is what one request costs, such as "$0.001" or "0.25 USDC"; an
	// empty price makes the route free. Key "routes[i].price".
	Price string
	// Scheme is how the route is paid: "exact" (the default, one
	// on-chain transfer per request), "batch-settlement" (payment
	// channels: one deposit, then an off-chain voucher per request,
	// verified locally and claimed in batches; needs Config.Channels) or
	// "upto" (metered: Price is the maximum a payment authorizes, and the
	// answer is charged what its upstream reports it used, see Metering).
	// Key "routes[i].scheme".
	Scheme string
	// Metering reads the usage of an upto route's answers. Key
	// "routes[i].metering".
	Metering Metering
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
	// Charge lists the classes of upstream statuses that are charged,
	// among "2xx", "3xx", "4xx" and "5xx". nil means 2xx and 3xx (a
	// success, a redirect, 304 Not Modified). An answer not charged is
	// not settled, and its payment buys no other response. Key
	// "routes[i].charge", such as [2xx].
	Charge []string
	// Discoverable declares the route in the bazaar extension of its 402,
	// so that the facilitator that settles its payments lists it (GET
	// /discovery/resources); Discovery says how it is called. Keys
	// "routes[i].discoverable" and "routes[i].discovery" (see discovery.go).
	Discoverable bool
	Discovery    Discovery
	// RateLimits are the route's own limits and free tier (priced routes
	// only). Key "routes[i].rateLimits".
	RateLimits RouteLimits
	// PaymentIdentifier declares the payment-identifier extension:
	// "optional" or "required" (an id is then mandatory); "" does not
	// declare it. A payment carrying an id is answered once: its resend
	// (the answer lost) gets the first response and receipt back without
	// a second settlement. Key "routes[i].paymentIdentifier".
	PaymentIdentifier string
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

// FieldError is a problem with one configuration key: "file:line: field:
// message", or "file: field (from SOURCE): message" for a value that came
// from an environment variable or a flag.
type FieldError = yamlconf.FieldError

// fieldError builds a FieldError for key, located where key (or its
// closest recorded parent) came from.
func (c *Config) fieldError(key, format string, args ...any) *FieldError {
	return c.origins.Errorf(key, format, args...)
}

// Load reads, parses and validates a configuration file, expanding ${VAR}
// references and applying the environment overrides from the process
// environment.
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
// used in messages, and relative dir and queue.sqlite paths in the file
// are relative to its directory), applies the environment overrides read
// through env (see [EnvOverrides]; paths from the environment are
// relative to the working directory) and the defaults. In string values,
// ${NAME} is replaced by env(NAME); env may be nil (no environment). Parse
// reports unknown keys, malformed values and unset variables, all at once
// (joined), each a *FieldError; call Validate for the rest.
func Parse(name string, data []byte, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := &Config{name: name, origins: yamlconf.Origins{File: name}, env: env}
	if err := yamlconf.Parse(&c.origins, data, env, c.schema(filepath.Dir(name)), envOverrides, c.Set); err != nil {
		return nil, err
	}
	c.defaults()
	return c, nil
}

// envOverrides are the keys the environment overrides, in the order they
// are applied (see [yamlconf.EnvName] for the variables' names).
var envOverrides = yamlconf.Env{
	Keys: []string{
		"listen", "metricsListen", "healthPath", "logLevel", "logFormat", "payTo", "network", "queue.sqlite",
		"queue.postgres", "facilitator.url", "facilitator.apiKeyEnv", "facilitator.embedded.devnet",
	},
	Exclusive: [][]string{{"facilitator.url", "facilitator.embedded.devnet"}, {"queue.sqlite", "queue.postgres"}},
}

// EnvOverrides lists the environment variables Parse reads and the key
// each overrides, in the order they are applied. Each variable is GO402_
// and the key's path in upper snake case, such as GO402_LISTEN for listen
// and GO402_FACILITATOR_EMBEDDED_DEVNET for facilitator.embedded.devnet;
// the facilitator command follows the same rule.
func EnvOverrides() [][2]string {
	o := make([][2]string, len(envOverrides.Keys))
	for i, k := range envOverrides.Keys {
		o[i] = [2]string{yamlconf.EnvName(k), k}
	}
	return o
}

func (c *Config) defaults() {
	c.Timeouts.defaults()
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
		if r.upto() && r.Metering.Header == "" {
			r.Metering.Header = DefaultUsageHeader
		}
		for j := range r.Networks {
			r.Networks[j] = r.Networks[j].Canonical()
		}
	}
}

// Set overrides a scalar key, as an environment variable or a command-line
// flag does, and records source (such as "--listen") for messages. Keys:
// listen, healthPath, logLevel, logFormat, payTo, network, queue.sqlite,
// queue.postgres (each replaces the other),
// facilitator.url, facilitator.apiKeyEnv and facilitator.embedded.devnet
// (facilitator.url replaces an embedded facilitator and a facilitators
// list, and facilitator.embedded.devnet true replaces a remote one and
// the list). Call Validate afterwards.
func (c *Config) Set(key, value, source string) error {
	switch key {
	case "listen":
		c.Listen = value
	case "metricsListen":
		c.MetricsListen = value
	case "healthPath":
		c.HealthPath = value
	case "logLevel":
		c.LogLevel = value
	case "logFormat":
		c.LogFormat = value
	case "payTo":
		c.PayTo = value
	case "network":
		c.Network = x402.Network(value).Canonical()
	case "queue.sqlite":
		c.Queue.SQLite, c.Queue.Postgres = value, ""
	case "queue.postgres":
		c.Queue.Postgres, c.Queue.SQLite = value, ""
	case "facilitator.url":
		c.Facilitator = Facilitator{URL: value, APIKeyEnv: c.Facilitator.APIKeyEnv, ReservesFunds: c.Facilitator.ReservesFunds}
		c.origins.Forget("facilitator.embedded")
		c.forgetFacilitators()
	case "facilitator.apiKeyEnv":
		c.Facilitator.APIKeyEnv = value
	case "facilitator.embedded.devnet":
		b, err := yamlconf.ParseBool(value)
		if err != nil {
			return &FieldError{File: c.name, Source: source, Field: key, Msg: err.Error()}
		}
		if !b {
			c.Facilitator.Embedded.Devnet = false
			break
		}
		c.Facilitator = Facilitator{Embedded: Embedded{Devnet: true}}
		c.origins.Forget("facilitator.url")
		c.origins.Forget("facilitator.apiKeyEnv")
		c.forgetFacilitators()
	default:
		return &FieldError{File: c.name, Source: source, Field: key, Msg: "not a key that can be set this way"}
	}
	c.origins.Record(key, yamlconf.Origin{Source: source})
	return nil
}
