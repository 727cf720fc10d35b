package redact

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURLs(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`Post "https://base-mainnet.g.alchemy.com/v2/SECRET": dial tcp: i/o timeout`, `Post "https://base-mainnet.g.alchemy.com/…": dial tcp: i/o timeout`},
		{`Post "http://127.0.0.1:8545/?apikey=SECRET": EOF`, `Post "http://127.0.0.1:8545/…": EOF`},
		{`dial wss://node.example:443/ws/SECRET failed`, `dial wss://node.example:443/… failed`},
		{`connect postgres://go402:hunter2@db.internal:5432/ledger?sslmode=require`, `connect postgres://db.internal:5432/…`},
		{`http://[::1]:8545#frag and https://h.example`, `http://[::1]:8545/… and https://h.example`},
		{`root only: http://h.example/ and 'https://a.example/x?y=1'`, `root only: http://h.example and 'https://a.example/…'`},
		{`no url here: eip155:8453, 0xabc, "://" alone, 1://x`, `no url here: eip155:8453, 0xabc, "://" alone, 1://x`},
		{"", ""},
	} {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
	inner := errors.New("boom")
	if got := Error(fmt.Errorf(`Post "https://h.example/v2/KEY": %w`, inner)); got != `Post "https://h.example/…": boom` {
		t.Errorf("redactError: %q", got)
	}
	if Error(nil) != "" {
		t.Error("Error(nil) is not empty")
	}
}

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://base-mainnet.g.alchemy.com/v2/SECRETKEY": "https://base-mainnet.g.alchemy.com/…",
		"http://127.0.0.1:8545":                           "http://127.0.0.1:8545",
		"http://127.0.0.1:8545/":                          "http://127.0.0.1:8545",
		"wss://node.example/?apikey=SECRET":               "wss://node.example/…",
		"https://user:pass@node.example":                  "https://node.example",
		"node.example/v2/SECRETKEY":                       "(unparsable URL)",
		"http:///v2/SECRETKEY":                            "(unparsable URL)",
		"1http://node.example/SECRETKEY":                  "(unparsable URL)",
		"":                                                "(unparsable URL)",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestRedactLogs(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log = log.With("rpc", "https://h.example/v2/KEY1").WithGroup("g").With("n", 1)
	log.Info(`dialing "https://h.example/v2/KEY2"`,
		"err", fmt.Errorf(`Post "https://h.example/v2/KEY3": %w`, errors.New("boom")),
		"panic", stringer("wss://h.example/KEY4"),
		slog.Group("sub", "url", "http://h.example/?k=KEY5"),
		"plain", stringer("no url"), "count", 3)
	out := buf.String()
	if strings.Contains(out, "KEY") {
		t.Errorf("log leaks a key:\n%s", out)
	}
	for _, want := range []string{`msg="dialing \"https://h.example/…\""`, `rpc=https://h.example/…`, `g.err="Post \"https://h.example/…\": boom"`,
		`g.panic=wss://h.example/…`, `g.sub.url=http://h.example/…`, `g.plain="no url"`, `g.count=3`, `g.n=1`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// TestScrubURLUserinfo: a URL with a password in it is scrubbed in every
// form an error may quote it: as written, re-encoded, and as net/http's
// client prints it ("user:***@"), whose path still carries the key.
func TestScrubURLUserinfo(t *testing.T) {
	for _, raw := range []string{
		"https://:s3cret@rpc.example/v3/KEYPATH",
		"https://user:s3cret@rpc.example/v3/KEYPATH?token=QUERYKEY",
	} {
		_, err := http.Get(strings.Replace(raw, "rpc.example", "127.0.0.1:1", 1))
		if err == nil {
			t.Fatal("no error from an unreachable URL")
		}
		// The error names the URL as the client printed it.
		quoted := strings.Replace(err.Error(), "127.0.0.1:1", "rpc.example", 1)
		got := Scrub(errors.New(quoted), raw).Error()
		for _, secret := range []string{"s3cret", "KEYPATH", "QUERYKEY"} {
			if strings.Contains(got, secret) {
				t.Errorf("%s: %q keeps %s", raw, got, secret)
			}
		}
	}
}

// TestScrubURLKeepsTheChain: a scrubbed error still unwraps to its cause,
// and RedactDSN hides both password forms of a PostgreSQL URL.
func TestScrubURLKeepsTheChain(t *testing.T) {
	inner := errors.New("boom")
	scrubbed := Scrub(fmt.Errorf(`Post "https://h.example/v2/KEY": %w`, inner), "https://h.example/v2/KEY")
	if !errors.Is(scrubbed, inner) || strings.Contains(scrubbed.Error(), "KEY") || !strings.Contains(scrubbed.Error(), "https://h.example/…") {
		t.Errorf("ScrubURL: %v", scrubbed)
	}
	if got := DSN("postgres://go402:hunter2@db:5432/ledger?sslmode=require&password=x"); strings.Contains(got, "hunter2") || strings.Contains(got, "password=x") {
		t.Errorf("RedactDSN leaks: %s", got)
	}
}

func TestWrapAndLogger(t *testing.T) {
	inner := &url.Error{Op: "Post", URL: "https://:SECRET@h.example/v3/ID?apikey=K", Err: errors.New("EOF")}
	err := Wrap(fmt.Errorf("sending: %w", inner))
	if got := err.Error(); got != `sending: Post "https://h.example/…": EOF` {
		t.Errorf("Wrap: %q", got)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || Wrap(nil) != nil {
		t.Errorf("Wrap lost the chain: %#v", err)
	}
	var buf bytes.Buffer
	log := Logger(Logger(slog.New(slog.NewTextHandler(&buf, nil))))
	u, _ := url.Parse("https://h.example/v2/SECRET")
	log.Info("x", "u", *u, "p", u, "err", inner)
	if strings.Contains(buf.String(), "SECRET") || strings.Contains(buf.String(), "apikey") {
		t.Errorf("logged: %s", buf.String())
	}
	Logger(nil).Info("discarded")
}
