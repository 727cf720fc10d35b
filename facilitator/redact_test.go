package facilitator

import (
	"errors"
	"fmt"
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
		if got := redactURLs(tt.in); got != tt.want {
			t.Errorf("redactURLs(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
	inner := errors.New("boom")
	if got := redactError(fmt.Errorf(`Post "https://h.example/v2/KEY": %w`, inner)); got != `Post "https://h.example/…": boom` {
		t.Errorf("redactError: %q", got)
	}
	if redactError(nil) != "" {
		t.Error("redactError(nil) is not empty")
	}
}
