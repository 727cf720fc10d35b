// Package cli implements the go402 subcommands. Each subcommand lives in its
// own file and registers itself in the commands table below; cmd/go402 only
// calls Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit codes shared by all subcommands.
const (
	ExitOK    = 0
	ExitError = 1 // runtime failure
	ExitUsage = 2 // bad flags or arguments
)

// env is what a subcommand gets from Run: streams only, no globals.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one go402 subcommand.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, e env, args []string) error
}

// commands lists every subcommand. New subcommands add an entry here.
func commands() []command {
	return []command{
		{name: "version", short: "print the go402 version", run: runVersion},
		{name: "bench", short: "measure go402 against the official TypeScript facilitator on a devnet", run: runBench},
		{name: "demo", short: "show a complete paid x402 flow on an embedded devnet (no internet)", run: runDemo},
		{name: "dev", short: "keep a devnet, a facilitator and a paid API running on loopback", run: runDev},
		{name: "devnet", short: "run a local EVM chain with a test USDC token (dev only)", run: runDevnet},
		{name: "facilitator", short: "run an x402 facilitator (verify and settle payments)", run: runFacilitator},
		{name: "gateway", short: "sell an HTTP API or a folder of files through x402 (reverse proxy)", run: runGateway},
		{name: "pay", short: "make a paid HTTP request (curl-like, pays x402 402 responses)", run: runPay},
		{name: "wallet", short: "create a payer key and show its address and balance", run: runWallet},
	}
}

// Version is the go402 release this binary was built from.
const Version = "0.1.0-dev"

// usageError marks an error caused by bad arguments (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Run executes the subcommand named by args[0] and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		return exitCode(stderr, c.name, err)
	}
	fmt.Fprintf(stderr, "go402: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return ExitUsage
}

// exitCodeError lets a subcommand choose its own exit code.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

func exitCode(stderr io.Writer, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(stderr, "go402 %s: %v\n", name, err)
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	var ce *exitCodeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return ExitError
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "go402: the x402 payment protocol for Go")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: go402 <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'go402 <command> -h' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("go402 "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: go402 %s\n\n", strings.TrimSpace(usage))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and converts flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	return nil
}

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "version", "version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "go402 %s\n", Version)
	return nil
}
