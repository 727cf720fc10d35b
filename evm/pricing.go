package evm

import (
	"fmt"

	"github.com/go402/go402/x402"
)

// Pricing adapts a [Networks] registry to resource-server pricing: it turns
// a price on a network into "exact" payment requirements, with payTo as
// text. It implements x402http.Pricing.
type Pricing struct {
	Networks *Networks
}

// Requirements resolves price on network (see [Networks.Requirements]).
func (p Pricing) Requirements(network x402.Network, price x402.Price, payTo string, maxTimeoutSeconds int) (x402.PaymentRequirements, error) {
	addr, ok := hexAddress(payTo)
	if !ok {
		return x402.PaymentRequirements{}, fmt.Errorf("evm: payTo %q is not an address", payTo)
	}
	if p.Networks == nil {
		return x402.PaymentRequirements{}, fmt.Errorf("%w: no networks registry", ErrUnknownNetwork)
	}
	return p.Networks.Requirements(network, price, addr, maxTimeoutSeconds)
}
