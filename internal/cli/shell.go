package cli

import (
	"encoding/hex"
	"path"
	"path/filepath"
	"strings"
)

// How go402 prints a command line to paste into another terminal.

// goRunCommand runs go402 from its sources; it works from any directory
// inside the go402 module (`go run ./cmd/go402` only from its root).
const goRunCommand = "go run github.com/go402/go402/cmd/go402"

// selfCommand returns how to run this go402 again from another terminal,
// given os.Args[0]: a binary found on PATH by its name, any other binary by
// its absolute path, and a binary built by go run (or go test) through
// goRunCommand.
func selfCommand(argv0 string) string {
	if builtByGo(argv0) {
		return goRunCommand
	}
	if !strings.ContainsAny(argv0, "/"+string(filepath.Separator)) {
		return shellQuote(argv0)
	}
	if abs, err := filepath.Abs(argv0); err == nil {
		argv0 = abs
	}
	return shellQuote(argv0)
}

// builtByGo reports whether argv0 is an executable that go run or go test
// built and will delete: one in a temporary go-build directory
// ($TMPDIR/go-build…/b001/exe/go402), or, since Go 1.24, one that go run
// caches in GOCACHE (GOCACHE/7b/<64 hex digits>-d/go402).
func builtByGo(argv0 string) bool {
	p := filepath.ToSlash(argv0)
	if strings.Contains(p, "/go-build") {
		return true
	}
	dir := path.Base(path.Dir(p))
	hash, ok := strings.CutSuffix(dir, "-d")
	if !ok || len(hash) != 64 {
		return false
	}
	_, err := hex.DecodeString(hash)
	return err == nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that never need quoting.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
