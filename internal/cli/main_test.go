package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// runAsGo402 is set in the environment of a subprocess started by
// startProc: the test binary then runs as the go402 command (what
// cmd/go402's main does) instead of running tests, so the crash tests need
// not build the command first.
const runAsGo402 = "CLI_TEST_RUN_AS_GO402"

func TestMain(m *testing.M) {
	if os.Getenv(runAsGo402) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
