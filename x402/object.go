package x402

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Object is a JSON object kept as its raw bytes, used for the protocol's
// open-ended fields: extra, payload, extensions and outputSchema. Keeping the
// bytes means unknown keys survive a decode/encode round trip unchanged, and
// each scheme decodes the object into its own typed struct with
// [Object.Decode].
//
// A nil Object is absent (encoded as null, or omitted with omitempty).
// Decoding accepts only a JSON object or null.
type Object []byte

// NewObject marshals v, which must encode as a JSON object.
func NewObject(v any) (Object, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	// json.Marshal's output is valid and already compact (it compacts
	// what MarshalJSON methods return), so it is kept as it is: only its
	// kind is checked, as UnmarshalJSON would.
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("%w: want a JSON object, got %s", ErrMalformedJSON, jsonKind(b))
	}
	return Object(b), nil
}

// MarshalJSON returns the object's bytes, or null when it is nil.
func (o Object) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("null"), nil
	}
	return o, nil
}

// UnmarshalJSON keeps a compact copy of a JSON object; null leaves the
// Object nil.
// Any other JSON value is an error.
func (o *Object) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if string(t) == "null" {
		*o = nil
		return nil
	}
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return fmt.Errorf("%w: want a JSON object, got %s", ErrMalformedJSON, jsonKind(t))
	}
	// Keep a compact copy: only insignificant white space is dropped, so
	// decoding is stable under re-encoding.
	var buf bytes.Buffer
	buf.Grow(len(t))
	if err := json.Compact(&buf, t); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	*o = buf.Bytes()
	return nil
}

// IsNull reports whether the object is absent.
func (o Object) IsNull() bool { return len(o) == 0 }

// Decode unmarshals the object into v, typically a scheme's struct. An
// absent object is an error. Because encoding/json matches struct fields
// ignoring case, an object with two keys that are equal ignoring case (at
// any depth) is rejected with an error wrapping [ErrMalformedJSON]: a
// JavaScript peer would read the first and Go the last. Exact duplicate
// keys, invalid UTF-8 and nesting deeper than [MaxJSONDepth] are rejected
// too. To read an open-ended object whose keys may legitimately differ only
// in case, use [Object.Field] or decode the raw bytes into a map.
func (o Object) Decode(v any) error {
	if len(o) == 0 {
		return errors.New("x402: object is absent")
	}
	if err := checkKeys(o, true); err != nil {
		return err
	}
	return json.Unmarshal(o, v)
}

// Field returns the raw value of key and whether it is present.
func (o Object) Field(key string) (json.RawMessage, bool) {
	if len(o) == 0 {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(o, &m); err != nil {
		return nil, false
	}
	v, ok := m[key]
	return v, ok
}

// StringField returns the string value of key, or "" and false if the key is
// absent or not a string.
func (o Object) StringField(key string) (string, bool) {
	raw, ok := o.Field(key)
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// Equal reports whether two objects hold the same JSON value, ignoring key
// order and insignificant white space. Numbers compare by their decimal text.
// An absent object equals an empty one ("{}").
func (o Object) Equal(p Object) bool {
	if bytes.Equal(o, p) {
		return true
	}
	a, errA := decodeForCompare(o)
	b, errB := decodeForCompare(p)
	if errA != nil || errB != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

func decodeForCompare(o Object) (any, error) {
	if len(o) == 0 {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(o))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number or invalid JSON"
	}
}
