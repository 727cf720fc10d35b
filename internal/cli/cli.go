// Package cli implements the go402 subcommands. Each subcommand lives in its
// own file and registers itself in the commands table below; cmd/go402 only
// calls Run.
//
// Every command follows one grammar (flags.go): -h, --help and
// "go402 help CMD" print its help on stdout (exit 0); a bad flag or
// argument is a usage error on stderr (exit 2); --json means one JSON
// document on stdout; a command that listens takes --listen ADDR.
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
		{name: "mcp", short: "an MCP server giving an agent a wallet with limits (pay URLs and paid tools)", run: runMCP},
		{name: "pay", short: "make a paid HTTP request (curl-like, pays x402 402 responses)", run: runPay},
		{name: "wallet", short: "create a payer key and show its address and balance", run: runWallet},
	}
}

// usageError marks an error caused by bad arguments (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Run executes the command named by args[0] and returns the process exit
// code: ExitOK, ExitError, ExitUsage or a command's own.
//
// With no arguments it prints the usage on stderr (exit 2); "help", -h and
// --help print it on stdout (exit 0), and "help CMD" prints CMD's help, as
// CMD -h does. --version is the version command.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(stdout)
		return ExitOK
	case "help":
		return runHelp(ctx, e, args[1:])
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		return unknownCommand(stderr, args[0])
	}
	return exitCode(stderr, c.name, c.run(ctx, e, args[1:]))
}

// runHelp is `go402 help [CMD [SUBCOMMAND]]`: the usage, or CMD's help,
// on stdout.
func runHelp(ctx context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] == "help" {
		printUsage(e.stdout)
		return ExitOK
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		return unknownCommand(e.stderr, args[0])
	}
	// Every command parses its flags before doing anything, and stops at
	// --help: this only prints.
	rest := append(append([]string{}, args[1:]...), "--help")
	return exitCode(e.stderr, c.name, c.run(ctx, e, rest))
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func unknownCommand(stderr io.Writer, name string) int {
	what := "command"
	if strings.HasPrefix(name, "-") {
		what = "flag"
	}
	fmt.Fprintf(stderr, "go402: unknown %s %q\n\n", what, name)
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
		fmt.Fprintf(stderr, "Run 'go402 help %s' for usage.\n", name)
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
	fmt.Fprintln(w, "Flags:")
	fmt.Fprintln(w, "  -h, --help   print this usage")
	fmt.Fprintln(w, "  --version    print the version (as go402 version)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'go402 help <command>' or 'go402 <command> -h' for a command's help.")
}
