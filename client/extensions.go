package client

import (
	"bytes"
	"encoding/json"

	"github.com/go402/go402/x402"
)

// mergeExtensions returns the payment's extensions: those the 402 declared,
// echoed, with what a scheme added (see [x402.ExtensionsClient]) merged in
// field by field: objects are merged recursively, and any other value the
// scheme gives replaces the declared one, so that no field the server
// declared can stand in for one the payer signed, while the fields the
// server declared and the scheme does not set (an extension's description
// and schema) are echoed as declared, as official servers require.
func mergeExtensions(declared, added x402.Object) (x402.Object, error) {
	if added.IsNull() {
		return declared, nil
	}
	if declared.IsNull() {
		return added, nil
	}
	merged, err := mergeJSON(json.RawMessage(declared), json.RawMessage(added))
	if err != nil {
		return nil, err
	}
	return x402.Object(merged), nil
}

// mergeJSON merges JSON value b into a: two objects key by key
// (recursively), anything else b.
func mergeJSON(a, b json.RawMessage) (json.RawMessage, error) {
	var ma, mb map[string]json.RawMessage
	if !isObject(a) || !isObject(b) {
		return b, nil
	}
	if err := json.Unmarshal(a, &ma); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &mb); err != nil {
		return nil, err
	}
	for k, vb := range mb {
		if va, ok := ma[k]; ok {
			m, err := mergeJSON(va, vb)
			if err != nil {
				return nil, err
			}
			vb = m
		}
		ma[k] = vb
	}
	return json.Marshal(ma)
}

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}
