package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The grammar every go402 command follows:
//
//   - -h and --help (also -help) print the command's help on standard
//     output and exit 0; so does `go402 help CMD`.
//   - A flag error (an unknown flag, a bad value) is a usage error: one
//     message on standard error, exit 2.
//   - Long flags are written --name in the help (the flag package accepts
//     -name as well); one-letter flags -x.
//   - --json means one JSON document on standard output instead of text;
//     a file to write is --out FILE or --info-file PATH.
//   - --listen ADDR is the address of every command that listens.

// helpFlag is the -h and --help flag of every flag set newFlagSet makes.
// Besides recording the request, it carries what the help needs: the flag
// package's own Usage also runs on parse errors, so parseFlags prints the
// help itself, and only when asked.
type helpFlag struct {
	asked  bool
	out    io.Writer
	usage  string
	hidden map[string]bool // flags left out of the help (aliases)
}

func (h *helpFlag) String() string   { return "false" }
func (h *helpFlag) IsBoolFlag() bool { return true }
func (h *helpFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	h.asked = v
	return nil
}

// newFlagSet returns the flag set of a command (name, such as "pay" or
// "wallet new"). usage is its synopsis (without "go402 "), then a blank
// line and the description. The flag set reports errors instead of
// printing them or exiting; -h and --help print the help on e.stdout.
func newFlagSet(e env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("go402 "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	h := &helpFlag{out: e.stdout, usage: usage, hidden: map[string]bool{}}
	fs.Var(h, "h", "print this help")
	fs.Var(h, "help", "print this help")
	return fs
}

// helpOf returns the help flag of a flag set made by newFlagSet.
func helpOf(fs *flag.FlagSet) *helpFlag {
	if f := fs.Lookup("help"); f != nil {
		if h, ok := f.Value.(*helpFlag); ok {
			return h
		}
	}
	return nil
}

// hideFlag leaves a defined flag, such as a deprecated alias, out of the
// help; it still works.
func hideFlag(fs *flag.FlagSet, name string) {
	if h := helpOf(fs); h != nil {
		h.hidden[name] = true
	}
}

// parseFlags parses args. With -h or --help it prints the help and returns
// flag.ErrHelp (exit 0); flag errors become usage errors (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if h := helpOf(fs); h != nil && h.asked {
		writeHelp(h.out, h.usage, fs)
		return flag.ErrHelp
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	return nil
}

// writeHelp prints a command's help: "Usage: go402 " and usage, then its
// flags, if fs is not nil.
func writeHelp(w io.Writer, usage string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: go402 %s\n", strings.TrimSpace(usage))
	var lines []string
	if fs != nil {
		var hidden map[string]bool
		if h := helpOf(fs); h != nil {
			hidden = h.hidden
		}
		fs.VisitAll(func(f *flag.Flag) {
			if hidden[f.Name] || f.Name == "h" || f.Name == "help" {
				return
			}
			lines = append(lines, flagHelp(f)...)
		})
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "  -h, --help")
	fmt.Fprintln(w, "        print this help")
}

// flagHelp returns the lines describing one flag: its name (--name, or -x
// for one letter) with its argument, then its usage wrapped and indented,
// with the default unless it is the zero value.
func flagHelp(f *flag.Flag) []string {
	arg, usage := flag.UnquoteUsage(f)
	name := "--" + f.Name
	if len(f.Name) == 1 {
		name = "-" + f.Name
	}
	head := "  " + name
	if arg != "" {
		head += " " + arg
	}
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
	default:
		usage += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	return append([]string{head}, wrap(usage, "        ", 80)...)
}

// wrap breaks text into lines of at most width columns (a longer word
// keeps its own line), each starting with indent.
func wrap(text, indent string, width int) []string {
	var lines []string
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
