package cli

import (
	"context"
	"encoding/hex"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/devnet"
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
	// TestSecretsNeverShow's facilitators read their settlement key from
	// this variable (devnet account 2, public); set once here so that the
	// test can run in parallel with the others (t.Setenv forbids that).
	if a, err := devnet.DevAccount(2); err == nil {
		os.Setenv(secretSignerEnv, hex.EncodeToString(crypto.FromECDSA(a.PrivateKey)))
	}
	os.Exit(m.Run())
}
