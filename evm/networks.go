package evm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// Transfer methods of an asset, as named in requirements.extra.assetTransferMethod.
const (
	TransferEIP3009 = "eip3009"
	TransferPermit2 = "permit2"
)

// ErrUnknownNetwork is returned when a network is not in a [Networks]
// registry.
var ErrUnknownNetwork = errors.New("evm: unknown network")

// ErrUnknownAsset is returned when an asset is not registered for a network.
var ErrUnknownAsset = errors.New("evm: unknown asset")

// ErrUnsupportedTransferMethod is returned when a price resolves to an asset
// paid through a transfer method go402 does not implement: go402's "exact"
// scheme pays and settles EIP-3009 authorizations and Permit2 transfers
// ([TransferEIP3009], [TransferPermit2]) only, so it must not offer
// requirements that clients would sign and no go402 facilitator could
// settle.
var ErrUnsupportedTransferMethod = errors.New("evm: unsupported asset transfer method")

// Asset is a token payable on a network, with the EIP-712 domain its
// authorizations are signed in.
type Asset struct {
	// Address is the token contract.
	Address common.Address `json:"address"`
	// Symbol is the ticker, such as "USDC"; it is how a price like
	// "0.25 USDC" selects the asset.
	Symbol string `json:"symbol"`
	// Name and Version are the token's EIP-712 domain name and version.
	// They differ between deployments: USDC is "USDC" on Base Sepolia but
	// "USD Coin" on Base mainnet.
	Name    string `json:"name"`
	Version string `json:"version"`
	// Decimals is the number of decimals of one whole token (6 for USDC).
	Decimals uint8 `json:"decimals"`
	// TransferMethod is TransferEIP3009 (the default when empty) or
	// TransferPermit2.
	TransferMethod string `json:"transferMethod,omitempty"`
}

// Method returns the asset's transfer method, TransferEIP3009 by default.
func (a Asset) Method() string {
	if a.TransferMethod == "" {
		return TransferEIP3009
	}
	return a.TransferMethod
}

// Extra returns the requirements extra for this asset: its EIP-712 name and
// version and, for an asset not paid through EIP-3009, its
// assetTransferMethod, as the reference implementation sends them
// ({"name":"MegaUSD","version":"1","assetTransferMethod":"permit2"}). With
// that field, clients and facilitators that implement only EIP-3009 refuse
// the requirements instead of signing a payment that cannot settle; go402's
// client and facilitator pay and settle both.
func (a Asset) Extra() x402.Object {
	o, _ := x402.NewObject(struct {
		Name                string `json:"name"`
		Version             string `json:"version"`
		AssetTransferMethod string `json:"assetTransferMethod,omitempty"`
	}{a.Name, a.Version, a.extraMethod()})
	return o
}

// extraMethod is the assetTransferMethod to announce: none for EIP-3009,
// the default when the field is absent.
func (a Asset) extraMethod() string {
	if m := a.Method(); m != TransferEIP3009 {
		return m
	}
	return ""
}

// AddressProblem says what is wrong with s as an EVM address written by a
// person (in a configuration file or a flag): not 0x-prefixed 20-byte hex,
// or mixed case with a wrong EIP-55 checksum (a typo). It returns "" for a
// good address.
func AddressProblem(s string) string {
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") || !common.IsHexAddress(s) {
		return "must be a 0x-prefixed 20-byte hex address"
	}
	a := common.HexToAddress(s)
	if digits := s[2:]; digits != strings.ToLower(digits) && digits != strings.ToUpper(digits) && a.Hex() != s {
		return "mixed-case address with a wrong EIP-55 checksum (a typo?); the checksummed form is " + a.Hex()
	}
	return ""
}

// AssetProblem is one thing wrong in a list of assets: the asset's index,
// the field (named as in the configuration: address, name, version,
// decimals, transferMethod) and what is wrong with it.
type AssetProblem struct {
	Index   int
	Field   string
	Message string
}

// CheckAssets reports every problem of a network's assets: a missing or
// repeated address, a missing EIP-712 name or version, more decimals than a
// uint256 holds, an unknown transfer method. [NetworkConfig.Validate] and
// the facilitator's and gateway's configurations share these rules.
func CheckAssets(assets []Asset) []AssetProblem {
	var out []AssetProblem
	seen := map[common.Address]bool{}
	for i, a := range assets {
		fail := func(field, msg string) { out = append(out, AssetProblem{Index: i, Field: field, Message: msg}) }
		switch {
		case a.Address == (common.Address{}):
			fail("address", "required (a 0x-prefixed 20-byte hex address)")
		case seen[a.Address]:
			fail("address", a.Address.Hex()+" is listed twice")
		}
		seen[a.Address] = true
		if a.Name == "" {
			fail("name", `required (the token's EIP-712 domain name, such as USDC or "USD Coin")`)
		}
		if a.Version == "" {
			fail("version", `required (the token's EIP-712 domain version, such as "2")`)
		}
		if a.Decimals > 77 {
			fail("decimals", "must be at most 77")
		}
		if a.TransferMethod != "" && a.TransferMethod != TransferEIP3009 && a.TransferMethod != TransferPermit2 {
			fail("transferMethod", "must be "+TransferEIP3009+" or "+TransferPermit2)
		}
	}
	return out
}

// NetworkConfig describes an EVM network: its chain, how to reach it and
// the assets payable on it. The first asset is the network's default, used
// for prices written in dollars ("$0.001").
type NetworkConfig struct {
	// Network is the CAIP-2 id, "eip155:<ChainID>".
	Network x402.Network `json:"network"`
	// ChainID is the EIP-155 chain id.
	ChainID uint64 `json:"chainId"`
	// Name is a human-readable name, such as "Base Sepolia".
	Name string `json:"name,omitempty"`
	// RPCURLs are JSON-RPC endpoints, tried in order. Empty for the
	// built-in networks: go402 ships no RPC endpoints, configure your own.
	RPCURLs []string `json:"rpcUrls,omitempty"`
	// Assets are the tokens payable on this network, the default first.
	Assets []Asset `json:"assets"`
	// Testnet marks networks whose tokens have no value.
	Testnet bool `json:"testnet,omitempty"`
}

// Validate checks the configuration: a network matching the chain id, and
// valid assets without duplicates.
func (c *NetworkConfig) Validate() error {
	if c.ChainID == 0 {
		return errors.New("evm: network config: chainId is required")
	}
	if c.Network == "" {
		c.Network = x402.EIP155(c.ChainID)
	}
	if c.Network != x402.EIP155(c.ChainID) {
		return fmt.Errorf("evm: network config: network %s does not match chainId %d", c.Network, c.ChainID)
	}
	if probs := CheckAssets(c.Assets); len(probs) > 0 {
		p := probs[0]
		return fmt.Errorf("evm: network %s: assets[%d].%s: %s", c.Network, p.Index, p.Field, p.Message)
	}
	return nil
}

// Networks is a registry of EVM networks and their assets. The zero value
// is empty; [DefaultNetworks] returns one holding the reference
// implementation's default stablecoins. It is safe for concurrent use.
type Networks struct {
	mu sync.RWMutex
	m  map[x402.Network]NetworkConfig
}

// DefaultNetworks returns a registry with the default stablecoins of the
// reference implementation (USDC on Base, Base Sepolia, Polygon, Arbitrum,
// Arbitrum Sepolia and Monad; USDT0 on Stable), so that prices such as
// "$0.001" work on those networks. MegaUSD on MegaETH and mUSD on Mezo
// Testnet are paid through Permit2 (the exact Permit2 proxy must be
// deployed on the chain for a facilitator to settle them).
func DefaultNetworks() *Networks {
	n := &Networks{}
	for _, c := range defaultNetworks() {
		if err := n.Add(c); err != nil {
			panic("evm: invalid built-in network table: " + err.Error()) // unreachable: covered by tests
		}
	}
	return n
}

// Add registers a network, replacing any earlier configuration of the same
// network. The configuration is copied.
func (n *Networks) Add(c NetworkConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.Assets = slices.Clone(c.Assets)
	c.RPCURLs = slices.Clone(c.RPCURLs)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[x402.Network]NetworkConfig{}
	}
	n.m[c.Network] = c
	return nil
}

// Lookup returns the configuration of a network (a v1 legacy name is
// accepted too).
func (n *Networks) Lookup(network x402.Network) (NetworkConfig, error) {
	n.mu.RLock()
	c, ok := n.m[network.Canonical()]
	n.mu.RUnlock()
	if !ok {
		return NetworkConfig{}, fmt.Errorf("%w: %s", ErrUnknownNetwork, network)
	}
	c.Assets = slices.Clone(c.Assets)
	c.RPCURLs = slices.Clone(c.RPCURLs)
	return c, nil
}

// List returns every registered network, sorted by chain id.
func (n *Networks) List() []NetworkConfig {
	n.mu.RLock()
	out := make([]NetworkConfig, 0, len(n.m))
	for _, c := range n.m {
		out = append(out, c)
	}
	n.mu.RUnlock()
	slices.SortFunc(out, func(a, b NetworkConfig) int {
		switch {
		case a.ChainID < b.ChainID:
			return -1
		case a.ChainID > b.ChainID:
			return 1
		}
		return 0
	})
	return out
}

// Asset returns the asset at an address on a network.
func (n *Networks) Asset(network x402.Network, address common.Address) (Asset, error) {
	c, err := n.Lookup(network)
	if err != nil {
		return Asset{}, err
	}
	for _, a := range c.Assets {
		if a.Address == address {
			return a, nil
		}
	}
	return Asset{}, fmt.Errorf("%w: %s on %s", ErrUnknownAsset, address, network)
}

// ResolvePrice picks the asset a price is denominated in and converts the
// price to its atomic units. A dollar or bare price ("$0.001", "0.001")
// uses the network's default asset; a price with a symbol ("0.25 USDC")
// uses the asset with that symbol (case-insensitive).
//
// An asset whose transfer method is neither EIP-3009 nor Permit2 is an
// error wrapping [ErrUnsupportedTransferMethod] (CheckAssets refuses such
// assets, so only a registry built by hand can hold one).
func (n *Networks) ResolvePrice(network x402.Network, p x402.Price) (Asset, x402.Amount, error) {
	c, err := n.Lookup(network)
	if err != nil {
		return Asset{}, x402.Amount{}, err
	}
	if len(c.Assets) == 0 {
		return Asset{}, x402.Amount{}, fmt.Errorf("%w: %s has no assets", ErrUnknownAsset, network)
	}
	asset := c.Assets[0]
	if p.Unit != "" && p.Unit != "USD" {
		i := slices.IndexFunc(c.Assets, func(a Asset) bool { return strings.EqualFold(a.Symbol, p.Unit) })
		if i < 0 {
			return Asset{}, x402.Amount{}, fmt.Errorf("%w: no %s on %s", ErrUnknownAsset, p.Unit, network)
		}
		asset = c.Assets[i]
	}
	if m := asset.Method(); m != TransferEIP3009 && m != TransferPermit2 {
		return Asset{}, x402.Amount{}, fmt.Errorf("%w: %s on %s is paid through %s; go402 implements %s and %s", ErrUnsupportedTransferMethod, asset.Symbol, network, m, TransferEIP3009, TransferPermit2)
	}
	amount, err := p.Atomic(asset.Decimals)
	if err != nil {
		return Asset{}, x402.Amount{}, err
	}
	return asset, amount, nil
}

// Requirements builds "exact" payment requirements for a price on a network:
// the asset resolved with [Networks.ResolvePrice], its EIP-712 domain in
// extra, payTo and the timeout (seconds; 0 means 300, the reference
// default). An asset paid through Permit2 gets
// extra.assetTransferMethod "permit2" (see [Asset.Extra]).
func (n *Networks) Requirements(network x402.Network, p x402.Price, payTo common.Address, maxTimeoutSeconds int) (x402.PaymentRequirements, error) {
	asset, amount, err := n.ResolvePrice(network, p)
	if err != nil {
		return x402.PaymentRequirements{}, err
	}
	if maxTimeoutSeconds <= 0 {
		maxTimeoutSeconds = DefaultMaxTimeoutSeconds
	}
	return x402.PaymentRequirements{
		Scheme:            SchemeExact,
		Network:           network.Canonical(),
		Amount:            amount,
		Asset:             asset.Address.Hex(),
		PayTo:             payTo.Hex(),
		MaxTimeoutSeconds: maxTimeoutSeconds,
		Extra:             asset.Extra(),
	}, nil
}

// DefaultMaxTimeoutSeconds is the payment validity window used when none is
// configured, as in the reference implementation.
const DefaultMaxTimeoutSeconds = 300

func usdc(addr, name string) []Asset {
	return []Asset{{Address: common.HexToAddress(addr), Symbol: "USDC", Name: name, Version: "2", Decimals: 6}}
}

// defaultNetworks is the reference implementation's default stablecoin
// table (x402 v2, DEFAULT_STABLECOINS).
func defaultNetworks() []NetworkConfig {
	return []NetworkConfig{
		{ChainID: 8453, Name: "Base", Assets: usdc("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin")},
		{ChainID: 84532, Name: "Base Sepolia", Testnet: true, Assets: usdc("0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC")},
		{ChainID: 137, Name: "Polygon", Assets: usdc("0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "USD Coin")},
		{ChainID: 42161, Name: "Arbitrum One", Assets: usdc("0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USD Coin")},
		{ChainID: 421614, Name: "Arbitrum Sepolia", Testnet: true, Assets: usdc("0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", "USD Coin")},
		// Monad's USDC reports name() "USDC" (x402-foundation/x402#3102; @x402/evm 2.27 agrees).
		{ChainID: 143, Name: "Monad", Assets: usdc("0x754704Bc059F8C67012fEd69BC8A327a5aafb603", "USDC")},
		{ChainID: 988, Name: "Stable", Assets: []Asset{{Address: common.HexToAddress("0x779Ded0c9e1022225f8E0630b35a9b54bE713736"), Symbol: "USDT0", Name: "USDT0", Version: "1", Decimals: 6}}},
		{ChainID: 2201, Name: "Stable Testnet", Testnet: true, Assets: []Asset{{Address: common.HexToAddress("0x78Cf24370174180738C5B8E352B6D14c83a6c9A9"), Symbol: "USDT0", Name: "USDT0", Version: "1", Decimals: 6}}},
		{ChainID: 4326, Name: "MegaETH", Assets: []Asset{{Address: common.HexToAddress("0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7"), Symbol: "MegaUSD", Name: "MegaUSD", Version: "1", Decimals: 18, TransferMethod: TransferPermit2}}},
		{ChainID: 31611, Name: "Mezo Testnet", Testnet: true, Assets: []Asset{{Address: common.HexToAddress("0x118917a40FAF1CD7a13dB0Ef56C86De7973Ac503"), Symbol: "mUSD", Name: "Mezo USD", Version: "1", Decimals: 18, TransferMethod: TransferPermit2}}},
	}
}
