package service

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/x402"
)

// assetInfo tells the symbol and decimals of an asset of a served
// network, for the prices GET /discovery/resources shows in units.
func (s *Service) assetInfo(network x402.Network, asset string) (facilitator.AssetInfo, bool) {
	if !common.IsHexAddress(asset) {
		return facilitator.AssetInfo{}, false
	}
	addr := common.HexToAddress(asset)
	for _, n := range s.nets {
		if n.Network != network {
			continue
		}
		for _, a := range n.Assets {
			if a.Address == addr {
				return facilitator.AssetInfo{Symbol: a.Symbol, Decimals: a.Decimals}, true
			}
		}
	}
	return facilitator.AssetInfo{}, false
}
