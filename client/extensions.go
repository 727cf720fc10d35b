package client

import (
	"encoding/json"

	"github.com/go402/go402/x402"
)

// mergeExtensions returns the payment's extensions: those the 402 declared,
// echoed, with each key a scheme answered (see [x402.ExtensionsClient])
// replaced by the scheme's value. The scheme's value replaces the whole
// key, so that no field the server declared can stand in for one the payer
// signed.
func mergeExtensions(declared, added x402.Object) (x402.Object, error) {
	if added.IsNull() {
		return declared, nil
	}
	if declared.IsNull() {
		return added, nil
	}
	var d, a map[string]json.RawMessage
	if err := json.Unmarshal(declared, &d); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(added, &a); err != nil {
		return nil, err
	}
	for k, v := range a {
		d[k] = v
	}
	return x402.NewObject(d)
}
