package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/x402"
)

// A facilitator on the embedded devnet (DEV ONLY: its settlement key is a
// funded devnet account), with a temporary SQLite ledger, served over
// HTTP. In production, cfg comes from config.Load and names the networks,
// their RPC endpoints and where the settlement key is.
func Example() {
	ctx := context.Background()
	cfg := &config.Config{Devnet: config.Devnet{Enabled: true}}
	svc, err := service.New(ctx, cfg, service.Deps{})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/supported")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var sup x402.SupportedResponse
	if err := json.NewDecoder(resp.Body).Decode(&sup); err != nil {
		log.Fatal(err)
	}
	for _, k := range sup.Kinds {
		fmt.Printf("x402 v%d, scheme %s, network %s\n", k.X402Version, k.Scheme, k.Network)
	}
	fmt.Println("signer:", svc.Signers()[0].Hex())
	fmt.Println("temporary ledger:", svc.TemporaryDatabase())

	// Stop: wait for settlements in flight, then close the ledger and the
	// chain (the deferred Close does both).
	if err := svc.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// x402 v1, scheme exact, network eip155:31337
	// x402 v2, scheme exact, network eip155:31337
	// x402 v2, scheme batch-settlement, network eip155:31337
	// x402 v2, scheme upto, network eip155:31337
	// signer: 0xA002d4980aF9b8ef8DfACc41B3BD554035f20f13
	// temporary ledger: true
}
