package gateway_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

func TestSampleConfig(t *testing.T) {
	data, err := os.ReadFile("sample-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := gateway.Parse("sample-gateway.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != gateway.DefaultListen || c.HealthPath != "/healthz" || c.Facilitator.URL != "https://x402.org/facilitator" || len(c.Routes) != 3 {
		t.Fatalf("sample: %+v", c)
	}
	if r := c.Routes[1]; r.Dir != "./reports" || r.Price != "$0.05" || r.MimeType != "application/pdf" || r.Policy != gateway.PolicySettleBeforeServe {
		t.Fatalf("sample reports route: %+v", r)
	}
	if !c.Routes[2].Free() {
		t.Fatal("the sample's last route should be free")
	}
	// Every key is documented in the sample (set or commented out).
	for _, key := range []string{
		"listen:", "healthPath:", "facilitator:", "url:", "apiKeyEnv:", "reservesFunds:", "embedded:", "devnet:",
		"networks:", "network:", "assets:", "address:", "name:", "version:", "decimals:", "symbol:", "transferMethod:",
		"payTo:", "queue:", "sqlite:", "workers:", "backPressure:", "maxBufferBytes:", "logLevel:", "logFormat:",
		"routes:", "path:", "upstream:", "stripPrefix:", "dir:", "listing:", "price:", "description:", "mimeType:",
		"policy:", "maxTimeoutSeconds:", "charge:", "cors:", "allowOrigins:", "allowHeaders:", "allowCredentials:", "maxAgeSeconds:",
		"channels:", "postgres:", "receiverAuthorizerKeyEnv:", "withdrawDelaySeconds:", "claimIntervalSeconds:", "claimIdleSeconds:",
		"claimThreshold:", "scheme:", "metering:", "header:", "unitPrice:",
		"rateLimits:", "trustedProxies:", "perIP:", "perPayer:", "free:", "maxEntries:", "requests:", "per:", "burst:", "window:",
	} {
		if !strings.Contains(string(data), key) {
			t.Errorf("sample-gateway.yaml does not document %s", key)
		}
	}
	// It builds: the remote facilitator client is not contacted, and the
	// missing reports directory only answers 404.
	c2, err := gateway.Parse(filepath.Join(t.TempDir(), "gw.yaml"), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(t.Context(), c2, gateway.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Close()
}

func TestParseDefaults(t *testing.T) {
	c, err := gateway.Parse("/etc/go402/gw.yaml", []byte(`
network: base-sepolia
payTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c
facilitator: {url: "${FAC}/facilitator", apiKeyEnv: TOKEN}
queue: {sqlite: queue.db, workers: 4, backPressure: 0.25}
routes:
  - {path: /files/*, dir: files, price: "0.25 USDC", networks: [base-sepolia, eip155:8453]}
`), func(k string) string {
		if k == "FAC" {
			return "https://fac.example"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	switch {
	case c.Listen != gateway.DefaultListen, c.HealthPath != gateway.DefaultHealthPath, c.LogLevel != "info", c.LogFormat != "text":
		t.Errorf("defaults: %+v", c)
	case c.Network != "eip155:84532":
		t.Errorf("network %s", c.Network)
	case c.Facilitator.URL != "https://fac.example/facilitator":
		t.Errorf("url %s", c.Facilitator.URL)
	case c.Queue.SQLite != "/etc/go402/queue.db", c.Routes[0].Dir != "/etc/go402/files":
		t.Errorf("paths not relative to the file: %s %s", c.Queue.SQLite, c.Routes[0].Dir)
	case c.Queue.Workers != 4, c.Queue.BackPressure != 0.25:
		t.Errorf("queue %+v", c.Queue)
	}
	nets := c.EffectiveNetworks(&c.Routes[0])
	if len(nets) != 2 || nets[0] != "eip155:84532" || nets[1] != "eip155:8453" {
		t.Errorf("networks %v", nets)
	}
	if c.EffectivePayTo(&c.Routes[0]) != c.PayTo {
		t.Error("payTo default")
	}
	if err := c.Set("listen", "bad", "--listen"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "listen (from --listen): must be host:port") {
		t.Errorf("override error: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	const head = "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"syntax", "routes: [", "gw.yaml:1: invalid YAML"},
		{"two documents", "listen: a\n---\nlisten: b\n", "a single document is expected"},
		{"unknown key", head + "routez: []\n", "gw.yaml:4: routez: unknown key"},
		{"suggestion", head + "routes:\n  - path: /a\n    upstream: http://u\n    Price: $1\n", "gw.yaml:7: routes[0].Price: unknown key (did you mean price?)"},
		{"duplicate key", head + "listen: a:1\nlisten: b:2\n", "gw.yaml:5: listen: duplicate key"},
		{"not a mapping", "facilitator: [a]\n", "gw.yaml:1: facilitator: facilitator must be a mapping"},
		{"not a list", head + "routes: {path: /a}\n", "gw.yaml:4: routes: must be a list"},
		{"scalar expected", "payTo: [a]\n", "gw.yaml:1: payTo: must be a single value"},
		{"bool", head + "routes:\n  - path: /a\n    upstream: http://u\n    stripPrefix: maybe\n", "gw.yaml:7: routes[0].stripPrefix: must be true or false"},
		{"int", head + "maxBufferBytes: lots\n", "gw.yaml:4: maxBufferBytes: must be a decimal integer"},
		{"unset variable", head + "routes:\n  - path: /a\n    upstream: ${UPSTREAM}\n", "gw.yaml:6: routes[0].upstream: environment variable UPSTREAM (referenced as ${UPSTREAM}) is not set"},
		{"asset address", head + "networks:\n  - network: eip155:1\n    assets: [{address: 0x12, name: A, version: '1'}]\n", "gw.yaml:6: networks[0].assets[0].address: must be a 0x-prefixed"},
		{"bad checksum", "payTo: 0x209693Bc6afc0C5328bA36FaF03C514EF312287c\n", "gw.yaml:1: payTo: mixed-case address with a wrong EIP-55 checksum"},
		// Validate.
		{"no routes", head, "gw.yaml: routes: at least one route is required"},
		{"asset rules shared with the facilitator", head + "networks:\n  - network: eip155:1\n    assets: [{address: '0x036CbD53842c5426634e7929541eC2318f3dCF7e', name: A, version: '1', decimals: 78}]\nroutes: [{path: /a, upstream: http://u}]\n", "networks[0].assets[0].decimals: must be at most 77"},
		{"cors any origin with credentials", head + "cors: {allowOrigins: ['*'], allowCredentials: true}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: cors.allowCredentials: cannot go with allowOrigins \"*\""},
		{"listen", head + "listen: nowhere\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: listen: must be host:port"},
		{"health", head + "healthPath: healthz\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: healthPath: must be a plain absolute path"},
		{"no target", head + "routes:\n  - path: /a\n    price: $1\n", "gw.yaml:5: routes[0]: set upstream"},
		{"both targets", head + "routes:\n  - path: /a/*\n    dir: x\n    upstream: http://u\n", "gw.yaml:5: routes[0]: set only one of upstream and dir"},
		{"no path", head + "routes:\n  - upstream: http://u\n", "gw.yaml:5: routes[0].path: required"},
		{"bad pattern", head + "routes:\n  - path: /a/*/b\n    upstream: http://u\n", "gw.yaml:5: routes[0].path: \"*\" must be the last segment"},
		{"relative pattern", head + "routes:\n  - path: api/*\n    upstream: http://u\n", "gw.yaml:5: routes[0].path: the path must start with /"},
		{"duplicate pattern", head + "routes:\n  - path: /a/*\n    upstream: http://u\n  - path: /A/{rest...}\n    upstream: http://u\n", "gw.yaml:7: routes[1].path: the same pattern as routes[0].path"},
		{"upstream url", head + "routes:\n  - path: /a\n    upstream: ftp://u\n", "gw.yaml:6: routes[0].upstream: must be an http:// or https:// URL"},
		{"upstream query", head + "routes:\n  - path: /a\n    upstream: http://u/?x=1\n", "gw.yaml:6: routes[0].upstream: must not contain a query"},
		{"dir pattern", head + "routes:\n  - path: /files/{id}\n    dir: x\n", "gw.yaml:5: routes[0].path: a dir route's path must be literal segments followed by a final *"},
		{"dir method", head + "routes:\n  - path: POST /files/*\n    dir: x\n", "gw.yaml:5: routes[0].path: dir routes serve GET and HEAD only"},
		{"listing on upstream", head + "routes:\n  - path: /a\n    upstream: http://u\n    listing: true\n", "gw.yaml:7: routes[0].listing: only applies to dir routes"},
		{"price", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: one dollar\n", "gw.yaml:7: routes[0].price: must be a price such as"},
		{"zero price", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $0\n", "gw.yaml:7: routes[0].price: must be more than zero"},
		{"free with payTo", head + "routes:\n  - path: /a\n    upstream: http://u\n    payTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\n", "gw.yaml:7: routes[0].payTo: only applies to priced routes"},
		{"no payTo", "network: eip155:84532\nfacilitator: {url: https://f.example}\nroutes:\n  - path: /a\n    upstream: http://u\n    price: $1\n", "gw.yaml:4: routes[0].payTo: required"},
		{"no network", "payTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\nroutes:\n  - path: /a\n    upstream: http://u\n    price: $1\n", "gw.yaml:4: routes[0].network: required"},
		{"bad network", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    network: solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp\n", "gw.yaml:8: routes[0].network: must be an EVM network"},
		{"both networks", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    network: eip155:1\n    networks: [eip155:1]\n", "gw.yaml:5: routes[0]: set only one of network and networks"},
		{"repeated network", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    networks: [eip155:1, eip155:1]\n", "gw.yaml:8: routes[0].networks[1]: eip155:1 is listed twice"},
		{"policy", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    policy: later\n", "gw.yaml:8: routes[0].policy: must be settle-before-serve or serve-then-settle"},
		{"payment identifier", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    paymentIdentifier: always\n", "gw.yaml:8: routes[0].paymentIdentifier: must be optional or required"},
		{"payment identifier free", head + "routes:\n  - path: /a\n    upstream: http://u\n    paymentIdentifier: required\n", "routes[0].paymentIdentifier: only applies to priced routes"},
		{"queue needed", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    policy: serve-then-settle\n", "gw.yaml:8: routes[0].policy: serve-then-settle needs a settlement queue"},
		{"no facilitator", "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nroutes:\n  - path: /a\n    upstream: http://u\n    price: $1\n", "gw.yaml: facilitator: required for priced routes"},
		{"two facilitators", "facilitator:\n  url: https://f.example\n  embedded: {devnet: true}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:1: facilitator: set only one of url and embedded"},
		{"api key value", "facilitator:\n  url: https://f.example\n  apiKeyEnv: sk-live-123\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:3: facilitator.apiKeyEnv: must be the name of an environment variable"},
		{"assets required", head + "networks:\n  - network: eip155:5\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:5: networks[0].assets: at least one asset is required"},
		{"asset name", head + "networks:\n  - network: eip155:5\n    assets:\n      - address: 0x209693bc6afc0c5328ba36faf03c514ef312287c\n        version: '1'\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:7: networks[0].assets[0].name: required"},
		{"log level", head + "logLevel: loud\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: logLevel: must be one of"},
		{"queue path", head + "queue: {sqlite: ':memory:'}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: queue.sqlite: must be a plain file path"},
		{"queue both", head + "queue: {sqlite: q.db, postgres: 'postgres://u@h/d'}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: queue: set at most one of queue.sqlite and queue.postgres"},
		{"queue postgres url", head + "queue: {postgres: 'mysql://u:secret@h/d'}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: queue.postgres: must be a PostgreSQL connection string"},
		{"queue schema alone", head + "queue: {sqlite: q.db, postgresSchema: s}\nroutes: [{path: /a, upstream: http://u}]\n", "queue.postgresSchema: needs queue.postgres"},
		{"queue lease", head + "queue: {postgres: 'postgres://u@h/d', leaseSeconds: -1}\nroutes: [{path: /a, upstream: http://u}]\n", "queue.leaseSeconds: must be between 0"},
		{"queue workers", head + "queue: {sqlite: q.db, workers: -1}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: queue.workers: must be between 0"},
		{"back-pressure range", head + "queue: {sqlite: q.db, backPressure: 1.5}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: queue.backPressure: must be between 0"},
		{"scheme", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    scheme: uptoo\n", "gw.yaml:8: routes[0].scheme: must be exact, batch-settlement or upto"},
		{"metering off upto", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    metering: {header: X-Tokens}\n", "routes[0].metering: applies to scheme: upto routes only"},
		{"upto needs an upstream", head + "routes:\n  - path: /a/*\n    dir: d\n    price: $1\n    scheme: upto\n", "routes[0].scheme: an upto route meters its upstream's answers"},
		{"metering header", head + "routes: [{path: /a, upstream: http://u, price: $1, scheme: upto, metering: {header: 'X Usage'}}]\n", "routes[0].metering.header: must be an HTTP header name"},
		{"metering payment header", head + "routes: [{path: /a, upstream: http://u, price: $1, scheme: upto, metering: {header: payment-response}}]\n", "routes[0].metering.header: payment-response is not a header the gateway may take off"},
		{"metering unit price", head + "routes: [{path: /a, upstream: http://u, price: $1, scheme: upto, metering: {unitPrice: $0}}]\n", "routes[0].metering.unitPrice: must be more than zero"},
		{"metering unknown key", head + "routes: [{path: /a, upstream: http://u, price: $1, scheme: upto, metering: {unitprice: $1}}]\n", "unitprice"},
		{"channel store needed", head + "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    scheme: batch-settlement\n", "channels: a batch-settlement route needs a channel store"},
		{"two channel stores", head + "channels: {sqlite: c.db, postgres: 'postgres://x'}\nroutes: [{path: /a, upstream: http://u, price: $1, scheme: batch-settlement}]\n", "channels: a batch-settlement route needs a channel store: set exactly one"},
		{"batch serve-then-settle", head + "queue: {sqlite: q.db}\nchannels: {sqlite: c.db}\nroutes: [{path: /a, upstream: http://u, price: $1, scheme: batch-settlement, policy: serve-then-settle}]\n", "routes[0].policy: a batch-settlement route verifies vouchers locally"},
		{"withdraw delay", head + "channels: {sqlite: c.db, withdrawDelaySeconds: 60}\nroutes: [{path: /a, upstream: http://u, price: $1, scheme: batch-settlement}]\n", "gw.yaml:4: channels.withdrawDelaySeconds: must be between 900"},
		{"claim threshold", head + "channels: {sqlite: c.db, claimThreshold: lots}\nroutes: [{path: /a, upstream: http://u, price: $1, scheme: batch-settlement}]\n", "gw.yaml:4: channels.claimThreshold:"},
		{"back-pressure number", head + "queue: {sqlite: q.db, backPressure: half}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:4: queue.backPressure: must be a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gateway.Parse("gw.yaml", []byte(tc.yaml), nil)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error:\n%v\nwant one containing:\n%s", err, tc.want)
			}
			var fe *gateway.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%T is not a *FieldError", err)
			}
		})
	}
}

// TestBuildErrors covers the problems only New can see: prices that do not
// resolve on their networks.
func TestBuildErrors(t *testing.T) {
	const head = "payTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown default network", head + "network: eip155:999\nroutes:\n  - path: /a\n    upstream: http://u\n    price: $1\n", "gw.yaml:3: network: eip155:999 is not a known network"},
		{"unknown route network", head + "network: eip155:84532\nroutes:\n  - path: /a\n    upstream: http://u\n    price: $1\n    networks: [eip155:8453, eip155:999]\n", "gw.yaml:8: routes[0].networks[1]: eip155:999 is not a known network"},
		{"unknown asset", head + "network: eip155:84532\nroutes:\n  - path: /a\n    upstream: http://u\n    price: 1 EURC\n", "gw.yaml:7: routes[0].price: 1 EURC cannot be paid on eip155:84532"},
		{"embedded", "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {embedded: {devnet: true}}\nroutes: [{path: /a, upstream: http://u, price: $1}]\n", "gw.yaml:3: facilitator.embedded: the embedded facilitator is started by `go402 gateway`"},
		{"api key unset", "facilitator: {url: https://f.example, apiKeyEnv: NOPE}\nroutes: [{path: /a, upstream: http://u}]\n", "gw.yaml:1: facilitator.apiKeyEnv: environment variable NOPE is not set"},
		{"receiver authorizer key unset", head + "network: eip155:84532\nchannels: {sqlite: c.db, receiverAuthorizerKeyEnv: NOPE}\nroutes: [{path: /a, upstream: http://u, price: $1, scheme: batch-settlement}]\n", "gw.yaml:4: channels.receiverAuthorizerKeyEnv: environment variable NOPE: not a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gateway.Parse("gw.yaml", []byte(tc.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = gateway.New(t.Context(), c, gateway.Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error:\n%v\nwant one containing:\n%s", err, tc.want)
			}
		})
	}
	// An extra network makes its prices resolve.
	c, err := gateway.Parse("gw.yaml", []byte(head+`network: eip155:999
networks:
  - network: eip155:999
    assets: [{address: "0x209693bc6afc0c5328ba36faf03c514ef312287c", name: Test, version: "1", decimals: 6, symbol: TST}]
routes: [{path: /a, upstream: "http://u", price: "2 TST"}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(t.Context(), c, gateway.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Close()
	if c.Network != x402.Network("eip155:999") {
		t.Fatal(c.Network)
	}
}

func TestEnvOverrides(t *testing.T) {
	data, err := os.ReadFile("sample-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Every override is documented in the sample.
	for _, o := range gateway.EnvOverrides() {
		if !strings.Contains(string(data), o[0]) || !strings.Contains(string(data), o[1]) {
			t.Errorf("sample-gateway.yaml does not document %s (%s)", o[0], o[1])
		}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	const file = "payTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nnetwork: eip155:84532\n" +
		"facilitator: {url: https://f.example, apiKeyEnv: TOKEN}\nqueue: {sqlite: q.db}\n" +
		"routes: [{path: /a, upstream: http://u, price: $1}]\n"
	c, err := gateway.Parse("/etc/go402/gw.yaml", []byte(file), env(map[string]string{
		"GO402_LISTEN":       "0.0.0.0:9000",
		"GO402_LOG_LEVEL":    "debug",
		"GO402_LOG_FORMAT":   "json",
		"GO402_NETWORK":      "base-sepolia",
		"GO402_QUEUE_SQLITE": "var/queue.db",
		"GO402_HEALTH_PATH":  "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.LogLevel != "debug" || c.LogFormat != "json" || c.Network != "eip155:84532" ||
		c.HealthPath != gateway.DefaultHealthPath || c.Facilitator.URL != "https://f.example" {
		t.Errorf("overrides not applied: %+v", c)
	}
	if c.Queue.SQLite != "var/queue.db" {
		t.Errorf("queue.sqlite = %q: a path from the environment is relative to the working directory", c.Queue.SQLite)
	}
	// A flag overrides the environment.
	if err := c.Set("listen", "127.0.0.1:1", "--listen"); err != nil || c.Listen != "127.0.0.1:1" {
		t.Errorf("Set after the environment: %v %q", err, c.Listen)
	}

	// GO402_FACILITATOR_EMBEDDED_DEVNET=true replaces the remote facilitator;
	// false leaves the file's.
	c, err = gateway.Parse("gw.yaml", []byte(file), env(map[string]string{"GO402_FACILITATOR_EMBEDDED_DEVNET": "true"}))
	if err != nil || !c.Facilitator.Embedded.Devnet || c.Facilitator.URL != "" || c.Facilitator.APIKeyEnv != "" {
		t.Errorf("embedded devnet from the environment: %v %+v", err, c.Facilitator)
	}
	c, err = gateway.Parse("gw.yaml", []byte(file), env(map[string]string{"GO402_FACILITATOR_EMBEDDED_DEVNET": "false"}))
	if err != nil || c.Facilitator.Embedded.Devnet || c.Facilitator.URL != "https://f.example" {
		t.Errorf("embedded devnet false: %v %+v", err, c.Facilitator)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad listen", map[string]string{"GO402_LISTEN": "nowhere"}, "gw.yaml: listen (from GO402_LISTEN): must be host:port"},
		{"bad log level", map[string]string{"GO402_LOG_LEVEL": "loud"}, "gw.yaml: logLevel (from GO402_LOG_LEVEL): must be one of"},
		{"bad payTo", map[string]string{"GO402_PAY_TO": "0x12"}, "gw.yaml: payTo (from GO402_PAY_TO): must be a 0x-prefixed"},
		{"bad api key env", map[string]string{"GO402_FACILITATOR_API_KEY_ENV": "sk-live-1"}, "gw.yaml: facilitator.apiKeyEnv (from GO402_FACILITATOR_API_KEY_ENV): must be the name of an environment variable"},
		{"bad bool", map[string]string{"GO402_FACILITATOR_EMBEDDED_DEVNET": "sure"}, "gw.yaml: facilitator.embedded.devnet (from GO402_FACILITATOR_EMBEDDED_DEVNET): must be true or false"},
		{"two facilitators", map[string]string{"GO402_FACILITATOR_URL": "https://g.example", "GO402_FACILITATOR_EMBEDDED_DEVNET": "true"},
			"gw.yaml: facilitator (from GO402_FACILITATOR_URL and GO402_FACILITATOR_EMBEDDED_DEVNET): set only one of them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gateway.Parse("gw.yaml", []byte(file), env(tc.env))
			if err == nil {
				err = c.Validate()
			}
			var fe *gateway.FieldError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &fe) {
				t.Fatalf("got error:\n%v\nwant a *FieldError containing:\n%s", err, tc.want)
			}
		})
	}
}

// The PostgreSQL queue: from the file (with a variable), and from
// GO402_QUEUE_POSTGRES, which replaces the file's queue.sqlite.
func TestQueuePostgresConfig(t *testing.T) {
	const head = "payTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nnetwork: eip155:84532\nfacilitator: {url: https://f.example}\n"
	const route = "routes: [{path: /a, upstream: http://u, price: $1, policy: serve-then-settle, maxTimeoutSeconds: 300}]\n"
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := gateway.Parse("gw.yaml", []byte(head+"queue: {postgres: '${QDB}', postgresSchema: gw, leaseSeconds: 30}\n"+route),
		env(map[string]string{"QDB": "postgres://u:secret@db/q"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if q := c.Queue; q.Postgres != "postgres://u:secret@db/q" || q.PostgresSchema != "gw" || q.LeaseSeconds != 30 || q.SQLite != "" {
		t.Errorf("queue %+v", q)
	}
	c, err = gateway.Parse("gw.yaml", []byte(head+"queue: {sqlite: q.db}\n"+route), env(map[string]string{"GO402_QUEUE_POSTGRES": "postgres://db/q"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if q := c.Queue; q.Postgres != "postgres://db/q" || q.SQLite != "" {
		t.Errorf("GO402_QUEUE_POSTGRES did not replace queue.sqlite: %+v", q)
	}
	if _, err := gateway.Parse("gw.yaml", []byte(head+route), env(map[string]string{"GO402_QUEUE_POSTGRES": "postgres://db/q", "GO402_QUEUE_SQLITE": "q.db"})); err == nil {
		t.Error("GO402_QUEUE_SQLITE and GO402_QUEUE_POSTGRES both set: accepted")
	}
}
