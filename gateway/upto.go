package gateway

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// registerUpto registers the EVM upto scheme server on every network an
// upto route of cfg is paid on, unless schemes has one there already (from
// Deps.Schemes), with the facilitator address fac announces for upto on
// that network (payers name it in their witness: only it may settle).
func (g *Gateway) registerUpto(ctx context.Context, cfg *Config, fac x402.Facilitator, schemes *x402.Registry[x402.SchemeServer]) error {
	srv := &upto.Server{Networks: g.networks(cfg), Facilitators: map[x402.Network]common.Address{}}
	var todo []x402.Network
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		if r.Free() || !r.upto() {
			continue
		}
		for _, n := range cfg.EffectiveNetworks(r) {
			if _, _, err := schemes.Lookup(x402.V2, SchemeUpto, n); err == nil {
				continue
			}
			if _, done := srv.Facilitators[n]; done {
				continue
			}
			if fac == nil {
				return cfg.fieldError(fmt.Sprintf("routes[%d].scheme", i), "an upto route needs a facilitator")
			}
			addr, err := upto.FacilitatorAddress(ctx, fac, n)
			if err != nil {
				return cfg.fieldError(fmt.Sprintf("routes[%d].scheme", i), "the facilitator does not settle upto on %s: %v", n, err)
			}
			srv.Facilitators[n] = addr
			todo = append(todo, n)
		}
	}
	for _, n := range todo {
		if err := schemes.Register(x402.V2, SchemeUpto, n, srv); err != nil {
			return fmt.Errorf("gateway: registering upto on %s: %w", n, err)
		}
	}
	return nil
}
