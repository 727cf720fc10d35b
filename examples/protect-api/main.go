// Command protect-api is a net/http API whose /weather endpoint costs
// $0.001 in USDC, paid with x402. Run `go402 dev` first (it prints the path
// of its info file; or point -facilitator at any facilitator and use a
// network from evm.DefaultNetworks), then:
//
//	go run ./examples/protect-api -devnet-info /tmp/go402-dev-….json -pay-to 0xYourAddress
package main

import (
	"flag"
	"log"
	"net/http"
	"os"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/examples/internal/devinfo"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

func main() {
	api, err := newAPI(os.Args[1:])
	if err != nil {
		log.Fatal(err)
	}
	log.Println("listening on http://127.0.0.1:8080 (GET /weather costs $0.001)")
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", api))
}

// newAPI returns the API, with /weather behind the x402 paywall, as the
// command line args configure it.
func newAPI(args []string) (http.Handler, error) {
	flags := flag.NewFlagSet("protect-api", flag.ContinueOnError)
	facURL := flags.String("facilitator", "http://127.0.0.1:4022", "facilitator URL")
	network := flags.String("network", "eip155:84532", "CAIP-2 network to be paid on")
	payTo := flags.String("pay-to", "", "address that receives the payments")
	info := flags.String("devnet-info", "", "info file of `go402 dev` (sets facilitator and network)")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}

	nets := evm.DefaultNetworks()
	if *info != "" {
		d, err := devinfo.Load(*info, nets)
		if err != nil {
			return nil, err
		}
		*facURL, *network = d.FacilitatorURL, d.Network
	}
	fac, err := remote.New(remote.Config{URL: *facURL})
	if err != nil {
		return nil, err
	}
	paywall, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(nets),
		Routes: []x402http.Route{{
			Pattern:     "GET /weather",
			Accepts:     []x402http.PaymentOption{{Network: x402.Network(*network), Price: "$0.001", PayTo: *payTo}},
			Description: "Current weather",
		}},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /weather", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"forecast":"sunny"}`))
	})
	return paywall.Handler(mux), nil
}
