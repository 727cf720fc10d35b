package x402

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidNetwork is wrapped by every network parsing error.
var ErrInvalidNetwork = errors.New("x402: invalid network")

// Network identifies a blockchain. In x402 v2 it is a CAIP-2 chain id
// ("eip155:8453", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"); in v1 it is a
// legacy name ("base", "base-sepolia"). A Network used as a pattern may end
// in "*" ("eip155:*") to match every chain of a namespace; "*" alone matches
// every network.
//
// The string is kept as received; use [ParseNetwork] to validate one.
type Network string

// Well-known namespaces.
const (
	NamespaceEIP155 = "eip155"
	NamespaceSolana = "solana"
)

// Bounds for network identifiers. CAIP-2 limits the reference to 32
// characters of [-_a-zA-Z0-9]; go402 accepts up to 64 printable characters
// (but no ':' or spaces) because ids used by the reference implementation,
// such as Algorand's base64 genesis hashes, exceed the CAIP-2 grammar.
const (
	maxNamespaceLen = 8
	minNamespaceLen = 3
	maxReferenceLen = 64
)

// ParseNetwork validates a CAIP-2 chain id. The namespace must be 3-8
// characters of [-a-z0-9]; for eip155 the reference must be a decimal chain
// id without leading zeros. Wildcards are not networks: see
// [ParseNetworkPattern].
func ParseNetwork(s string) (Network, error) {
	ns, ref, ok := strings.Cut(s, ":")
	if !ok {
		if _, isV1 := NetworkFromV1(s); isV1 {
			return "", fmt.Errorf("%w: %s is an x402 v1 network name; its CAIP-2 id is %q", ErrInvalidNetwork, quoteShort(s), mustV1(s))
		}
		return "", fmt.Errorf("%w: %s: want CAIP-2 \"<namespace>:<reference>\" such as \"eip155:8453\"", ErrInvalidNetwork, quoteShort(s))
	}
	if !validNamespace(ns) {
		return "", fmt.Errorf("%w: %s: namespace must be 3-8 characters of [-a-z0-9]", ErrInvalidNetwork, quoteShort(s))
	}
	if !validReference(ref) {
		return "", fmt.Errorf("%w: %s: reference must be 1-%d printable characters without ':' or spaces", ErrInvalidNetwork, quoteShort(s), maxReferenceLen)
	}
	if ns == NamespaceEIP155 {
		if _, err := parseChainID(ref); err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrInvalidNetwork, quoteShort(s), err)
		}
	}
	return Network(s), nil
}

// ParseNetworkPattern validates a network or a pattern: a CAIP-2 id,
// "<namespace>:*", or "*".
func ParseNetworkPattern(s string) (Network, error) {
	if s == "*" {
		return Network(s), nil
	}
	if ns, ok := strings.CutSuffix(s, ":*"); ok {
		if !validNamespace(ns) {
			return "", fmt.Errorf("%w: pattern %s: namespace must be 3-8 characters of [-a-z0-9]", ErrInvalidNetwork, quoteShort(s))
		}
		return Network(s), nil
	}
	return ParseNetwork(s)
}

// EIP155 returns the CAIP-2 network of an EVM chain id ("eip155:<id>").
func EIP155(chainID uint64) Network {
	return Network(NamespaceEIP155 + ":" + strconv.FormatUint(chainID, 10))
}

// Namespace returns the part before ':' ("eip155"), or "" if there is none.
func (n Network) Namespace() string {
	ns, _, ok := strings.Cut(string(n), ":")
	if !ok {
		return ""
	}
	return ns
}

// Reference returns the part after ':' ("8453"), or "" if there is none.
func (n Network) Reference() string {
	_, ref, _ := strings.Cut(string(n), ":")
	return ref
}

// IsPattern reports whether n is a wildcard pattern ("*" or "<ns>:*").
func (n Network) IsPattern() bool {
	return n == "*" || strings.HasSuffix(string(n), ":*")
}

// Matches reports whether the network n is matched by pattern: an equal
// network, "<namespace>:*" for n's namespace, or "*".
func (n Network) Matches(pattern Network) bool {
	if pattern == "*" || n == pattern {
		return true
	}
	if ns, ok := strings.CutSuffix(string(pattern), ":*"); ok {
		return n.Namespace() == ns && n.Reference() != "" && n.Reference() != "*"
	}
	return false
}

// ChainID returns the EVM chain id of an "eip155:<id>" network.
func (n Network) ChainID() (uint64, error) {
	ns, ref, ok := strings.Cut(string(n), ":")
	if !ok || ns != NamespaceEIP155 {
		return 0, fmt.Errorf("%w: %s is not an eip155 network", ErrInvalidNetwork, quoteShort(string(n)))
	}
	id, err := parseChainID(ref)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrInvalidNetwork, quoteShort(string(n)), err)
	}
	return id, nil
}

// String returns the network identifier.
func (n Network) String() string { return string(n) }

// Canonical returns the CAIP-2 form of n: a v1 legacy name is converted
// ("base" → "eip155:8453"); anything else is returned unchanged.
func (n Network) Canonical() Network {
	if c, ok := NetworkFromV1(string(n)); ok {
		return c
	}
	return n
}

// V1Name returns the x402 v1 legacy name of a CAIP-2 network and whether it
// has one.
func (n Network) V1Name() (string, bool) {
	for _, e := range v1Networks {
		if e.caip2 == n {
			return e.name, true
		}
	}
	return "", false
}

// NetworkFromV1 returns the CAIP-2 network of an x402 v1 legacy network name
// ("base-sepolia" → "eip155:84532") and whether the name is known.
func NetworkFromV1(name string) (Network, bool) {
	for _, e := range v1Networks {
		if e.name == name {
			return e.caip2, true
		}
	}
	return "", false
}

func mustV1(name string) Network {
	n, _ := NetworkFromV1(name)
	return n
}

// v1Networks is the x402 v1 legacy name table, as the reference
// implementation maps names to chains. It is never modified.
var v1Networks = [...]struct {
	name  string
	caip2 Network
}{
	{"ethereum", "eip155:1"},
	{"sepolia", "eip155:11155111"},
	{"abstract", "eip155:2741"},
	{"abstract-testnet", "eip155:11124"},
	{"base-sepolia", "eip155:84532"},
	{"base", "eip155:8453"},
	{"avalanche-fuji", "eip155:43113"},
	{"avalanche", "eip155:43114"},
	{"iotex", "eip155:4689"},
	{"sei", "eip155:1329"},
	{"sei-testnet", "eip155:1328"},
	{"polygon", "eip155:137"},
	{"polygon-amoy", "eip155:80002"},
	{"peaq", "eip155:3338"},
	{"story", "eip155:1514"},
	{"educhain", "eip155:41923"},
	{"skale-base-sepolia", "eip155:324705682"},
	{"megaeth", "eip155:4326"},
	{"monad", "eip155:143"},
	{"stable", "eip155:988"},
	{"stable-testnet", "eip155:2201"},
	{"solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"},
	{"solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"},
	{"solana-testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"},
}

func validNamespace(ns string) bool {
	if len(ns) < minNamespaceLen || len(ns) > maxNamespaceLen {
		return false
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			return false
		}
	}
	return true
}

func validReference(ref string) bool {
	if len(ref) == 0 || len(ref) > maxReferenceLen || ref == "*" {
		return false
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

func parseChainID(ref string) (uint64, error) {
	if ref == "" || (len(ref) > 1 && ref[0] == '0') || !allDigits(ref) {
		return 0, errors.New("chain id must be a decimal integer without leading zeros")
	}
	id, err := strconv.ParseUint(ref, 10, 64)
	if err != nil || id == 0 {
		return 0, errors.New("chain id must be between 1 and 2^64-1")
	}
	return id, nil
}
