package x402http

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientKey returns the key of r's client for the per-IP limits and the
// free tier: its IP address, an IPv6 address by its /64 (one host's
// usual allocation). The peer's address (RemoteAddr) is used, unless the
// peer is a trusted proxy: then the hops it forwarded (the Forwarded
// header if present, else X-Forwarded-For) are read from the right, and
// the first address that is not a trusted proxy is the client. A hop that
// is not an IP address (such as "unknown"), or a malformed header, stops
// the walk at the last trusted hop.
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return "peer:" + r.RemoteAddr
	}
	ip := peer
	if isTrusted(peer, trusted) {
		ip = forwardedClient(r.Header, peer, trusted)
	}
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient walks the forwarded hops of h from the right.
func forwardedClient(h http.Header, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	var hops []string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		var ok bool
		if hops, ok = parseForwardedFor(strings.Join(fw, ",")); !ok {
			return peer
		}
	} else {
		for _, v := range h.Values("X-Forwarded-For") {
			for _, hop := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(hop))
			}
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHostAddr(hops[i])
		if !ok {
			return client
		}
		client = a
		if !isTrusted(a, trusted) {
			return a
		}
	}
	return client
}

// parseHostAddr parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port".
func parseHostAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseForwardedFor returns the "for" parameters of an RFC 7239 Forwarded
// header value, one per forwarded element in order ("" for an element
// without one), unquoted. It returns false for a value that does not
// follow the RFC's grammar: element *( "," element ), element = pair
// *( ";" pair ), pair = token "=" ( token / quoted-string ).
func parseForwardedFor(v string) ([]string, bool) {
	var out []string
	cur, seen := "", false
	i := 0
	for {
		i = skipOWS(v, i)
		if i == len(v) {
			break
		}
		if v[i] == ',' || v[i] == ';' {
			if v[i] == ',' {
				out, cur, seen = append(out, cur), "", false
			}
			i++
			continue
		}
		name, j := token(v, i)
		if j == i || j == len(v) || v[j] != '=' {
			return nil, false
		}
		val, k, ok := fwValue(v, j+1)
		if !ok {
			return nil, false
		}
		if strings.EqualFold(name, "for") {
			if seen {
				return nil, false
			}
			cur, seen = val, true
		}
		i = skipOWS(v, k)
		if i < len(v) && v[i] != ',' && v[i] != ';' {
			return nil, false
		}
	}
	return append(out, cur), true
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// token returns the RFC 9110 token at s[i:] and the index after it.
func token(s string, i int) (string, int) {
	j := i
	for j < len(s) && isTchar(s[j]) {
		j++
	}
	return s[i:j], j
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// fwValue reads a token or a quoted-string at s[i:].
func fwValue(s string, i int) (string, int, bool) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"':
				return b.String(), j + 1, true
			case c == '\\' && j+1 < len(s):
				j++
				b.WriteByte(s[j])
			case c < 0x20 && c != '\t', c == 0x7f:
				return "", 0, false
			default:
				b.WriteByte(c)
			}
		}
		return "", 0, false
	}
	tok, j := token(s, i)
	if tok == "" {
		return "", 0, false
	}
	return tok, j, true
}
