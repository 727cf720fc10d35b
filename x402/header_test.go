package x402_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// validSig is a minimal valid v2 PAYMENT-SIGNATURE JSON with placeholders.
func validSig(accepted, payload string) string {
	return `{"x402Version":2,"accepted":` + accepted + `,"payload":` + payload + `}`
}

const validAccepted = `{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}`

func TestDecodeBase64Variants(t *testing.T) {
	doc := validSig(validAccepted, `{"signature":"0x01","k":"??>>"}`)
	std := base64.StdEncoding.EncodeToString([]byte(doc))
	url := base64.URLEncoding.EncodeToString([]byte(doc))
	if !strings.ContainsAny(std, "+/") {
		t.Fatal("fixture does not exercise the alphabet difference")
	}
	for name, h := range map[string]string{
		"std":            std,
		"std-unpadded":   strings.TrimRight(std, "="),
		"url":            url,
		"url-unpadded":   strings.TrimRight(url, "="),
		"raw-std-length": base64.RawStdEncoding.EncodeToString([]byte(doc)),
	} {
		if _, err := x402.DecodePaymentSignature(h); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDecodeHostileHeaders(t *testing.T) {
	dupAmount := `{"scheme":"exact","network":"eip155:84532","amount":"10000","amount":"1","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":60}`
	caseAmount := `{"scheme":"exact","network":"eip155:84532","amount":"10000","AMOUNT":"1","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":60}`
	escAmount := `{"scheme":"exact","network":"eip155:84532","amount":"10000","\u0061mount":"1","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":60}`
	tests := []struct {
		name   string
		header string
		is     error
		reason x402.Reason
	}{
		{"empty", "", x402.ErrMalformedBase64, x402.ReasonInvalidPayload},
		{"oversized", strings.Repeat("A", x402.MaxHeaderSize+4), x402.ErrHeaderTooLarge, x402.ReasonInvalidPayload},
		{"not base64", "not*base64!", x402.ErrMalformedBase64, x402.ReasonInvalidPayload},
		{"inner whitespace", b64(validSig(validAccepted, `{}`))[:8] + " " + b64(validSig(validAccepted, `{}`))[8:], x402.ErrMalformedBase64, x402.ReasonInvalidPayload},
		{"mixed alphabets", "ab+c-d__", x402.ErrMalformedBase64, x402.ReasonInvalidPayload},
		{"too much padding", "YWJj===", x402.ErrMalformedBase64, x402.ReasonInvalidPayload},
		{"bad padding length", "YWJjZA=", x402.ErrMalformedBase64, x402.ReasonInvalidPayload},
		{"truncated", b64(validSig(validAccepted, `{"a":1}`))[:40], x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"not JSON", b64("hello"), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"JSON array", b64(`[1,2]`), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"JSON null", b64(`null`), x402.ErrUnsupportedVersion, x402.ReasonInvalidX402Version},
		{"trailing data", b64(validSig(validAccepted, `{}`) + `{}`), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"invalid UTF-8", b64(validSig(validAccepted, "{\"a\":\"\xff\"}")), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"duplicate key", b64(validSig(dupAmount, `{}`)), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"case-variant key", b64(validSig(caseAmount, `{}`)), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"escaped duplicate key", b64(validSig(escAmount, `{}`)), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"deep nesting", b64(validSig(validAccepted, strings.Repeat(`{"a":`, 100)+"1"+strings.Repeat("}", 100))), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"null accepted", b64(`{"x402Version":2,"accepted":null,"payload":{}}`), x402.ErrInvalidMessage, x402.ReasonInvalidPayload},
		{"missing payload", b64(`{"x402Version":2,"accepted":` + validAccepted + `}`), x402.ErrInvalidMessage, x402.ReasonInvalidPayload},
		{"payload not object", b64(validSig(validAccepted, `"0xdead"`)), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"extra not object", b64(validSig(strings.Replace(validAccepted, `{"name":"USDC","version":"2"}`, `[1]`, 1), `{}`)), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"v1 payload in v2 header", b64(`{"x402Version":1,"scheme":"exact","network":"base","payload":{}}`), x402.ErrUnsupportedVersion, x402.ReasonInvalidX402Version},
		{"version 3", b64(`{"x402Version":3,"accepted":` + validAccepted + `,"payload":{}}`), x402.ErrUnsupportedVersion, x402.ReasonInvalidX402Version},
		{"version as string", b64(`{"x402Version":"2","accepted":` + validAccepted + `,"payload":{}}`), x402.ErrMalformedJSON, x402.ReasonInvalidPayload},
		{"negative amount", b64(validSig(strings.Replace(validAccepted, `"10000"`, `"-1"`, 1), `{}`)), x402.ErrInvalidAmount, x402.ReasonInvalidPayload},
		{"huge amount", b64(validSig(strings.Replace(validAccepted, `"10000"`, `"1`+strings.Repeat("0", 80)+`"`, 1), `{}`)), x402.ErrInvalidAmount, x402.ReasonInvalidPayload},
		{"float amount", b64(validSig(strings.Replace(validAccepted, `"10000"`, `0.5`, 1), `{}`)), x402.ErrInvalidAmount, x402.ReasonInvalidPayload},
		{"v1 network name", b64(validSig(strings.Replace(validAccepted, `eip155:84532`, `base-sepolia`, 1), `{}`)), x402.ErrInvalidMessage, x402.ReasonInvalidPayload},
		{"zero timeout", b64(validSig(strings.Replace(validAccepted, `60`, `0`, 1), `{}`)), x402.ErrInvalidMessage, x402.ReasonInvalidPayload},
		{"missing scheme", b64(validSig(strings.Replace(validAccepted, `"scheme":"exact",`, ``, 1), `{}`)), x402.ErrInvalidMessage, x402.ReasonInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := x402.DecodePaymentSignature(tt.header)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			var xe *x402.Error
			if !errors.As(err, &xe) {
				t.Fatalf("error %T is not an *x402.Error", err)
			}
			if xe.Reason != tt.reason {
				t.Errorf("reason %q, want %q (%v)", xe.Reason, tt.reason, err)
			}
			if xe.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestUnknownKeysSurvive(t *testing.T) {
	doc := `{"x402Version":2,"accepted":{"scheme":"exact","network":"eip155:8453","amount":"1","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":5,` +
		`"extra":{"name":"USD Coin","version":"2","futureKey":{"nested":[1,2,{"x":null}]}}},` +
		`"payload":{"signature":"0x01","authorization":{"from":"0xC"},"newField":123456789012345678901234567890},` +
		`"extensions":{"bazaar":{"info":{"a":1}},"custom":true}}`
	p, err := x402.DecodePaymentSignature(b64(doc))
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(p)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := base64.StdEncoding.DecodeString(h)
	if !jsonEqual(t, out, []byte(doc)) {
		t.Errorf("round trip lost data\n got: %s\nwant: %s", out, doc)
	}
	if !strings.Contains(string(out), "123456789012345678901234567890") {
		t.Error("a big number in payload lost precision")
	}
}

func TestDecodePaymentDetectsVersion(t *testing.T) {
	v1, err := x402.DecodePayment(strings.TrimSpace(string(readGolden(t, "v1_x_payment.b64"))))
	if err != nil || v1.Version() != 1 || v1.V1 == nil || v1.V1.Network != "base-sepolia" {
		t.Fatalf("v1: %+v %v", v1, err)
	}
	v2, err := x402.DecodePayment(strings.TrimSpace(string(readGolden(t, "v2_payment_signature.b64"))))
	if err != nil || v2.Version() != 2 || v2.V2 == nil {
		t.Fatalf("v2: %+v %v", v2, err)
	}
	for _, doc := range []string{`{"scheme":"exact"}`, `{"x402Version":0}`, `{"x402Version":2.0}`, `{"x402Version":null}`} {
		if _, err := x402.DecodePayment(b64(doc)); x402.ReasonOf(err) != x402.ReasonInvalidX402Version {
			t.Errorf("%s: %v", doc, err)
		}
	}
	if (x402.VersionedPayload{}).Version() != 0 {
		t.Error("empty VersionedPayload has a version")
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	if _, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: 2}); err == nil {
		t.Error("encoded an empty payload")
	}
	if _, err := x402.EncodePaymentRequired(&x402.PaymentRequired{X402Version: 2, Resource: x402.ResourceInfo{URL: "u"}}); err == nil {
		t.Error("encoded a PaymentRequired without accepts")
	}
	if _, err := x402.EncodePaymentResponse(&x402.SettleResponse{Success: true, Network: "eip155:1"}); err == nil {
		t.Error("encoded a successful settlement without a transaction")
	}
	one := x402.NewAmount(1)
	if _, err := x402.EncodePaymentResponse(&x402.SettleResponse{Success: true, Network: "eip155:1", Amount: &one}); err == nil {
		t.Error("encoded a successful settlement of 1 without a transaction")
	}
	if _, err := x402.EncodePaymentResponse(&x402.SettleResponse{Success: true, Transaction: "0x01"}); err == nil {
		t.Error("encoded a settlement without a network")
	}
	big := &x402.PaymentPayloadV1{X402Version: 1, Scheme: "exact", Network: "base", Payload: x402.Object(`{"a":"` + strings.Repeat("x", x402.MaxHeaderSize) + `"}`)}
	if _, err := x402.EncodeXPayment(big); !errors.Is(err, x402.ErrHeaderTooLarge) {
		t.Errorf("oversized encode: %v", err)
	}
}

func TestDecodePaymentRequiredV1Body(t *testing.T) {
	for name, body := range map[string]string{
		"too large":  `{"x402Version":1,"error":"` + strings.Repeat("x", x402.MaxJSONSize) + `"}`,
		"v2 in body": `{"x402Version":2,"accepts":[]}`,
		"no accepts": `{"x402Version":1,"error":"x","accepts":[]}`,
		"bad amount": `{"x402Version":1,"accepts":[{"scheme":"exact","network":"base","maxAmountRequired":"1.5","resource":"r","payTo":"p","asset":"a","maxTimeoutSeconds":1}]}`,
	} {
		if _, err := x402.DecodePaymentRequiredV1([]byte(body)); x402.ReasonOf(err) == "" {
			t.Errorf("%s: %v", name, err)
		}
	}
}
