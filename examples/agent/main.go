// Command agent is an AI agent's HTTP client that pays x402 402 responses by
// itself, inside a budget it cannot exceed. The payer key comes from
// GO402_PAYER_KEY (a devnet key printed by `go402 dev` for local tests).
//
//	GO402_PAYER_KEY=0x... go run ./examples/agent -devnet-info dev.json http://127.0.0.1:8080/weather
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/examples/internal/devinfo"
)

func main() {
	info := flag.String("devnet-info", "", "info file of `go402 dev` (registers the devnet's token)")
	budget := flag.String("budget", "$0.01", "total the agent may spend")
	calls := flag.Int("calls", 3, "how many times to call the URL")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: agent [-devnet-info FILE] [-budget $0.01] URL")
	}
	nets := evm.DefaultNetworks()
	if *info != "" {
		if _, err := devinfo.Load(*info, nets); err != nil {
			log.Fatal(err)
		}
	}
	signer, err := client.LoadKeyFromEnv("GO402_PAYER_KEY")
	if err != nil {
		log.Fatal(err)
	}
	agent, err := client.New(client.Config{
		Signer:   signer,
		Networks: nets,
		Policy:   client.Policy{MaxPerRequest: "$0.005", Budget: *budget},
	})
	if err != nil {
		log.Fatal(err)
	}
	http := agent.HTTPClient()
	for i := range *calls {
		resp, err := http.Get(flag.Arg(0))
		var refused *client.PolicyError
		if errors.As(err, &refused) {
			fmt.Printf("call %d refused by policy: %v\n", i+1, refused)
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if r, ok := client.ReceiptFromResponse(resp); ok && r.Settlement != nil {
			fmt.Printf("call %d: %s (paid %s, tx %s)\n", i+1, body, r.Option.Price, r.Settlement.Transaction)
		} else {
			fmt.Printf("call %d: %d %s\n", i+1, resp.StatusCode, body)
		}
	}
}
