package x402_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

// manyKeys returns a JSON object body with n keys k0…k(n-1), then extra.
func manyKeys(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	if extra != "" {
		if n > 0 {
			b.WriteString(",")
		}
		b.WriteString(extra)
	}
	b.WriteString("}")
	return b.String()
}

// requiredDoc is a minimal v2 PaymentRequired with the given extensions
// (a JSON object) and extra in its requirement.
func requiredDoc(extensions, extra string) string {
	return `{"x402Version":2,"resource":{"url":"https://api.example.com/x"},"accepts":[{"scheme":"exact","network":"eip155:84532",` +
		`"amount":"1000","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":60,"extra":` + extra + `}],"extensions":` + extensions + `}`
}

// TestDuplicateKeysByObjectKind: keys differing only in case are refused in
// the objects that map to Go structs (encoding/json would merge them) and
// accepted in the open-ended ones (extra, payload, extensions,
// outputSchema), where only exact duplicates are refused.
func TestDuplicateKeysByObjectKind(t *testing.T) {
	const dom = `{"name":"USDC","version":"2"}`
	bazaar := `{"bazaar":{"info":{"input":{"type":"http","headers":{"X-Api-Key":"k1","x-api-key":"k2"}}},` +
		`"schema":{"properties":{"Id":{"type":"string"},"id":{"type":"number"}}}}}`
	sig := func(payload, extensions string) string {
		doc := `{"x402Version":2,"accepted":` + validAccepted + `,"payload":` + payload
		if extensions != "" {
			doc += `,"extensions":` + extensions
		}
		return doc + `}`
	}
	tests := []struct {
		name   string
		decode func(string) error
		doc    string
		ok     bool
	}{
		// Open-ended objects: case variants are distinct keys.
		{"bazaar extension header names", required, requiredDoc(bazaar, dom), true},
		{"extra with case variants", required, requiredDoc(`{}`, `{"name":"USDC","version":"2","Memo":"a","memo":"b"}`), true},
		{"payload with case variants", signature, sig(`{"signature":"0x01","Signature":"0x02"}`, ""), true},
		{"extensions in a payment", signature, sig(`{}`, bazaar), true},
		{"deep inside extensions", required, requiredDoc(`{"a":{"b":[{"c":{"D":1,"d":2}}]}}`, dom), true},
		{"unicode case variants in extensions", required, requiredDoc(`{"K":1,"\u212a":2}`, dom), true},
		{"many case variants in extensions (set path)", required, requiredDoc(manyKeys(40, `"K0":1,"Z":1,"z":2`), dom), true},
		{"512 keys in extensions", required, requiredDoc(manyKeys(x402.MaxObjectKeys, ""), dom), true},

		// Open-ended objects: exact duplicates are still refused.
		{"exact duplicate in extensions", required, requiredDoc(`{"bazaar":{"a":1,"a":2}}`, dom), false},
		{"escaped duplicate in extensions", required, requiredDoc(`{"bazaar":{"a":1,"\u0061":2}}`, dom), false},
		{"exact duplicate in extra", required, requiredDoc(`{}`, `{"name":"USDC","name":"EVIL","version":"2"}`), false},
		{"exact duplicate in payload", signature, sig(`{"signature":"0x01","signature":"0x02"}`, ""), false},
		{"exact duplicate in a large extension (set path)", required, requiredDoc(manyKeys(40, `"k7":1`), dom), false},
		{"513 keys in extensions", required, requiredDoc(manyKeys(x402.MaxObjectKeys+1, ""), dom), false},

		// Objects that map to Go structs: case variants are refused.
		{"case variant at the top", required, `{"x402Version":2,"X402VERSION":2,` + requiredDoc(`{}`, dom)[len(`{"x402Version":2,`):], false},
		{"case variant in resource", required, strings.Replace(requiredDoc(`{}`, dom), `"url":"https://api.example.com/x"`, `"url":"https://a","URL":"https://b"`, 1), false},
		{"case variant in accepts", required, strings.Replace(requiredDoc(`{}`, dom), `"payTo":"0xB"`, `"payTo":"0xB","PayTo":"0xC"`, 1), false},
		{"case variant of an open field's name", required, strings.Replace(requiredDoc(`{}`, dom), `"extensions":{}`, `"extensions":{},"Extensions":{}`, 1), false},
		{"unicode fold (long s) in accepted", signature, strings.Replace(sig(`{}`, ""), `"scheme":"exact"`, `"scheme":"exact","\u017fcheme":"upto"`, 1), false},
		{"case variant in a large struct object (set path)", signature, strings.Replace(sig(`{}`, ""), `"payTo":"0xB"`, `"payTo":"0xB",`+manyKeys(20, `"PAYTO":"0xC"`)[1:len(manyKeys(20, `"PAYTO":"0xC"`))-1], 1), false},
		{"struct key after an open object", required, strings.Replace(requiredDoc(`{}`, `{"A":1,"a":2}`), `"maxTimeoutSeconds":60`, `"maxTimeoutSeconds":60,"MaxTimeoutSeconds":1`, 1), false},
		{"struct key after an open scalar", signature, strings.Replace(sig(`{}`, ""), `"extra":{"name":"USDC","version":"2"}`, `"extra":null,"Amount":"1"`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(b64(tt.doc))
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, x402.ErrMalformedJSON) {
				t.Errorf("error %v does not wrap ErrMalformedJSON", err)
			}
			if x402.ReasonOf(err) == "" {
				t.Errorf("untyped error %v", err)
			}
		})
	}
}

func required(h string) error {
	_, err := x402.DecodePaymentRequired(h)
	return err
}

func signature(h string) error {
	_, err := x402.DecodePaymentSignature(h)
	return err
}

// TestCaseVariantsSurvive: both keys of an extension survive a decode and
// re-encode, byte for byte.
func TestCaseVariantsSurvive(t *testing.T) {
	ext := `{"bazaar":{"info":{"headers":{"X-Api-Key":"k1","x-api-key":"k2"}}}}`
	p, err := x402.DecodePaymentRequired(b64(requiredDoc(ext, `{"name":"USDC","version":"2"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Extensions) != ext {
		t.Errorf("extensions %s, want %s", p.Extensions, ext)
	}
	h, err := x402.EncodePaymentRequired(p)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := base64.StdEncoding.DecodeString(h)
	if !strings.Contains(string(out), ext) {
		t.Errorf("re-encoded %s lost the extension", out)
	}
}

// TestV1OutputSchemaIsOpen: a v1 body's outputSchema is open-ended.
func TestV1OutputSchemaIsOpen(t *testing.T) {
	body := `{"x402Version":1,"error":"","accepts":[{"scheme":"exact","network":"base","maxAmountRequired":"1","resource":"r",` +
		`"description":"","mimeType":"","outputSchema":{"input":{"headers":{"Accept":"a","accept":"b"}}},"payTo":"p","maxTimeoutSeconds":1,"asset":"a"}]}`
	if _, err := x402.DecodePaymentRequiredV1([]byte(body)); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(body, `"payTo":"p"`, `"payTo":"p","PAYTO":"q"`, 1)
	if _, err := x402.DecodePaymentRequiredV1([]byte(bad)); !errors.Is(err, x402.ErrMalformedJSON) {
		t.Errorf("case variant in a v1 requirement: %v", err)
	}
}

// TestObjectDecodeIsStrict: a scheme reading an open-ended object into a
// struct gets the case-insensitive check on that object.
func TestObjectDecodeIsStrict(t *testing.T) {
	type auth struct {
		From string `json:"from"`
	}
	var dst struct {
		Signature     string `json:"signature"`
		Authorization auth   `json:"authorization"`
	}
	for name, o := range map[string]string{
		"case variant":        `{"signature":"0x01","Signature":"0x02"}`,
		"nested case variant": `{"signature":"0x01","authorization":{"from":"a","FROM":"b"}}`,
		"exact duplicate":     `{"signature":"0x01","signature":"0x02"}`,
		"unicode fold":        `{"signature":"0x01","\u017fignature":"0x02"}`,
	} {
		dst.Signature = "unchanged"
		err := x402.Object(o).Decode(&dst)
		if !errors.Is(err, x402.ErrMalformedJSON) {
			t.Errorf("%s: %v", name, err)
		}
		if dst.Signature != "unchanged" {
			t.Errorf("%s: a refused object changed the destination", name)
		}
	}
	if err := x402.Object(`{"signature":"0x01","authorization":{"from":"a"}}`).Decode(&dst); err != nil || dst.Authorization.From != "a" {
		t.Errorf("valid object: %+v %v", dst, err)
	}
	// Field reads keys exactly, so an open-ended object stays readable.
	o := x402.Object(`{"X-Api-Key":"k1","x-api-key":"k2"}`)
	if v, ok := o.StringField("x-api-key"); !ok || v != "k2" {
		t.Errorf("StringField: %q %v", v, ok)
	}
}

// TestErrorIncludesCause: the error text says what was wrong, and the typed
// error is still reachable.
func TestErrorIncludesCause(t *testing.T) {
	_, err := x402.DecodePaymentSignature(b64(validSig(strings.Replace(validAccepted, `"payTo":"0xB"`, `"payTo":"0xB","payto":"0xC"`, 1), `{}`)))
	if err == nil {
		t.Fatal("accepted")
	}
	var xe *x402.Error
	if !errors.As(err, &xe) || xe.Reason != x402.ReasonInvalidPayload || xe.Message == "" {
		t.Fatalf("not a typed error: %#v", err)
	}
	if !errors.Is(err, x402.ErrMalformedJSON) {
		t.Error("cause lost")
	}
	for _, want := range []string{"invalid_payload", xe.Message, `"payTo"`, `"payto"`, "differ only in case"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	tests := []struct {
		e    x402.Error
		want string
	}{
		{x402.Error{Reason: "r", Message: "m"}, "x402: r: m"},
		{x402.Error{Reason: "r", Err: errors.New("c")}, "x402: r: c"},
		{x402.Error{Reason: "r", Message: "m", Err: errors.New("c")}, "x402: r: m: c"},
		{x402.Error{Reason: "r", Message: "m", Err: errors.New("m")}, "x402: r: m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%#v: %q, want %q", tt.e, got, tt.want)
		}
	}
}

// TestPaymentRequiredEncodeBound: go402 never emits a PAYMENT-REQUIRED that
// would crowd out Node.js's 16 KiB header budget, but still decodes larger
// ones from other implementations.
func TestPaymentRequiredEncodeBound(t *testing.T) {
	withExtension := func(size int) *x402.PaymentRequired {
		ext, err := x402.NewObject(map[string]string{"pad": strings.Repeat("x", size)})
		if err != nil {
			t.Fatal(err)
		}
		return &x402.PaymentRequired{X402Version: 2, Resource: x402.ResourceInfo{URL: "https://api.example.com/x"}, Extensions: ext,
			Accepts: []x402.PaymentRequirements{{Scheme: "exact", Network: "eip155:84532", Amount: x402.NewAmount(1), Asset: "0xA", PayTo: "0xB", MaxTimeoutSeconds: 60}}}
	}
	// base64 grows 4/3: a 5 KiB extension fits in 8 KiB, a 7 KiB one does not.
	small, err := x402.EncodePaymentRequired(withExtension(5 << 10))
	if err != nil || len(small) > x402.MaxPaymentRequiredSize {
		t.Fatalf("%d bytes: %v", len(small), err)
	}
	big := withExtension(7 << 10)
	_, err = x402.EncodePaymentRequired(big)
	if !errors.Is(err, x402.ErrHeaderTooLarge) || x402.ReasonOf(err) != x402.ReasonInvalidPaymentRequirements {
		t.Fatalf("oversized PAYMENT-REQUIRED: %v", err)
	}
	// The same message from a peer, up to MaxHeaderSize, decodes.
	doc, err := json.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	h := base64.StdEncoding.EncodeToString(doc)
	if len(h) <= x402.MaxPaymentRequiredSize || len(h) > x402.MaxHeaderSize {
		t.Fatalf("fixture is %d bytes", len(h))
	}
	if _, err := x402.DecodePaymentRequired(h); err != nil {
		t.Errorf("decoding a %d-byte header: %v", len(h), err)
	}
	// Other headers keep the MaxHeaderSize bound.
	sig := &x402.PaymentPayload{X402Version: 2, Accepted: big.Accepts[0], Payload: x402.Object(`{"a":"` + strings.Repeat("x", 9<<10) + `"}`)}
	if _, err := x402.EncodePaymentSignature(sig); err != nil {
		t.Errorf("a 12 KiB PAYMENT-SIGNATURE: %v", err)
	}
}

// TestSettleResponseShapes: success without a transaction is what the
// reference "upto" scheme sends for $0, with amount "0"; without that
// amount, or without a network, the response is refused.
func TestSettleResponseShapes(t *testing.T) {
	tests := []struct {
		doc string
		ok  bool
	}{
		{`{"success":true,"transaction":"","network":"eip155:84532","payer":"0x01","amount":"0"}`, true},
		{`{"success":true,"transaction":"","network":"eip155:84532"}`, false},
		{`{"success":true,"transaction":"","network":"eip155:84532","amount":"1"}`, false},
		{`{"success":false,"errorReason":"insufficient_funds","transaction":"","network":"base"}`, true},
		{`{"success":true,"transaction":"0x01","network":"eip155:1","extra":{"k":1}}`, true},
		{`{"success":true,"transaction":"0x01"}`, false},
		{`{"success":true,"transaction":"0x01","network":""}`, false},
		{`{"success":true,"transaction":"","network":"eip155:1","amount":0}`, false},
	}
	for _, tt := range tests {
		s, err := x402.DecodePaymentResponse(b64(tt.doc))
		if (err == nil) != tt.ok {
			t.Errorf("%s: %+v %v", tt.doc, s, err)
			continue
		}
		if err != nil {
			continue
		}
		h, err := x402.EncodePaymentResponse(s)
		if err != nil {
			t.Errorf("%s does not re-encode: %v", tt.doc, err)
			continue
		}
		out, _ := base64.StdEncoding.DecodeString(h)
		if !jsonEqual(t, out, []byte(tt.doc)) {
			t.Errorf("round trip: %s, want %s", out, tt.doc)
		}
	}
}

func TestSupportedResponseNeverNull(t *testing.T) {
	out, err := json.Marshal(x402.SupportedResponse{})
	if err != nil || string(out) != `{"kinds":[],"extensions":[],"signers":{}}` {
		t.Errorf("%s %v", out, err)
	}
	out, err = json.Marshal(&x402.SupportedResponse{Kinds: []x402.SupportedKind{{X402Version: 2, Scheme: "exact", Network: "eip155:1"}}, Extensions: []string{"bazaar"}})
	if err != nil || string(out) != `{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:1"}],"extensions":["bazaar"],"signers":{}}` {
		t.Errorf("%s %v", out, err)
	}
}
