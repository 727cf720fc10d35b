package x402

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzKeyFold checks that normKey, which large objects use to find
// duplicate keys through a set, agrees with bytes.EqualFold, which small
// objects use pairwise and encoding/json uses to match struct fields.
func FuzzKeyFold(f *testing.F) {
	for _, p := range [][2]string{
		{"payTo", "PAYTO"}, {"k", "\u212a"}, {"s", "\u017f"}, {"SS", "\u00df"}, {"\u01c4", "\u01c6"},
		{"\u03a3", "\u03c2"}, {"a", "b"}, {"", ""}, {"x-api-key", "X-Api-Key"}, {"\u1e9e", "\u00df"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return // checkKeys rejects invalid UTF-8 before comparing keys
		}
		ka, kb := []byte(a), []byte(b)
		if got, want := normKey(ka, true) == normKey(kb, true), bytes.EqualFold(ka, kb); got != want {
			t.Fatalf("%q vs %q: normKey says equal=%v, EqualFold says %v", a, b, got, want)
		}
		if normKey(ka, false) != a {
			t.Fatalf("exact normKey changed %q", a)
		}
	})
}

// TestLargeObjectsMatchPairwise: the set used for objects of more than
// linearKeys keys finds the same duplicates as pairwise comparison.
func TestLargeObjectsMatchPairwise(t *testing.T) {
	var doc bytes.Buffer
	doc.WriteString("{")
	for i := range linearKeys + 4 {
		doc.WriteString(`"key` + string(rune('a'+i)) + `":1,`)
	}
	for _, tt := range []struct {
		last   string
		strict bool
		ok     bool
	}{
		{`"KEYA":1}`, false, false}, // case variant of an earlier key, struct object
		{`"KEYA":1}`, true, false},
		{`"key\u212a":1}`, false, false}, // Kelvin sign folds to the earlier "keyk"
		{`"key\u212a":1}`, true, false},
		{`"keyz":1}`, true, true},
		{`"keyb":1}`, false, false},
		{`"other":1}`, false, true},
	} {
		b := append(bytes.Clone(doc.Bytes()), tt.last...)
		if err := checkKeys(b, tt.strict); (err == nil) != tt.ok {
			t.Errorf("%s (strict %v): %v", tt.last, tt.strict, err)
		}
	}
}
