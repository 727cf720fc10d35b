package client

import (
	"fmt"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// NewEVM returns a Client that pays with the EVM "exact" scheme (EIP-3009
// authorizations signed by signer, x402 v1 and v2, any eip155 network)
// and the EVM "upto" scheme (a Permit2 authorization of a maximum, of
// which the server charges what the request used; x402 v2): it registers
// those scheme clients in cfg.Schemes (a new registry if nil) with
// [evm.RegisterExactClient] and [upto.RegisterClient], unless the registry
// has one for the scheme already, and calls [New]. The policy reserves an
// upto payment's maximum, which the server may charge in full, and counts
// what its settlement transaction transferred once the chain shows it
// (see docs/client.md). It is the usual way to build a paying client:
//
//	c, err := client.NewEVM(signer, client.Config{Policy: client.Policy{MaxPerRequest: "$0.10"}})
func NewEVM(signer evm.Signer, cfg Config) (*Client, error) {
	if signer == nil {
		return nil, fmt.Errorf("client: a signer is required")
	}
	if cfg.Schemes == nil {
		cfg.Schemes = new(x402.Registry[x402.SchemeClient])
	}
	if err := evm.RegisterExactClient(cfg.Schemes, evm.ExactClientConfig{Signer: signer, Now: cfg.Now, RPCURLs: cfg.RPCURLs}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if _, _, err := cfg.Schemes.Lookup(x402.V2, upto.Scheme, "eip155:1"); err != nil {
		if err := upto.RegisterClient(cfg.Schemes, upto.ClientConfig{Signer: signer, Now: cfg.Now, RPCURLs: cfg.RPCURLs}); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	return New(cfg)
}

// DefaultAssets returns a registry of the built-in EVM stablecoins (those
// of [evm.DefaultNetworks]: USDC on Base, Polygon, Arbitrum, ...), which
// [New] uses when Config.Assets is nil.
func DefaultAssets() *Assets {
	r, err := AssetsFromNetworks(evm.DefaultNetworks())
	if err != nil {
		panic("client: invalid built-in asset table: " + err.Error()) // unreachable: covered by tests
	}
	return r
}

// AssetsFromNetworks returns a registry of the assets of every network in
// an EVM networks registry (see [EVMAssets]).
func AssetsFromNetworks(nets *evm.Networks) (*Assets, error) {
	r := &Assets{}
	for _, nc := range nets.List() {
		if err := r.Add(EVMAssets(nc)...); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// EVMAssets converts the assets of an EVM network configuration (for
// example a devnet's) to client assets. A symbol of a well-known US
// dollar stablecoin (USDC, USDT, DAI, ...) marks the asset USDStablecoin.
func EVMAssets(nc evm.NetworkConfig) []Asset {
	network := nc.Network
	if network == "" {
		network = x402.EIP155(nc.ChainID)
	}
	out := make([]Asset, 0, len(nc.Assets))
	for _, a := range nc.Assets {
		out = append(out, Asset{
			Network: network, Address: a.Address.Hex(), Decimals: a.Decimals, Symbol: a.Symbol,
			USDStablecoin: usdStablecoin(a.Symbol), Name: a.Name, Version: a.Version, TransferMethod: a.TransferMethod,
		})
	}
	return out
}
