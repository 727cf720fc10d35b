// Command protect-api is a net/http API whose /weather endpoint costs
// $0.001 in USDC, paid with x402. Run `go402 dev --info-file dev.json`
// first (or point FACILITATOR_URL at any facilitator and use a network from
// evm.DefaultNetworks), then:
//
//	go run ./examples/protect-api -devnet-info dev.json -pay-to 0xYourAddress
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/examples/internal/devinfo"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

func main() {
	facURL := flag.String("facilitator", "http://127.0.0.1:4022", "facilitator URL")
	network := flag.String("network", "eip155:84532", "CAIP-2 network to be paid on")
	payTo := flag.String("pay-to", "", "address that receives the payments")
	info := flag.String("devnet-info", "", "info file of `go402 dev` (sets facilitator and network)")
	flag.Parse()

	nets := evm.DefaultNetworks()
	if *info != "" {
		d, err := devinfo.Load(*info, nets)
		if err != nil {
			log.Fatal(err)
		}
		*facURL, *network = d.FacilitatorURL, d.Network
	}
	fac, err := remote.New(remote.Config{URL: *facURL})
	if err != nil {
		log.Fatal(err)
	}
	paywall, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Pricing:     evm.Pricing{Networks: nets},
		Routes: []x402http.Route{{
			Pattern:     "GET /weather",
			Accepts:     []x402http.PaymentOption{{Network: x402.Network(*network), Price: "$0.001", PayTo: *payTo}},
			Description: "Current weather",
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /weather", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"forecast":"sunny"}`))
	})
	log.Println("listening on http://127.0.0.1:8080 (GET /weather costs $0.001)")
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", paywall.Handler(mux)))
}
