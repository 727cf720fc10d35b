package gateway

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/go402/go402/internal/yamlconf"
	"github.com/go402/go402/x402http"
)

// RateLimits configures the limits every priced route shares (key
// "rateLimits") and the client addresses they count. A route's own
// limits are Route.RateLimits. Free routes are never limited.
type RateLimits struct {
	// TrustedProxies are the addresses or networks (10.0.0.0/8, ::1) of
	// the reverse proxies whose Forwarded or X-Forwarded-For headers name
	// the client; any other peer's are ignored. Key
	// "rateLimits.trustedProxies".
	TrustedProxies []string
	// Limits apply to every priced route together. Keys
	// "rateLimits.perIP", "rateLimits.perPayer", "rateLimits.free" and
	// "rateLimits.maxEntries".
	RouteLimits
}

// RouteLimits are per-IP and per-payer token buckets and a free tier:
// x402http.RateLimits. Key "routes[i].rateLimits" (perIP, perPayer, free,
// maxEntries).
type RouteLimits struct {
	// PerIP limits one client address: {requests, per, burst}, such as
	// {requests: 60, per: 1m, burst: 10}; over it, 429 with Retry-After.
	PerIP Limit
	// PerPayer limits one payer's paid requests, the same way.
	PerPayer Limit
	// Free serves each client address Requests requests per Window
	// without payment before the 402: {requests: 3, window: 24h}.
	Free FreeTier
	// MaxEntries bounds each table of addresses or payers; 0 means
	// 65536 (x402http.DefaultLimiterEntries).
	MaxEntries int
}

// Limit is a token bucket: Requests per Per, in bursts of Burst (0:
// Requests).
type Limit struct {
	Requests int
	Per      time.Duration
	Burst    int
}

// FreeTier is Requests free requests per client address per Window.
type FreeTier struct {
	Requests int
	Window   time.Duration
}

func (l *RateLimits) schema() yamlconf.Fields {
	fs := l.RouteLimits.schema()
	fs["trustedProxies"] = func(v yamlconf.Value) { v.Strings(&l.TrustedProxies) }
	return fs
}

func (l *RouteLimits) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"perIP":      func(v yamlconf.Value) { v.Fields(l.PerIP.schema()) },
		"perPayer":   func(v yamlconf.Value) { v.Fields(l.PerPayer.schema()) },
		"free":       func(v yamlconf.Value) { v.Fields(l.Free.schema()) },
		"maxEntries": func(v yamlconf.Value) { v.Int(32, func(x int64) { l.MaxEntries = int(x) }) },
	}
}

func (l *Limit) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"requests": func(v yamlconf.Value) { v.Int(32, func(x int64) { l.Requests = int(x) }) },
		"per":      func(v yamlconf.Value) { v.Duration(&l.Per) },
		"burst":    func(v yamlconf.Value) { v.Int(32, func(x int64) { l.Burst = int(x) }) },
	}
}

func (f *FreeTier) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"requests": func(v yamlconf.Value) { v.Int(32, func(x int64) { f.Requests = int(x) }) },
		"window":   func(v yamlconf.Value) { v.Duration(&f.Window) },
	}
}

// middleware converts the limits to x402http's.
func (l RouteLimits) middleware() x402http.RateLimits {
	return x402http.RateLimits{
		PerIP:      x402http.Limit(l.PerIP),
		PerPayer:   x402http.Limit(l.PerPayer),
		Free:       x402http.FreeTier(l.Free),
		MaxEntries: l.MaxEntries,
	}
}

// trusted returns the trusted proxies' networks (valid: checked by
// Validate).
func (l RateLimits) trusted() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range l.TrustedProxies {
		if p, ok := parseProxy(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// parseProxy parses a network (10.0.0.0/8) or an address (a /32 or /128).
func parseProxy(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), true
}

// rateLimits checks the shared limits and every route's.
func (v *validator) rateLimits() {
	l := v.c.RateLimits
	for i, s := range l.TrustedProxies {
		if _, ok := parseProxy(s); !ok {
			v.fail(fmt.Sprintf("rateLimits.trustedProxies[%d]", i), "must be an IP address or a network such as 10.0.0.0/8")
		}
	}
	v.routeLimits("rateLimits", l.RouteLimits)
	for i := range v.c.Routes {
		r := &v.c.Routes[i]
		p := fmt.Sprintf("routes[%d].rateLimits", i)
		if r.RateLimits != (RouteLimits{}) && r.Free() {
			v.fail(p, "only applies to priced routes (this route has no price, so it is free)")
			continue
		}
		v.routeLimits(p, r.RateLimits)
	}
}

func (v *validator) routeLimits(p string, l RouteLimits) {
	for _, b := range []struct {
		key string
		l   Limit
	}{{p + ".perIP", l.PerIP}, {p + ".perPayer", l.PerPayer}} {
		switch {
		case b.l.Requests < 0 || b.l.Burst < 0:
			v.fail(b.key, "requests and burst must not be negative")
		case b.l.Requests > 0 && b.l.Per <= 0:
			v.fail(b.key, "per is required: a positive duration such as 1m")
		case b.l.Requests == 0 && (b.l.Per != 0 || b.l.Burst != 0):
			v.fail(b.key, "requests is required (more than zero)")
		}
	}
	switch f := l.Free; {
	case f.Requests < 0:
		v.fail(p+".free.requests", "must not be negative")
	case f.Requests > 0 && f.Window <= 0:
		v.fail(p+".free", "window is required: a positive duration such as 24h")
	case f.Requests == 0 && f.Window != 0:
		v.fail(p+".free", "requests is required (more than zero)")
	}
	if l.MaxEntries < 0 {
		v.fail(p+".maxEntries", "must not be negative")
	}
}
