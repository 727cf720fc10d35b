package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go402/go402/devnet"
)

const devnetUsage = `devnet [--listen ADDR] [--chain-id ID] [--accounts N] [--block-time D [--no-automine]] [--info-file PATH]

Runs a local EVM chain in the foreground with a USDC-like test token
(EIP-3009) deployed and funded dev accounts, until interrupted (Ctrl-C),
and serves its JSON-RPC over HTTP on --listen (loopback only).
DEV ONLY: the account keys are public.`

func runDevnet(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "devnet", devnetUsage)
	addr := fs.String("listen", "127.0.0.1:8545", "JSON-RPC HTTP listen `address` host:port (loopback only; port 0 picks a free port)")
	fs.StringVar(addr, "addr", "127.0.0.1:8545", "former name of --listen")
	hideFlag(fs, "addr")
	chainID := fs.Uint64("chain-id", devnet.DefaultChainID, "EIP-155 chain `id`")
	accounts := fs.Int("accounts", devnet.DefaultAccounts, fmt.Sprintf("number of funded accounts (1-%d)", devnet.MaxAccounts))
	blockTime := fs.Duration("block-time", 0, "also mine a block every `interval` (at least 1s); 0 mines only when a transaction arrives")
	noAutoMine := fs.Bool("no-automine", false, "do not mine when a transaction arrives, only every --block-time (which must be set)")
	infoFile := fs.String("info-file", "", "write the devnet description as JSON to `path` (mode 0600, includes the dev keys); removed on exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch {
	case *addr == "":
		return usagef("--listen must not be empty")
	case *chainID == 0:
		return usagef("--chain-id must be positive")
	case *accounts < 1 || *accounts > devnet.MaxAccounts:
		return usagef("--accounts must be between 1 and %d", devnet.MaxAccounts)
	case *noAutoMine && *blockTime <= 0:
		return usagef("--no-automine needs --block-time (blocks would never be mined)")
	}

	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := devnet.Start(ctx, devnet.Config{
		ChainID:    *chainID,
		Accounts:   *accounts,
		BlockTime:  *blockTime,
		NoAutoMine: *noAutoMine,
		RPCAddr:    *addr,
		Logger:     logger,
	})
	switch {
	case errors.Is(err, devnet.ErrInvalidConfig):
		return usagef("%v", err)
	case err != nil && ctx.Err() != nil:
		return nil // interrupted while starting
	case err != nil:
		return fmt.Errorf("start devnet: %w", err)
	}

	info := d.Info()
	printDevnet(e.stdout, d, info, *infoFile)
	if *infoFile != "" {
		if err := writeInfoFile(*infoFile, info); err != nil {
			return errors.Join(err, d.Close())
		}
	}

	<-ctx.Done()
	fmt.Fprintln(e.stderr, "go402 devnet: shutting down")
	var errs []error
	if *infoFile != "" {
		if err := os.Remove(*infoFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove info file: %w", err))
		}
	}
	// cmd/go402 keeps SIGINT captured until Run returns, so a second Ctrl-C
	// cannot interrupt a stuck shutdown: bound the wait instead.
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			errs = append(errs, fmt.Errorf("close devnet: %w", err))
		}
	case <-time.After(devnetShutdownTimeout):
		errs = append(errs, fmt.Errorf("devnet did not stop within %v; exiting anyway", devnetShutdownTimeout))
	}
	return errors.Join(errs...)
}

// devnetShutdownTimeout bounds how long `go402 devnet` waits for the chain
// to stop after an interrupt.
const devnetShutdownTimeout = 15 * time.Second

// printDevnet prints the connection details and the (public) dev keys. This
// is the one place go402 prints private keys, deliberately and labelled.
func printDevnet(w io.Writer, d *devnet.Devnet, info devnet.Info, infoFile string) {
	tok := d.Token()
	fmt.Fprintf(w, "go402 devnet is running (DEV ONLY)\n\n")
	fmt.Fprintf(w, "  RPC URL    %s\n", info.RPCURL)
	fmt.Fprintf(w, "  Chain ID   %d\n", info.ChainID)
	fmt.Fprintf(w, "  Network    %s\n", info.Network)
	fmt.Fprintf(w, "  Token      %s  (name %q, version %q, symbol %s, %d decimals)\n",
		info.Token.Address, tok.Name, tok.Version, tok.Symbol, tok.Decimals)
	pt := d.PermitToken()
	fmt.Fprintf(w, "  Permit tok %s  (name %q, version %q, symbol %s, %d decimals; EIP-2612, no EIP-3009)\n",
		info.PermitToken.Address, pt.Name, pt.Version, pt.Symbol, pt.Decimals)
	fmt.Fprintf(w, "  Owner      %s  (deployer; the only account that can mint)\n\n", d.Deployer().Address.Hex())

	fmt.Fprintf(w, "Funded accounts, %s ETH, %s %s and %s %s each.\n",
		formatUnits(devnet.DefaultETHBalance(), 18), formatUnits(devnet.DefaultTokenBalance(), int(tok.Decimals)), tok.Symbol,
		formatUnits(devnet.DefaultTokenBalance(), int(pt.Decimals)), pt.Symbol)
	fmt.Fprintf(w, "DEV ONLY — these keys are public, never use them on a real network.\n\n")
	for i, a := range info.Accounts {
		fmt.Fprintf(w, "  (%d) %s\n      private key %s\n", i, a.Address, a.PrivateKey)
	}
	fmt.Fprintln(w)
	if infoFile != "" {
		fmt.Fprintf(w, "Info JSON: %s\n", infoFile)
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}

// writeInfoFile writes info as JSON to path atomically (temporary file in
// the same directory, then rename) with mode 0600.
func writeInfoFile(path string, info devnet.Info) (err error) {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode info: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".devnet-info-*.tmp")
	if err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write info file: %w", err)
	}
	return nil
}

// formatUnits renders an integer amount with the given decimals, e.g.
// (1500000, 6) -> "1.5", without thousands separators.
func formatUnits(v *big.Int, decimals int) string {
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)
	q, r := new(big.Int).QuoRem(v, unit, new(big.Int))
	if r.Sign() == 0 {
		return q.String()
	}
	frac := r.String()
	frac = strings.Repeat("0", decimals-len(frac)) + frac
	return q.String() + "." + strings.TrimRight(frac, "0")
}
