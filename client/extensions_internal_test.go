package client

import (
	"testing"

	"github.com/go402/go402/x402"
)

func TestMergeExtensions(t *testing.T) {
	declared := x402.Object(`{"bazaar":{"info":{"x":1}},"eip2612GasSponsoring":{"info":{"description":"d","version":"1","from":"0xserver"},"schema":{"type":"object"}}}`)
	added := x402.Object(`{"eip2612GasSponsoring":{"info":{"from":"0xpayer","signature":"0x11","version":"1"}}}`)
	got, err := mergeExtensions(declared, added)
	if err != nil {
		t.Fatal(err)
	}
	want := x402.Object(`{"bazaar":{"info":{"x":1}},"eip2612GasSponsoring":{"info":{"description":"d","version":"1","from":"0xpayer","signature":"0x11"},"schema":{"type":"object"}}}`)
	if !got.Equal(want) {
		t.Fatalf("merged %s\nwant   %s", got, want)
	}
	for _, tc := range []struct{ d, a, want string }{
		{``, `{"k":1}`, `{"k":1}`},
		{`{"k":1}`, ``, `{"k":1}`},
		{`{"k":{"a":1}}`, `{"k":2}`, `{"k":2}`},
		{`{"k":[1]}`, `{"k":{"a":1}}`, `{"k":{"a":1}}`},
	} {
		got, err := mergeExtensions(x402.Object(tc.d), x402.Object(tc.a))
		if err != nil || !got.Equal(x402.Object(tc.want)) {
			t.Errorf("merge(%s, %s) = %s, %v; want %s", tc.d, tc.a, got, err, tc.want)
		}
	}
}
