package x402

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNotRegistered is returned by lookups that find no registration.
var ErrNotRegistered = errors.New("x402: no scheme registered")

// Kind names a registration: a protocol version, a scheme and the network
// or network pattern it serves.
type Kind struct {
	Version int
	Scheme  string
	Network Network // a network or a pattern such as "eip155:*"
}

// String renders the kind as "v2/exact/eip155:*".
func (k Kind) String() string { return fmt.Sprintf("v%d/%s/%s", k.Version, k.Scheme, k.Network) }

// Registry maps (version, scheme, network pattern) to an implementation T,
// for example a [SchemeClient] or a [SchemeFacilitator]. A lookup prefers an
// exact network over a namespace pattern ("eip155:*") over "*"; among equal
// patterns the first registered wins. For v1, a legacy network name also
// matches registrations made with its CAIP-2 id and the other way round.
//
// The zero value is an empty registry ready to use; it is safe for
// concurrent use.
type Registry[T any] struct {
	mu      sync.RWMutex
	entries []registryEntry[T]
}

type registryEntry[T any] struct {
	kind Kind
	val  T
}

// Register adds v for a version, a scheme and a network or pattern. It fails
// on an unknown version, an empty scheme, an invalid pattern or a kind that
// is already registered.
func (r *Registry[T]) Register(version int, scheme string, network Network, v T) error {
	if version != V1 && version != V2 {
		return fmt.Errorf("%w: %d", ErrUnsupportedVersion, version)
	}
	if scheme == "" {
		return errors.New("x402: register: empty scheme")
	}
	if version == V1 && !network.IsPattern() {
		if !wireNetworkOK(network, false) {
			return fmt.Errorf("%w: %s", ErrInvalidNetwork, quoteShort(string(network)))
		}
	} else if _, err := ParseNetworkPattern(string(network)); err != nil {
		return err
	}
	k := Kind{Version: version, Scheme: scheme, Network: network}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		if e.kind == k {
			return fmt.Errorf("x402: register: %s is already registered", k)
		}
	}
	r.entries = append(r.entries, registryEntry[T]{kind: k, val: v})
	return nil
}

// Lookup returns the implementation registered for a version, a scheme and a
// concrete network, and the kind that matched.
func (r *Registry[T]) Lookup(version int, scheme string, network Network) (T, Kind, error) {
	alt := network.Canonical()
	if alt == network {
		if name, ok := network.V1Name(); ok && version == V1 {
			alt = Network(name)
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	best, bestRank := -1, 0
	for i, e := range r.entries {
		if e.kind.Version != version || e.kind.Scheme != scheme {
			continue
		}
		rank := matchRank(network, e.kind.Network)
		if ar := matchRank(alt, e.kind.Network); ar > rank {
			rank = ar
		}
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}
	if best < 0 {
		var zero T
		return zero, Kind{}, fmt.Errorf("%w for x402 v%d scheme %q on network %s", ErrNotRegistered, version, scheme, quoteShort(string(network)))
	}
	return r.entries[best].val, r.entries[best].kind, nil
}

// Kinds returns every registration in the order they were made.
func (r *Registry[T]) Kinds() []Kind {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Kind, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.kind
	}
	return out
}

// matchRank scores how specifically pattern matches network: 3 exact,
// 2 namespace wildcard, 1 "*", 0 no match.
func matchRank(network, pattern Network) int {
	switch {
	case network == pattern:
		return 3
	case pattern == "*":
		return 1
	case pattern.IsPattern() && network.Matches(pattern):
		return 2
	}
	return 0
}
