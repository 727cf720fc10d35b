package permit2

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// GasSponsoringKey is the key of the EIP-2612 gas-sponsoring extension in
// a 402's extensions (the facilitator accepts a permit) and in a payment's
// extensions (the payer's permit).
const GasSponsoringKey = "eip2612GasSponsoring"

// GasSponsoringVersion is the extension version go402 writes.
const GasSponsoringVersion = "1"

// GasSponsoringInfo is the wire form of extensions.eip2612GasSponsoring.info
// in a payment: the payer's EIP-2612 permit letting Permit2 spend its
// tokens. Addresses are 0x-hex, integers decimal strings, the signature the
// 65-byte r ‖ s ‖ v.
type GasSponsoringInfo struct {
	From      string `json:"from"`
	Asset     string `json:"asset"`
	Spender   string `json:"spender"`
	Amount    string `json:"amount"`
	Nonce     string `json:"nonce"`
	Deadline  string `json:"deadline"`
	Signature string `json:"signature"`
	Version   string `json:"version"`
}

// GasSponsoring is a parsed [GasSponsoringInfo]: the permit, the token it
// is signed for, and its signature.
type GasSponsoring struct {
	Asset     common.Address
	Permit    EIP2612Permit
	Signature [SignatureLength]byte
	Version   string
}

// Info returns the wire form of g.
func (g *GasSponsoring) Info() GasSponsoringInfo {
	v := g.Version
	if v == "" {
		v = GasSponsoringVersion
	}
	return GasSponsoringInfo{
		From:      g.Permit.Owner.Hex(),
		Asset:     g.Asset.Hex(),
		Spender:   g.Permit.Spender.Hex(),
		Amount:    g.Permit.Value.String(),
		Nonce:     g.Permit.Nonce.String(),
		Deadline:  g.Permit.Deadline.String(),
		Signature: fmt.Sprintf("0x%x", g.Signature[:]),
		Version:   v,
	}
}

// Extension returns the payment's extensions entry for g:
// {"eip2612GasSponsoring": {"info": {...}}}.
func (g *GasSponsoring) Extension() (x402.Object, error) {
	return x402.NewObject(map[string]any{GasSponsoringKey: map[string]any{"info": g.Info()}})
}

var versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// ParseGasSponsoring reads the eip2612GasSponsoring extension from a
// payment's extensions. It returns nil, nil when the extension carries no
// permit: no extensions, no key, no info, or an info lacking one of the
// permit's fields (such as the server's declaration echoed back by a
// client that signed no permit), as the official facilitator reads them.
// A complete but malformed info is an error wrapping [ErrMalformed]
// (other keys, such as the description the official client merges in from
// the 402, are ignored): addresses 0x-hex, integers
// decimal uint256, a 65-byte hex signature and a dotted numeric version.
// The caller checks owner, asset, spender and deadline against the
// payment.
func ParseGasSponsoring(extensions x402.Object) (*GasSponsoring, error) {
	if extensions.IsNull() {
		return nil, nil
	}
	raw, ok := extensions.Field(GasSponsoringKey)
	if !ok {
		return nil, nil
	}
	var ext struct {
		Info json.RawMessage `json:"info"`
	}
	if err := json.Unmarshal(raw, &ext); err != nil {
		return nil, fmt.Errorf("%w: %s is not an object", ErrMalformed, GasSponsoringKey)
	}
	if len(ext.Info) == 0 || string(ext.Info) == "null" {
		return nil, nil
	}
	var obj x402.Object
	if err := json.Unmarshal(ext.Info, &obj); err != nil {
		return nil, fmt.Errorf("%w: %s.info is not an object", ErrMalformed, GasSponsoringKey)
	}
	// Unknown keys are allowed here: the official client deep-merges the
	// server's declaration (info.description) into the payer's info.
	var info GasSponsoringInfo
	if err := obj.Decode(&info); err != nil {
		return nil, fmt.Errorf("%w: %s.info: %v", ErrMalformed, GasSponsoringKey, err)
	}
	if info.From == "" || info.Asset == "" || info.Spender == "" || info.Amount == "" || info.Nonce == "" ||
		info.Deadline == "" || info.Signature == "" || info.Version == "" {
		// The server's declaration echoed back, or an incomplete info:
		// no permit (the official facilitator reads it so too).
		return nil, nil
	}
	return parseInfo(&info)
}

func parseInfo(info *GasSponsoringInfo) (*GasSponsoring, error) {
	const p = GasSponsoringKey + ".info."
	f := fields{}
	g := &GasSponsoring{Version: info.Version}
	g.Permit.Owner = f.address(p+"from", info.From)
	g.Asset = f.address(p+"asset", info.Asset)
	g.Permit.Spender = f.address(p+"spender", info.Spender)
	g.Permit.Value = f.uint(p+"amount", info.Amount)
	g.Permit.Nonce = f.uint(p+"nonce", info.Nonce)
	g.Permit.Deadline = f.uint(p+"deadline", info.Deadline)
	if !versionRE.MatchString(info.Version) {
		f.fail(p+"version", "must be a dotted number such as \"1\"")
	}
	if f.err != nil {
		return nil, f.err
	}
	sig, err := parseHexBytes(p+"signature", info.Signature)
	if err != nil {
		return nil, err
	}
	if len(sig) != SignatureLength {
		return nil, fmt.Errorf("%w: %ssignature must be 65 bytes, got %d", ErrMalformed, p, len(sig))
	}
	copy(g.Signature[:], sig)
	return g, nil
}

// gasSponsoringSchema is the JSON Schema of the info a payer returns, as
// the extension's specification declares it.
const gasSponsoringSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",` +
	`"properties":{` +
	`"from":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$"},` +
	`"asset":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$"},` +
	`"spender":{"type":"string","pattern":"^0x[a-fA-F0-9]{40}$"},` +
	`"amount":{"type":"string","pattern":"^[0-9]+$"},` +
	`"nonce":{"type":"string","pattern":"^[0-9]+$"},` +
	`"deadline":{"type":"string","pattern":"^[0-9]+$"},` +
	`"signature":{"type":"string","pattern":"^0x[a-fA-F0-9]+$"},` +
	`"version":{"type":"string","pattern":"^[0-9]+(\\.[0-9]+)*$"}},` +
	`"required":["from","asset","spender","amount","nonce","deadline","signature","version"]}`

// GasSponsoringDeclaration returns what a server puts under
// [GasSponsoringKey] in its 402's extensions to declare that its
// facilitator accepts EIP-2612 gas sponsoring: {"info": {"description",
// "version": "1"}, "schema": <the JSON Schema of the payer's info>}.
func GasSponsoringDeclaration() x402.Object {
	o, err := x402.NewObject(map[string]any{
		"info": map[string]string{
			"description": "The facilitator accepts an EIP-2612 permit to the canonical Permit2 contract and submits it before the transfer, paying its gas.",
			"version":     GasSponsoringVersion,
		},
		"schema": json.RawMessage(gasSponsoringSchema),
	})
	if err != nil {
		panic("evm/permit2: invalid built-in declaration: " + err.Error()) // unreachable: covered by tests
	}
	return o
}

// DeclareGasSponsoring returns a 402 extensions object declaring only the
// eip2612GasSponsoring extension: {"eip2612GasSponsoring": declaration}.
func DeclareGasSponsoring() x402.Object {
	o, err := x402.NewObject(map[string]x402.Object{GasSponsoringKey: GasSponsoringDeclaration()})
	if err != nil {
		panic("evm/permit2: invalid built-in declaration: " + err.Error()) // unreachable: covered by tests
	}
	return o
}
