package gateway

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/yamlconf"
	"github.com/go402/go402/x402"
)

// schema returns the decoders of the file's keys, filling c; relative
// file paths are made relative to base, the file's directory.
func (c *Config) schema(base string) yamlconf.Fields {
	return yamlconf.Fields{
		"listen":        func(v yamlconf.Value) { v.String(&c.Listen) },
		"metricsListen": func(v yamlconf.Value) { v.String(&c.MetricsListen) },
		"healthPath":    func(v yamlconf.Value) { v.String(&c.HealthPath) },
		"facilitator": func(v yamlconf.Value) {
			f := &c.Facilitator
			v.Fields(yamlconf.Fields{
				"url":           func(v yamlconf.Value) { v.String(&f.URL) },
				"apiKeyEnv":     func(v yamlconf.Value) { v.String(&f.APIKeyEnv) },
				"reservesFunds": func(v yamlconf.Value) { v.Bool(&f.ReservesFunds) },
				"embedded": func(v yamlconf.Value) {
					v.Fields(yamlconf.Fields{
						"devnet": func(v yamlconf.Value) { v.Bool(&f.Embedded.Devnet) },
					})
				},
			})
		},
		"facilitators": c.decodeFacilitators,
		"networks": func(v yamlconf.Value) {
			v.List(func(v yamlconf.Value) { c.Networks = append(c.Networks, decodeNetwork(v)) })
		},
		"payTo":   func(v yamlconf.Value) { v.String(&c.PayTo) },
		"network": func(v yamlconf.Value) { networkValue(v, &c.Network) },
		"queue": func(v yamlconf.Value) {
			v.Fields(yamlconf.Fields{
				"sqlite":         func(v yamlconf.Value) { pathValue(v, base, &c.Queue.SQLite) },
				"postgres":       func(v yamlconf.Value) { v.String(&c.Queue.Postgres) },
				"postgresSchema": func(v yamlconf.Value) { v.String(&c.Queue.PostgresSchema) },
				"leaseSeconds":   func(v yamlconf.Value) { v.Int(32, func(x int64) { c.Queue.LeaseSeconds = int(x) }) },
				"workers":        func(v yamlconf.Value) { v.Int(32, func(x int64) { c.Queue.Workers = int(x) }) },
				"backPressure":   func(v yamlconf.Value) { floatValue(v, &c.Queue.BackPressure) },
			})
		},
		"maxBufferBytes": func(v yamlconf.Value) { v.Int(64, func(x int64) { c.MaxBufferBytes = x }) },
		"cors":           func(v yamlconf.Value) { v.Fields(c.CORS.schema()) },
		"timeouts":       func(v yamlconf.Value) { v.Fields(c.Timeouts.schema()) },
		"rateLimits":     func(v yamlconf.Value) { v.Fields(c.RateLimits.schema()) },
		"logLevel":       func(v yamlconf.Value) { v.String(&c.LogLevel) },
		"logFormat":      func(v yamlconf.Value) { v.String(&c.LogFormat) },
		"routes": func(v yamlconf.Value) {
			v.List(func(v yamlconf.Value) { c.Routes = append(c.Routes, decodeRoute(v, base)) })
		},
		"channels": func(v yamlconf.Value) { v.Fields(c.Channels.schema(base)) },
	}
}

func (ch *Channels) schema(base string) yamlconf.Fields {
	return yamlconf.Fields{
		"sqlite":                   func(v yamlconf.Value) { pathValue(v, base, &ch.SQLite) },
		"postgres":                 func(v yamlconf.Value) { v.String(&ch.Postgres) },
		"receiverAuthorizerKeyEnv": func(v yamlconf.Value) { v.String(&ch.ReceiverAuthorizerKeyEnv) },
		"withdrawDelaySeconds":     func(v yamlconf.Value) { v.Int(64, func(x int64) { ch.WithdrawDelaySeconds = x }) },
		"claimIntervalSeconds":     func(v yamlconf.Value) { v.Int(32, func(x int64) { ch.ClaimIntervalSeconds = int(x) }) },
		"claimIdleSeconds":         func(v yamlconf.Value) { v.Int(32, func(x int64) { ch.ClaimIdleSeconds = int(x) }) },
		"claimThreshold":           func(v yamlconf.Value) { v.String(&ch.ClaimThreshold) },
	}
}

func (c *CORS) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"allowOrigins":     func(v yamlconf.Value) { v.Strings(&c.AllowOrigins) },
		"allowHeaders":     func(v yamlconf.Value) { v.Strings(&c.AllowHeaders) },
		"allowCredentials": func(v yamlconf.Value) { v.Bool(&c.AllowCredentials) },
		"maxAgeSeconds":    func(v yamlconf.Value) { v.Int(32, func(x int64) { c.MaxAgeSeconds = int(x) }) },
	}
}

func decodeRoute(v yamlconf.Value, base string) Route {
	var r Route
	v.Fields(yamlconf.Fields{
		"path":        func(v yamlconf.Value) { v.String(&r.Path) },
		"upstream":    func(v yamlconf.Value) { v.String(&r.Upstream) },
		"stripPrefix": func(v yamlconf.Value) { v.Bool(&r.StripPrefix) },
		"dir":         func(v yamlconf.Value) { pathValue(v, base, &r.Dir) },
		"listing":     func(v yamlconf.Value) { v.Bool(&r.Listing) },
		"price":       func(v yamlconf.Value) { v.String(&r.Price) },
		"payTo":       func(v yamlconf.Value) { v.String(&r.PayTo) },
		"scheme":      func(v yamlconf.Value) { v.String(&r.Scheme) },
		"metering": func(v yamlconf.Value) {
			v.Fields(yamlconf.Fields{
				"header":    func(v yamlconf.Value) { v.String(&r.Metering.Header) },
				"unitPrice": func(v yamlconf.Value) { v.String(&r.Metering.UnitPrice) },
			})
		},
		"network": func(v yamlconf.Value) { networkValue(v, &r.Network) },
		"networks": func(v yamlconf.Value) {
			v.List(func(v yamlconf.Value) {
				var n x402.Network
				networkValue(v, &n)
				r.Networks = append(r.Networks, n)
			})
		},
		"description":       func(v yamlconf.Value) { v.String(&r.Description) },
		"mimeType":          func(v yamlconf.Value) { v.String(&r.MimeType) },
		"policy":            func(v yamlconf.Value) { v.String(&r.Policy) },
		"shadowsPriced":     func(v yamlconf.Value) { v.Bool(&r.ShadowsPriced) },
		"maxTimeoutSeconds": func(v yamlconf.Value) { v.Int(32, func(x int64) { r.MaxTimeoutSeconds = int(x) }) },
		"charge": func(v yamlconf.Value) {
			r.Charge = []string{} // set, even to an empty list (refused by Validate)
			v.Strings(&r.Charge)
		},
		"discoverable":      func(v yamlconf.Value) { v.Bool(&r.Discoverable) },
		"discovery":         func(v yamlconf.Value) { v.Fields(r.Discovery.schema()) },
		"rateLimits":        func(v yamlconf.Value) { v.Fields(r.RateLimits.schema()) },
		"paymentIdentifier": func(v yamlconf.Value) { v.String(&r.PaymentIdentifier) },
	})
	return r
}

// pathValue decodes a file path, relative to base unless absolute.
func pathValue(v yamlconf.Value, base string, dst *string) {
	s, ok := v.Scalar()
	if !ok {
		return
	}
	if s != "" && !filepath.IsAbs(s) && base != "." && base != "" {
		s = filepath.Join(base, s)
	}
	*dst = s
}

// floatValue decodes a number such as 0.5.
func floatValue(v yamlconf.Value, dst *float64) {
	s, ok := v.Scalar()
	if !ok {
		return
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		v.Failf("must be a number such as 0.5")
		return
	}
	*dst = f
}

func networkValue(v yamlconf.Value, dst *x402.Network) {
	var s string
	v.String(&s)
	*dst = x402.Network(s)
}

func decodeNetwork(v yamlconf.Value) Network {
	var n Network
	v.Fields(yamlconf.Fields{
		"network": func(v yamlconf.Value) { networkValue(v, &n.Network) },
		"assets": func(v yamlconf.Value) {
			v.List(func(v yamlconf.Value) { n.Assets = append(n.Assets, decodeAsset(v)) })
		},
	})
	return n
}

func decodeAsset(v yamlconf.Value) evm.Asset {
	var a evm.Asset
	v.Fields(yamlconf.Fields{
		"address": func(v yamlconf.Value) {
			s, ok := v.Scalar()
			if !ok {
				return
			}
			if msg := evm.AddressProblem(s); msg != "" {
				v.Failf("%s", msg)
				return
			}
			a.Address = common.HexToAddress(s)
		},
		"name":           func(v yamlconf.Value) { v.String(&a.Name) },
		"version":        func(v yamlconf.Value) { v.String(&a.Version) },
		"symbol":         func(v yamlconf.Value) { v.String(&a.Symbol) },
		"transferMethod": func(v yamlconf.Value) { v.String(&a.TransferMethod) },
		"decimals":       func(v yamlconf.Value) { v.Uint(8, func(x uint64) { a.Decimals = uint8(x) }) },
	})
	return a
}
