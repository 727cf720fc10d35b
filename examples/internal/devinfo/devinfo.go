// Package devinfo reads the info file of `go402 dev` (whose path it
// prints; --info-file chooses it) for the examples: it registers the
// devnet's network and token so that "$" prices resolve, and returns the
// facilitator URL.
package devinfo

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
)

// Info is the part of the info file the examples use.
type Info struct {
	ChainID        uint64 `json:"chainId"`
	Network        string `json:"network"`
	FacilitatorURL string `json:"facilitatorUrl"`
	Token          struct {
		Address  string `json:"address"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Decimals uint8  `json:"decimals"`
	} `json:"token"`
}

// Load reads path and registers the devnet in nets.
func Load(path string, nets *evm.Networks) (*Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var in Info
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	err = nets.Add(evm.NetworkConfig{ChainID: in.ChainID, Name: "go402 devnet", Testnet: true, Assets: []evm.Asset{{
		Address: common.HexToAddress(in.Token.Address), Symbol: "USDC", Name: in.Token.Name, Version: in.Token.Version, Decimals: in.Token.Decimals,
	}}})
	return &in, err
}
