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

// FuzzMergeExtensions: merging never panics, and a merge of two objects is
// an object holding every key of both.
func FuzzMergeExtensions(f *testing.F) {
	f.Add([]byte(`{"a":{"info":{"x":1}}}`), []byte(`{"a":{"info":{"y":2}},"b":3}`))
	f.Add([]byte(`{}`), []byte(`{"a":[1,{"b":2}]}`))
	f.Fuzz(func(t *testing.T, d, a []byte) {
		var od, oa x402.Object
		if od.UnmarshalJSON(d) != nil || oa.UnmarshalJSON(a) != nil {
			return
		}
		m, err := mergeExtensions(od, oa)
		if err != nil {
			return
		}
		for _, src := range []x402.Object{od, oa} {
			var keys map[string]any
			if src.IsNull() || src.Decode(&keys) != nil {
				continue
			}
			for k := range keys {
				if _, ok := m.Field(k); !ok {
					t.Fatalf("merge of %s and %s lost %q: %s", od, oa, k, m)
				}
			}
		}
	})
}
