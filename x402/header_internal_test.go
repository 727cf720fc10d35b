package x402

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// decodePaymentTwoPass is DecodePayment as it was before it learnt to
// check and decode in one pass: DetectVersion, then decodeJSON. It is the
// reference DecodePayment must agree with.
func decodePaymentTwoPass(h string) (VersionedPayload, error) {
	data, err := headerJSON(h, ReasonInvalidPayload)
	if err != nil {
		return VersionedPayload{}, err
	}
	v, err := DetectVersion(data)
	if err != nil {
		return VersionedPayload{}, err
	}
	if v == V1 {
		var p PaymentPayloadV1
		if err := decodeJSON(data, &p, ReasonInvalidPayload); err != nil {
			return VersionedPayload{}, err
		}
		return VersionedPayload{V1: &p}, nil
	}
	var p PaymentPayload
	if err := decodeJSON(data, &p, ReasonInvalidPayload); err != nil {
		return VersionedPayload{}, err
	}
	return VersionedPayload{V2: &p}, nil
}

// FuzzDecodePaymentOnePass checks that DecodePayment decodes exactly what
// the two-pass reference does, with the same errors and reasons. It fuzzes
// the JSON inside the header.
func FuzzDecodePaymentOnePass(f *testing.F) {
	const v2 = `"accepted":{"scheme":"exact","network":"eip155:1","amount":"1","asset":"0x1","payTo":"0x2","maxTimeoutSeconds":60},"payload":{"a":1}`
	const v1 = `"scheme":"exact","network":"base","payload":{"a":1}`
	for _, doc := range []string{
		`{"x402Version":2,` + v2 + `}`,
		`{"x402Version":1,` + v1 + `}`,
		`{` + v2 + `,"x402Version":2}`,
		`{` + v1 + `,"x402Version" : 1 }`,
		" {\n\t\"x402Version\"\r\n:\n2\t,\n" + v2 + "}\n",
		`{"X402VERSION":2,` + v2 + `}`,
		"{\"x402Ver\u017fion\":2," + v2 + "}",
		`{"x402Ver\u017fion":1,` + v1 + `}`,
		`{"x402\\u0056ersion":2,` + v2 + `}`,
		`{"x402Version":2,"x402version":2,` + v2 + `}`,
		`{"x402Version":null,` + v2 + `}`,
		`{"x402Version":"2",` + v2 + `}`,
		`{"x402Version":2.0,` + v2 + `}`,
		`{"x402Version":3,` + v2 + `}`,
		`{"x402Version":{"x402Version":2},` + v2 + `}`,
		`{"x402Version":[2,1],` + v2 + `}`,
		`{"accepted":{"x402Version":2},"payload":{"x402Version":2}}`,
		`{` + v2 + `}`,
		`[{"x402Version":2}]`,
		`"x402Version"`,
		`null`,
		`2`,
		`{"x402Version":2,` + v2 + `}}`,
		`{"x402Version":2,` + v2 + `} {}`,
		`{"x402Version":2,` + v2,
		`{"x402Version":2 2,` + v2 + `}`,
		`{"x402Version"2,` + v2 + `}`,
		`{"x402Version":2,"accepted":5,"payload":{}}`,
		`{"x402Version":1,"accepted":5,` + v1 + `}`,
		`{"x402Version":2,` + strings.Replace(v2, `"1"`, `1`, 1) + `}`,
		`{"x402Version":2,` + strings.Replace(v2, `"payload":{"a":1}`, `"payload":[]`, 1) + `}`,
		`{"x402Version":2,"resource":{"url":"u"},"extensions":{"A":1,"a":2},` + v2 + `}`,
	} {
		f.Add([]byte(doc))
	}
	addCorpusSeeds(f, "FuzzDecodePayment")
	f.Fuzz(func(t *testing.T, doc []byte) {
		h := base64.StdEncoding.EncodeToString(doc)
		got, err := DecodePayment(h)
		want, wantErr := decodePaymentTwoPass(h)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("error %v, want %v", err, wantErr)
		}
		if err != nil {
			var a, b *Error
			if !errors.As(err, &a) || !errors.As(wantErr, &b) || a.Reason != b.Reason {
				t.Fatalf("error %#v, want %#v", err, wantErr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	})
}

// addCorpusSeeds adds the JSON in the header values of the seed corpus of
// another fuzz target.
func addCorpusSeeds(f *testing.F, target string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		_, arg, _ := strings.Cut(string(b), "\n")
		arg = strings.TrimSpace(arg)
		if !strings.HasPrefix(arg, "string(") || !strings.HasSuffix(arg, ")") {
			continue
		}
		s, err := strconv.Unquote(arg[len("string(") : len(arg)-1])
		if err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		if doc, err := decodeBase64(s); err == nil {
			f.Add(doc)
		}
	}
}
