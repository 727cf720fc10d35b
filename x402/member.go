package x402

import (
	"encoding/json"
	"strings"
)

// lastMember finds, without reflection or allocation, the value that
// encoding/json would decode from the JSON object b into a struct field
// named name: the last member whose key equals name ignoring ASCII case.
// It returns nil and true when b is valid JSON with no such member (or is
// not an object, which encoding/json refuses or leaves empty), and false
// when it cannot answer exactly (invalid JSON, or an escaped or non-ASCII
// key, which encoding/json folds by its own rules): the caller then asks
// encoding/json.
func lastMember(b []byte, name string) (value []byte, ok bool) {
	if !json.Valid(b) {
		return nil, false
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, true
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, true
	}
	for i < len(b) {
		end, escaped := scanString(b, i) // b is valid: b[i] is '"'
		if end < 0 || escaped {
			return nil, false
		}
		key := b[i+1 : end]
		for _, c := range key {
			if c >= 0x80 {
				return nil, false
			}
		}
		i = skipSpace(b, end+1) + 1 // past ':'
		i = skipSpace(b, i)
		vend := skipValue(b, i)
		if strings.EqualFold(string(key), name) {
			value = b[i:vend]
		}
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] == '}' {
			return value, true
		}
		i = skipSpace(b, i+1) // past ','
	}
	return value, true
}

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value starting at
// b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		return end + 1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j, _ = scanString(b, j)
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(b)
}
