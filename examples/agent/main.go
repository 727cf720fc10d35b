// Command agent is an AI agent's HTTP client that pays x402 402 responses by
// itself, inside a budget it cannot exceed. The payer key comes from
// GO402_PAYER_KEY (a devnet key printed by `go402 dev` for local tests).
//
//	GO402_PAYER_KEY=0x... go run ./examples/agent -devnet-info /tmp/go402-dev-….json http://127.0.0.1:8080/weather
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/examples/internal/devinfo"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run calls the URL in args -calls times and stops at the first call the
// budget refuses.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("agent", flag.ContinueOnError)
	info := flags.String("devnet-info", "", "info file of `go402 dev` (registers the devnet's token)")
	budget := flags.String("budget", "$0.01", "total the agent may spend")
	calls := flags.Int("calls", 3, "how many times to call the URL")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return errors.New("usage: agent [-devnet-info FILE] [-budget $0.01] [-calls 3] URL")
	}
	nets := evm.DefaultNetworks()
	if *info != "" {
		if _, err := devinfo.Load(*info, nets); err != nil {
			return err
		}
	}
	signer, err := client.LoadKeyFromEnv("GO402_PAYER_KEY")
	if err != nil {
		return err
	}
	assets, err := client.AssetsFromNetworks(nets)
	if err != nil {
		return err
	}
	agent, err := client.NewEVM(signer, client.Config{
		Assets: assets,
		Policy: client.Policy{MaxPerRequest: "$0.005", Budget: *budget},
	})
	if err != nil {
		return err
	}
	httpc := agent.HTTPClient()
	for i := range *calls {
		resp, err := get(ctx, httpc, flags.Arg(0))
		var refused *client.PolicyError
		if errors.As(err, &refused) {
			fmt.Fprintf(stdout, "call %d refused by policy: %v\n", i+1, refused)
			return nil
		}
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if r, ok := client.ReceiptFromResponse(resp); ok && r.Settlement != nil {
			fmt.Fprintf(stdout, "call %d: %s (paid %s, tx %s)\n", i+1, body, r.Option.Price, r.Settlement.Transaction)
		} else {
			fmt.Fprintf(stdout, "call %d: %d %s\n", i+1, resp.StatusCode, body)
		}
	}
	return nil
}

// get is httpc.Get(url) bound to ctx.
func get(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}
