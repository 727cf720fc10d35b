// Command go402 is the x402 payment protocol toolkit: a local devnet chain,
// a facilitator, a paying client and a paid-API gateway in one binary.
//
// All logic lives in internal/cli; main only wires signals and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go402/go402/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
