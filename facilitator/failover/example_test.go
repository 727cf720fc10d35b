package failover_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/go402/go402/facilitator/failover"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
)

func Example() {
	// Two remote facilitators, the first preferred. (Here the first is a
	// closed port, so it is unreachable.)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	urls := []string{dead, "https://x402.org/facilitator"}
	a, err := remote.New(remote.Config{URL: urls[0], Retries: -1})
	if err != nil {
		log.Fatal(err)
	}
	_, err = a.Supported(context.Background())
	fmt.Println("first:", failover.Classify(err))

	b, err := remote.New(remote.Config{URL: urls[1]})
	if err != nil {
		log.Fatal(err)
	}
	fac, err := failover.New([]x402.Facilitator{a, b}, failover.Options{Names: urls})
	if err != nil {
		log.Fatal(err)
	}
	_ = fac // use as x402http.Config.Facilitator, in the gateway or in x402mcp
	// Output:
	// first: unreachable
}
