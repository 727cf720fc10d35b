package devnet

import (
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// NetworkConfig describes the devnet as an EVM network: its chain id, RPC
// URL (when serving JSON-RPC) and the test token as its only asset.
func (d *Devnet) NetworkConfig() evm.NetworkConfig {
	tok := d.Token()
	c := evm.NetworkConfig{
		Network: x402.Network(d.Network()),
		ChainID: d.ChainID().Uint64(),
		Name:    "go402 devnet",
		Testnet: true,
		Assets: []evm.Asset{{
			Address:  tok.Address,
			Symbol:   tok.Symbol,
			Name:     tok.Name,
			Version:  tok.Version,
			Decimals: tok.Decimals,
		}},
	}
	if url := d.RPCURL(); url != "" {
		c.RPCURLs = []string{url}
	}
	return c
}

// Register adds the devnet to a networks registry, so that prices such as
// "$0.001" resolve to the devnet's test USDC.
func (d *Devnet) Register(nets *evm.Networks) error {
	return nets.Add(d.NetworkConfig())
}
