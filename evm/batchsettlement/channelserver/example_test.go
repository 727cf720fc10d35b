package channelserver_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// A route paid by batch-settlement vouchers: the channel server is
// registered as the scheme's server, so that the middleware hands it the
// payments; its claimer runs beside the HTTP server.
func Example() {
	dir, err := os.MkdirTemp("", "channels")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "channels.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	var facilitator x402.Facilitator = &noFacilitator{} // in a real server: remote.New(...) or an in-process facilitator
	srv, err := channelserver.New(channelserver.Config{
		Scheme:      &batchsettlement.Server{ReceiverAuthorizer: common.HexToAddress("0x00000000000000000000000000000000000000a1")},
		Store:       store,
		Facilitator: facilitator, // the facilitator holds the receiver-authorizer key: Authorizer is nil
	})
	if err != nil {
		log.Fatal(err)
	}
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, batchsettlement.Scheme, "eip155:*", srv); err != nil {
		log.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{Facilitator: facilitator, Schemes: schemes, Routes: []x402http.Route{{
		Pattern: "GET /weather",
		Accepts: []x402http.PaymentOption{{Scheme: batchsettlement.Scheme, Network: "eip155:84532", Price: "$0.001", PayTo: "0x00000000000000000000000000000000000000aa"}},
	}}})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	claims := make(chan error, 1)
	go func() { claims <- srv.RunClaims(ctx, channelserver.ClaimConfig{}) }()
	handler := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "sunny") }))
	_ = handler // http.ListenAndServe(addr, handler)
	stop()      // at shutdown: the claimer claims every unclaimed voucher
	fmt.Println(<-claims)
	// Output: <nil>
}
