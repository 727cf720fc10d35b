package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// The sample API's metered endpoint: GET /generate authorizes at most
// $0.01 and is charged $0.0001 a token generated, a varying number that is
// sometimes zero.
const (
	stackUptoPath      = "/generate"
	stackUptoMax       = "$0.01"
	stackUptoUnitPrice = "$0.0001"
)

// registerStackUpto registers the upto scheme server in schemes, with the
// facilitator address fac announces on network.
func registerStackUpto(ctx context.Context, schemes *x402.Registry[x402.SchemeServer], fac x402.Facilitator, nets *evm.Networks, network x402.Network) error {
	addr, err := upto.FacilitatorAddress(ctx, fac, network)
	if err != nil {
		return err
	}
	return upto.RegisterServer(schemes, &upto.Server{Networks: nets, Facilitators: map[x402.Network]common.Address{network: addr}})
}

// approveStackPayers has each payer account approve Permit2 for the
// devnet's test USDC, so that they can pay upto routes: an upto payment
// is a Permit2 transfer, and the upto client never approves itself. DEV
// ONLY convenience: a real payer approves once, or pays through a
// gas-sponsoring extension.
func approveStackPayers(ctx context.Context, d *devnet.Devnet, payers []devnet.Account) error {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for _, a := range payers {
		if err := d.ApprovePermit2(ctx, a, d.Token().Address, max); err != nil {
			return fmt.Errorf("approving Permit2 from %s: %w", a.Address.Hex(), err)
		}
	}
	return nil
}

// stackUptoRoute is the metered route of the sample API.
func stackUptoRoute(network x402.Network, payTo string) x402http.Route {
	return x402http.Route{
		Pattern: "GET " + stackUptoPath, Description: "Text generation, charged per token (at most " + stackUptoMax + ")", MimeType: "application/json",
		Accepts:   []x402http.PaymentOption{{Scheme: upto.Scheme, Network: network, Price: stackUptoMax, PayTo: payTo}},
		UnitPrice: stackUptoUnitPrice,
	}
}

// stackUptoTokens is how many tokens the n-th answer (from 1) of
// /generate uses: none every third answer, else between 1 and 90, so at
// most $0.009 of the $0.01 authorized.
func stackUptoTokens(n uint64) int {
	if n%3 == 0 {
		return 0
	}
	return int(n*37%90) + 1
}

// handleGenerate serves /generate: it "generates" a varying number of
// tokens and charges each.
func handleGenerate(mux *http.ServeMux) {
	var calls atomic.Uint64
	mux.HandleFunc("GET "+stackUptoPath, func(w http.ResponseWriter, r *http.Request) {
		k := stackUptoTokens(calls.Add(1))
		words := make([]string, k)
		for i := range words {
			words[i] = "lorem"
		}
		if err := x402http.Use(r, uint64(k)); err != nil && !errors.Is(err, x402http.ErrNotMetered) {
			http.Error(w, "metering failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"tokens": k, "text": strings.Join(words, " ")})
	})
}
