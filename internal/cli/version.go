package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// develVersion is the version of a build that records none (go run, go
// test, or a build without module information).
const develVersion = "(devel)"

// buildInfo is what `go402 version` reports, read from the binary.
type buildInfo struct {
	// Version is the main module's version: a release tag such as v0.2.0,
	// a pseudo-version go build derives from the commit, or "(devel)".
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from; "" if unknown.
	Commit string `json:"commit"`
	// CommitTime is the commit's time (RFC 3339); "" if unknown.
	CommitTime string `json:"commitTime"`
	// Modified reports uncommitted changes in the tree it was built from.
	Modified bool `json:"modified"`
	// Go is the Go version that built it, such as go1.26.0.
	Go string `json:"go"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// readBuildInfo describes this binary.
func readBuildInfo() buildInfo {
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	return buildInfoFrom(bi)
}

// buildInfoFrom describes a binary from its build information, which may
// be nil or lack any field.
func buildInfoFrom(bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: develVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one line `go402 version` prints, such as
// "go402 v0.2.0, commit 0123abcd… (modified), go1.26.0 linux/amd64".
func (b buildInfo) String() string {
	commit := "commit unknown"
	if b.Commit != "" {
		commit = "commit " + b.Commit
		if b.Modified {
			commit += " (modified)"
		}
	}
	return fmt.Sprintf("go402 %s, %s, %s %s", b.Version, commit, b.Go, b.Platform)
}

// userAgent returns product/version for a User-Agent header, with the
// version reduced to the characters a product token allows.
func userAgent(product string) string {
	v := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r) {
			return r
		}
		return -1
	}, readBuildInfo().Version)
	if v == "" {
		v = "devel"
	}
	return product + "/" + v
}

const versionUsage = `version [--json]

Prints the go402 version, the commit it was built from (and whether the
tree had uncommitted changes), and the Go version and platform, from the
build information in the binary; "go402 --version" is the same.

--json prints one JSON object instead:

  {"version": "v0.2.0",          module version, "(devel)" when unknown
   "commit": "0123…",            VCS revision, "" when unknown
   "commitTime": "2026-…Z",      its time, "" when unknown
   "modified": false,            built with uncommitted changes
   "go": "go1.26.0",             Go version
   "platform": "linux/amd64"}    GOOS/GOARCH`

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "version", versionUsage)
	jsonOut := fs.Bool("json", false, "print one JSON object on standard output (see above)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	info := readBuildInfo()
	if *jsonOut {
		return json.NewEncoder(e.stdout).Encode(info)
	}
	_, err := fmt.Fprintln(e.stdout, info)
	return err
}
