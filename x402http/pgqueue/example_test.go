package pgqueue_test

import (
	"context"
	"log"
	"os"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/pgqueue"
)

// Replicas of a server on several hosts share one queue: each opens it on
// the same database and runs the settlement workers.
func Example() {
	ctx := context.Background()
	q, err := pgqueue.Open(ctx, pgqueue.Config{URL: os.Getenv("QUEUE_DB_URL"), Schema: "x402_queue"})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	var fac x402.Facilitator // a remote facilitator client, such as remote.New(...)
	mw, err := x402http.New(x402http.Config{Facilitator: fac, Queue: q})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = mw.RunSettlements(ctx) }()
}
