package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go402/go402/x402"
)

// Asset describes a token a [Client] may pay in, for any scheme: what the
// policy needs to price it (decimals, symbol, whether it is a US dollar
// stablecoin) and, for an EVM token, the EIP-712 domain and transfer
// method it is signed with.
type Asset struct {
	// Network is the CAIP-2 network, such as "eip155:8453". For an EVM
	// network the chain id is the number after "eip155:".
	Network x402.Network `json:"network"`
	// Address is the asset's id as it appears in requirements.asset: for
	// EVM, the token contract (compared in any letter case).
	Address string `json:"address"`
	// Decimals is the number of decimals of one whole token (6 for USDC).
	Decimals uint8 `json:"decimals"`
	// Symbol is the ticker, such as "USDC": a limit such as "0.10 USDC"
	// applies to the assets with that symbol.
	Symbol string `json:"symbol,omitempty"`
	// USDStablecoin marks a US dollar stablecoin: limits in dollars
	// ("$0.10") apply only to such assets.
	USDStablecoin bool `json:"usdStablecoin,omitempty"`
	// Name and Version are an EVM token's EIP-712 domain name and version.
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// TransferMethod is how an EVM token is paid: "eip3009" (the default
	// when empty) or "permit2".
	TransferMethod string `json:"transferMethod,omitempty"`
}

// Validate checks the asset: a concrete CAIP-2 network (with its chain id
// for EVM), an id (a 20-byte hex address for EVM), at most 77 decimals
// and a known transfer method.
func (a *Asset) Validate() error {
	if err := a.validate(); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// validate is Validate without the package prefix, for callers that add
// their own.
func (a *Asset) validate() error {
	n, err := x402.ParseNetwork(string(a.Network.Canonical()))
	if err != nil {
		return fmt.Errorf("asset: %w", err)
	}
	a.Network = n
	if a.Address == "" || strings.ContainsAny(a.Address, " \t\r\n/") {
		return fmt.Errorf("asset on %s: the address %q is missing or malformed", n, a.Address)
	}
	if n.Namespace() == x402.NamespaceEIP155 {
		if _, err := n.ChainID(); err != nil {
			return fmt.Errorf("asset: %w", err)
		}
		if _, ok := parseAddress(a.Address); !ok {
			return fmt.Errorf("asset on %s: %q is not a 0x-prefixed 20-byte hex address", n, a.Address)
		}
	}
	switch {
	case a.Decimals > 77:
		return fmt.Errorf("asset %s: %d decimals is more than a uint256 can hold", a.Address, a.Decimals)
	case len(a.Symbol) > 32 || strings.ContainsAny(a.Symbol, " \t\r\n"):
		return fmt.Errorf("asset %s: symbol %q is not a ticker", a.Address, a.Symbol)
	case a.TransferMethod != "" && a.TransferMethod != "eip3009" && a.TransferMethod != "permit2":
		return fmt.Errorf("asset %s: unknown transfer method %q", a.Address, a.TransferMethod)
	}
	return nil
}

// assetKey is the registry key of an asset: its network and id, the id
// folded to lower case for EVM addresses (hex).
func assetKey(network x402.Network, id string) string {
	network = network.Canonical()
	if network.Namespace() == x402.NamespaceEIP155 {
		id = strings.ToLower(id)
	}
	return string(network) + "/" + id
}

// sameAsset reports whether an asset id on a network is the asset a.
func sameAsset(a *Asset, network x402.Network, id string) bool {
	return assetKey(a.Network, a.Address) == assetKey(network, id)
}

// Assets is a registry of assets by network and id. The zero value is
// empty and ready to use; [DefaultAssets] holds the built-in EVM
// stablecoins. It is safe for concurrent use.
type Assets struct {
	mu sync.RWMutex
	m  map[string]Asset
}

// Add validates and registers assets, replacing any earlier entry for the
// same network and id. Nothing is added if one is invalid.
func (r *Assets) Add(assets ...Asset) error {
	for i := range assets {
		if err := assets[i].Validate(); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]Asset{}
	}
	for _, a := range assets {
		r.m[assetKey(a.Network, a.Address)] = a
	}
	return nil
}

// Lookup returns the asset with an id on a network (a v1 legacy network
// name is accepted too).
func (r *Assets) Lookup(network x402.Network, id string) (Asset, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.m[assetKey(network, id)]
	return a, ok
}

// List returns every registered asset, sorted by network and id.
func (r *Assets) List() []Asset {
	r.mu.RLock()
	out := make([]Asset, 0, len(r.m))
	for _, a := range r.m {
		out = append(out, a)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Asset) int {
		return strings.Compare(assetKey(a.Network, a.Address), assetKey(b.Network, b.Address))
	})
	return out
}

// maxAssetsFile bounds the size of an assets file.
const maxAssetsFile = 1 << 20

// ReadAssets decodes an assets file: a JSON object {"assets": [...]}
// whose entries have the JSON fields of [Asset], such as
//
//	{"assets": [{"network": "eip155:84532", "address": "0x...",
//	             "decimals": 6, "symbol": "TOK", "name": "Token", "version": "1"}]}
//
// Unknown fields are errors (a misspelt "decimals" must not go unnoticed);
// every entry is validated.
func ReadAssets(r io.Reader) ([]Asset, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxAssetsFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAssetsFile {
		return nil, fmt.Errorf("client: assets file: larger than %d bytes", maxAssetsFile)
	}
	var f struct {
		Assets []json.RawMessage `json:"assets"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("client: assets file: %w", err)
	}
	out := make([]Asset, 0, len(f.Assets))
	for i, raw := range f.Assets {
		var a Asset
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&a); err != nil {
			return nil, fmt.Errorf("client: assets file: assets[%d]: %w", i, err)
		}
		if !bytes.Contains(raw, []byte(`"decimals"`)) {
			return nil, fmt.Errorf("client: assets file: assets[%d]: decimals is required", i)
		}
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("client: assets file: assets[%d]: %w", i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// LoadAssetsFile reads an assets file (see [ReadAssets]).
func LoadAssetsFile(path string) ([]Asset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer f.Close()
	as, err := ReadAssets(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return as, nil
}

// ParseAsset parses an asset declared on one line, as go402 pay --asset
// takes it:
//
//	NETWORK/ADDRESS:DECIMALS[,symbol=SYM][,name=NAME][,version=VER][,method=M][,usd]
//
// for example "eip155:84532/0x1234...:6,symbol=TOK,name=Test Token,version=1".
// NETWORK is CAIP-2 ("eip155:<chain id>"); DECIMALS is required; "usd"
// marks a US dollar stablecoin, to which limits in dollars apply; name and
// version are the token's EIP-712 domain (servers send them in
// requirements extra, so they are optional); method is the transfer
// method, "eip3009" (the default) or "permit2".
func ParseAsset(spec string) (Asset, error) {
	head, opts, _ := strings.Cut(spec, ",")
	slash := strings.LastIndexByte(head, '/')
	colon := strings.LastIndexByte(head, ':')
	if slash < 0 || colon < slash {
		return Asset{}, fmt.Errorf("client: asset %q: want NETWORK/ADDRESS:DECIMALS", spec)
	}
	d, err := strconv.ParseUint(head[colon+1:], 10, 8)
	if err != nil {
		return Asset{}, fmt.Errorf("client: asset %q: decimals %q is not a number from 0 to 77", spec, head[colon+1:])
	}
	a := Asset{Network: x402.Network(head[:slash]), Address: head[slash+1 : colon], Decimals: uint8(d)}
	if opts != "" {
		for _, kv := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch strings.TrimSpace(k) {
			case "symbol":
				a.Symbol = v
			case "name":
				a.Name = v
			case "version":
				a.Version = v
			case "method":
				a.TransferMethod = v
			case "usd":
				if v != "" {
					return Asset{}, fmt.Errorf("client: asset %q: usd takes no value", spec)
				}
				a.USDStablecoin = true
			default:
				return Asset{}, fmt.Errorf("client: asset %q: unknown option %q (want symbol=, name=, version=, method= or usd)", spec, k)
			}
		}
	}
	if err := a.Validate(); err != nil {
		return Asset{}, err
	}
	return a, nil
}

// errNoSchemes is returned by New when it is given no scheme clients.
var errNoSchemes = errors.New("client: Config.Schemes has no scheme client (see NewEVM)")
