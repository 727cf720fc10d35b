package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/gateway"
)

// run runs go402 with args and an empty standard input.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// helpTargets are every command and subcommand with its own help: the
// arguments that name it after "go402" or "go402 help".
func helpTargets() [][]string {
	var ts [][]string
	for _, c := range commands() {
		ts = append(ts, []string{c.name})
	}
	return append(ts,
		[]string{"facilitator", "hash-key"},
		[]string{"wallet", "new"},
		[]string{"wallet", "address"},
		[]string{"wallet", "balance"},
	)
}

// TestCommandHelp: -h, --help, -help and "go402 help CMD" print CMD's own
// help, the same text, on stdout, and exit 0 without doing anything else.
func TestCommandHelp(t *testing.T) {
	for _, target := range helpTargets() {
		name := strings.Join(target, " ")
		t.Run(name, func(t *testing.T) {
			forms := [][]string{
				append(append([]string{}, target...), "-h"),
				append(append([]string{}, target...), "--help"),
				append(append([]string{}, target...), "-help"),
				append([]string{"help"}, target...),
			}
			var first string
			for i, args := range forms {
				code, stdout, stderr := run(t, args...)
				if code != ExitOK || stderr != "" {
					t.Fatalf("go402 %s: exit %d, stderr %q; want exit 0 and nothing on stderr", strings.Join(args, " "), code, stderr)
				}
				if !strings.HasPrefix(stdout, "Usage: go402 "+name) {
					t.Errorf("go402 %s: the help does not start with %q:\n%s", strings.Join(args, " "), "Usage: go402 "+name, stdout)
				}
				if !strings.Contains(stdout, "\nFlags:\n") || !strings.Contains(stdout, "  -h, --help\n") {
					t.Errorf("go402 %s: the help lists no flags:\n%s", strings.Join(args, " "), stdout)
				}
				if i == 0 {
					first = stdout
				} else if stdout != first {
					t.Errorf("go402 %s prints another help than go402 %s:\n%s\n---\n%s", strings.Join(args, " "), strings.Join(forms[0], " "), stdout, first)
				}
			}
		})
	}
}

// TestCommandHelpListsFlags: every flag a command defines is in its help,
// as --name (or -x), except hidden aliases.
func TestCommandHelpListsFlags(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		want, hidden []string
	}{
		{[]string{"devnet"}, []string{"\n  --listen address\n", "(default 127.0.0.1:8545)", "\n  --chain-id id\n", "\n  --info-file path\n"}, []string{"--addr", "-addr"}},
		{[]string{"facilitator"}, []string{"\n  --listen address\n", "\n  --config file\n", "\n  --devnet\n", "\n  --print-sample-config\n"}, nil},
		{[]string{"gateway"}, []string{"\n  --listen address\n", "\n  --config file\n", "\n  --print-sample-config\n"}, nil},
		{[]string{"dev"}, []string{"\n  --listen address\n", "\n  --info-file path\n"}, nil},
		{[]string{"bench"}, []string{"\n  --json\n", "\n  --out file\n", "\n  --skip-ts\n"}, nil},
		{[]string{"demo"}, []string{"\n  --json\n", "\n  --calls int\n"}, nil},
		{[]string{"pay"}, []string{"\n  --json\n", "\n  -X method\n", "\n  --max price\n", "(default $0.10)"}, nil},
		{[]string{"version"}, []string{"\n  --json\n"}, nil},
	} {
		code, stdout, _ := run(t, append(tc.args, "--help")...)
		if code != ExitOK {
			t.Fatalf("%v --help: exit %d", tc.args, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v --help lacks %q:\n%s", tc.args, w, stdout)
			}
		}
		for _, h := range tc.hidden {
			if strings.Contains(stdout, h) {
				t.Errorf("%v --help shows the hidden %q:\n%s", tc.args, h, stdout)
			}
		}
	}
}

// TestUsage: go402 alone is a usage error (stderr, exit 2); help, -h and
// --help print the same usage on stdout and exit 0.
func TestUsage(t *testing.T) {
	code, stdout, usage := run(t)
	if code != ExitUsage || stdout != "" || !strings.Contains(usage, "Usage: go402 <command>") {
		t.Fatalf("go402: exit %d, stdout %q, stderr %q; want exit 2 and the usage on stderr", code, stdout, usage)
	}
	for _, c := range commands() {
		if !strings.Contains(usage, "\n  "+c.name+" ") {
			t.Errorf("the usage does not list %s:\n%s", c.name, usage)
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}, {"help", "help"}} {
		code, stdout, stderr := run(t, args...)
		if code != ExitOK || stderr != "" || stdout != usage {
			t.Errorf("go402 %s: exit %d, stderr %q, stdout:\n%s\nwant exit 0 and the usage on stdout", strings.Join(args, " "), code, stderr, stdout)
		}
	}
}

// TestUnknownCommandsAndFlags are usage errors: a message on stderr,
// nothing on stdout, exit 2.
func TestUnknownCommandsAndFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		{[]string{"--nosuch"}, `unknown flag "--nosuch"`},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"wallet", "nosuch"}, `unknown wallet subcommand "nosuch"`},
	}
	for _, target := range helpTargets() {
		want := "flag provided but not defined: -no-such-flag"
		if len(target) == 1 && target[0] == "wallet" { // wants a subcommand first
			want = `unknown wallet subcommand "--no-such-flag"`
		}
		cases = append(cases, struct {
			args []string
			want string
		}{append(append([]string{}, target...), "--no-such-flag"), want})
	}
	for _, tc := range cases {
		code, stdout, stderr := run(t, tc.args...)
		if code != ExitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("go402 %s: exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr", strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
}

func TestBuildInfoFrom(t *testing.T) {
	// ParseBuildInfo reads what `go version -m` prints, but for the Go
	// version.
	parse := func(text string) *debug.BuildInfo {
		t.Helper()
		bi, err := debug.ParseBuildInfo(text)
		if err != nil {
			t.Fatal(err)
		}
		bi.GoVersion = "go1.26.1"
		return bi
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	host := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want buildInfo
		text string
	}{
		{
			"release",
			parse("path\tgithub.com/go402/go402/cmd/go402\nmod\tgithub.com/go402/go402\tv0.2.0\th1:abc=\n" +
				"build\tvcs=git\nbuild\tvcs.revision=" + rev + "\nbuild\tvcs.time=2026-12-01T10:00:00Z\nbuild\tvcs.modified=false\n"),
			buildInfo{Version: "v0.2.0", Commit: rev, CommitTime: "2026-12-01T10:00:00Z", Go: "go1.26.1", Platform: host},
			"go402 v0.2.0, commit " + rev + ", go1.26.1 " + host,
		},
		{
			"modified tree",
			parse("path\tgithub.com/go402/go402/cmd/go402\nmod\tgithub.com/go402/go402\tv0.2.1-0.20261207150000-0123456789ab+dirty\t\n" +
				"build\tvcs=git\nbuild\tvcs.revision=" + rev + "\nbuild\tvcs.modified=true\n"),
			buildInfo{Version: "v0.2.1-0.20261207150000-0123456789ab+dirty", Commit: rev, Modified: true, Go: "go1.26.1", Platform: host},
			"go402 v0.2.1-0.20261207150000-0123456789ab+dirty, commit " + rev + " (modified), go1.26.1 " + host,
		},
		{
			"no VCS (go run)",
			parse("path\tgithub.com/go402/go402/cmd/go402\nmod\tgithub.com/go402/go402\t(devel)\t\n"),
			buildInfo{Version: "(devel)", Go: "go1.26.1", Platform: host},
			"go402 (devel), commit unknown, go1.26.1 " + host,
		},
		{
			"no module version",
			parse("path\tcommand-line-arguments\n"),
			buildInfo{Version: "(devel)", Go: "go1.26.1", Platform: host},
			"go402 (devel), commit unknown, go1.26.1 " + host,
		},
		{
			"no build information",
			nil,
			buildInfo{Version: "(devel)", Go: runtime.Version(), Platform: host},
			"go402 (devel), commit unknown, " + runtime.Version() + " " + host,
		},
	} {
		got := buildInfoFrom(tc.bi)
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if got.String() != tc.text {
			t.Errorf("%s: %q, want %q", tc.name, got.String(), tc.text)
		}
	}
}

// TestVersionCommand: version and --version print the build information
// of this binary, as text or, with --json, as one JSON object.
func TestVersionCommand(t *testing.T) {
	bi, _ := debug.ReadBuildInfo()
	want := buildInfoFrom(bi)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := run(t, args...)
		if code != ExitOK || stderr != "" || stdout != want.String()+"\n" {
			t.Errorf("go402 %s: exit %d, stderr %q, stdout %q; want %q", args[0], code, stderr, stdout, want.String())
		}
		if !strings.HasPrefix(stdout, "go402 "+want.Version+", ") || !strings.Contains(stdout, runtime.Version()) {
			t.Errorf("go402 %s: %q lacks the version or %s", args[0], stdout, runtime.Version())
		}
	}
	for _, args := range [][]string{{"version", "--json"}, {"--version", "--json"}} {
		code, stdout, stderr := run(t, args...)
		if code != ExitOK || stderr != "" {
			t.Fatalf("go402 %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(stdout), &fields); err != nil {
			t.Fatalf("go402 %s: %v\n%s", strings.Join(args, " "), err, stdout)
		}
		wantFields := map[string]any{
			"version": want.Version, "commit": want.Commit, "commitTime": want.CommitTime,
			"modified": want.Modified, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
		}
		if !reflect.DeepEqual(fields, wantFields) {
			t.Errorf("go402 %s: %v, want %v", strings.Join(args, " "), fields, wantFields)
		}
	}
	if code, stdout, _ := run(t, "version", "extra"); code != ExitUsage || stdout != "" {
		t.Errorf("version extra: exit %d, stdout %q", code, stdout)
	}
}

func TestUserAgent(t *testing.T) {
	ua := userAgent("go402-pay")
	// A product token: RFC 9110 tchar only, so "(devel)" cannot leak in.
	if !regexp.MustCompile("^go402-pay/[!#$%&'*+.^_`|~0-9A-Za-z-]+$").MatchString(ua) {
		t.Errorf("userAgent = %q, not a product token", ua)
	}
}

// TestPrintSampleConfig: --print-sample-config prints the sample file of
// the repository, which the package's own parser accepts and validates.
func TestPrintSampleConfig(t *testing.T) {
	for _, tc := range []struct {
		command, file string
		parse         func(data []byte) error
	}{
		{"facilitator", "../../facilitator/config/sample.yaml", func(data []byte) error {
			c, err := config.Parse("printed", data, nil)
			if err != nil {
				return err
			}
			return c.Validate()
		}},
		{"gateway", "../../gateway/sample-gateway.yaml", func(data []byte) error {
			c, err := gateway.Parse("printed", data, nil)
			if err != nil {
				return err
			}
			return c.Validate()
		}},
	} {
		code, stdout, stderr := run(t, tc.command, "--print-sample-config")
		if code != ExitOK || stderr != "" {
			t.Fatalf("%s --print-sample-config: exit %d, stderr %q", tc.command, code, stderr)
		}
		file, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if stdout != string(file) {
			t.Errorf("%s --print-sample-config does not print %s", tc.command, tc.file)
		}
		if err := tc.parse([]byte(stdout)); err != nil {
			t.Errorf("%s --print-sample-config: the printed sample does not parse: %v", tc.command, err)
		}
	}
}

// watched is a buffer a running command writes to; waitFor blocks until a
// text appears in it, woken by the writes rather than by polling.
type watched struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // holds one token after a write
}

func newWatched() *watched { return &watched{written: make(chan struct{}, 1)} }

func (w *watched) Write(p []byte) (int, error) {
	w.mu.Lock()
	n, err := w.b.Write(p)
	w.mu.Unlock()
	select {
	case w.written <- struct{}{}:
	default:
	}
	return n, err
}

func (w *watched) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor returns once text is in w; it fails the test if the command
// exits first (done) or if nothing comes within two minutes.
func (w *watched) waitFor(t *testing.T, text string, done <-chan int, stderr *watched) {
	t.Helper()
	guard := time.NewTimer(2 * time.Minute)
	defer guard.Stop()
	for !strings.Contains(w.String(), text) {
		select {
		case <-w.written:
		case code := <-done:
			t.Fatalf("exited with %d before printing %q\nstdout:\n%s\nstderr:\n%s", code, text, w, stderr)
		case <-guard.C:
			t.Fatalf("%q not printed\nstdout:\n%s\nstderr:\n%s", text, w, stderr)
		}
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestListen: every command that listens does so on --listen (devnet also
// on its former flag --addr), and answers there.
func TestListen(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "upstream") }))
	t.Cleanup(upstream.Close)
	gwConfig := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(gwConfig, fmt.Appendf(nil, "facilitator: {url: https://x402.org/facilitator}\nroutes:\n  - path: GET /paid\n    upstream: %s\n    price: $0.001\n", upstream.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	rpc := func(t *testing.T, base string) int {
		t.Helper()
		resp, err := http.Post(base, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct{ Result string }
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Result != "0x7a69" {
			t.Errorf("eth_chainId: %q, %v; want 0x7a69 (31337)", r.Result, err)
		}
		return resp.StatusCode
	}
	get := func(path string) func(t *testing.T, base string) int {
		return func(t *testing.T, base string) int {
			t.Helper()
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string // the listen flag and its address follow
		flag   string
		ready  string // printed on stdout with the URL once listening
		call   func(t *testing.T, base string) int
		status int
	}{
		{"devnet", []string{"devnet"}, "--listen", "RPC URL    ", rpc, http.StatusOK},
		{"devnet --addr", []string{"devnet"}, "--addr", "RPC URL    ", rpc, http.StatusOK},
		{"facilitator", []string{"facilitator", "--devnet"}, "--listen", "URL        ", get("/supported"), http.StatusOK},
		{"gateway", []string{"gateway", "--config", gwConfig, "--devnet"}, "--listen", "URL          ", get("/paid"), http.StatusPaymentRequired},
		{"dev", []string{"dev"}, "--listen", "paid API   ", get("/weather"), http.StatusPaymentRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			base := "http://" + addr
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stdout, stderr := newWatched(), newWatched()
			done := make(chan int, 1)
			args := append(append([]string{}, tc.args...), tc.flag, addr)
			go func() { done <- Run(ctx, args, strings.NewReader(""), stdout, stderr) }()
			stdout.waitFor(t, tc.ready+base, done, stderr)
			if got := tc.call(t, base); got != tc.status {
				t.Errorf("%s on %s: status %d, want %d", tc.name, base, got, tc.status)
			}
			cancel()
			if code := <-done; code != ExitOK {
				t.Errorf("exit %d\nstderr:\n%s", code, stderr)
			}
		})
	}
}
