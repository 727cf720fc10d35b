package batchsettlement

import (
	"reflect"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

func TestFastPathTakesCanonical(t *testing.T) {
	o, _ := Object(samplePayloads(t)[TypeVoucher])
	p, ok := parseVoucherFast(o)
	if !ok {
		t.Fatalf("canonical voucher payload not taken: %s", o)
	}
	g, err := parseGeneral(o)
	if err != nil || !reflect.DeepEqual(p, g) {
		t.Fatalf("fast %+v\ngeneral %+v %v", p, g, err)
	}
	s := string(o)
	variants := map[string]string{
		"white space":       strings.Replace(s, `"type":`, `"type": `, 1),
		"escaped key":       strings.Replace(s, `"voucher":{`, `"vouche\u0072":{`, 1),
		"duplicate type":    strings.Replace(s, `{"type":"voucher",`, `{"type":"voucher","type":"voucher",`, 1),
		"case twin":         strings.Replace(s, `"salt":`, `"Salt":`, 1),
		"extra key":         strings.Replace(s, `{"type":"voucher",`, `{"type":"voucher","x":1,`, 1),
		"leading zero":      strings.Replace(s, `"withdrawDelay":86400`, `"withdrawDelay":086400`, 1),
		"string delay":      strings.Replace(s, `"withdrawDelay":86400`, `"withdrawDelay":"86400"`, 1),
		"deposit type":      strings.Replace(s, `"type":"voucher"`, `"type":"deposit"`, 1),
		"trailing bytes":    s + " ",
		"short signature":   strings.Replace(s, `","channelId"`, `","channelId"`, 1)[:strings.LastIndex(s, `"}}`)-2] + `"}}`,
		"uppercase 0X salt": strings.Replace(s, `"salt":"0x`, `"salt":"0X`, 1),
	}
	for name, v := range variants {
		if _, ok := parseVoucherFast([]byte(v)); ok && name != "uppercase 0X salt" {
			t.Errorf("%s: taken by the fast path: %s", name, v)
		}
		fp, fok := parseVoucherFast([]byte(v))
		gp, gerr := parseGeneral(x402.Object(v))
		if fok && (gerr != nil || !reflect.DeepEqual(fp, gp)) {
			t.Errorf("%s: fast path and general decoder disagree: %+v / %+v %v", name, fp, gp, gerr)
		}
	}
}

// FuzzFastMatchesGeneral: whatever the fast path accepts, the general
// decoder accepts and decodes to the same payload.
func FuzzFastMatchesGeneral(f *testing.F) {
	for _, p := range samplePayloads(f) {
		o, _ := Object(p)
		f.Add([]byte(o))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fp, ok := parseVoucherFast(b)
		if !ok {
			return
		}
		gp, err := parseGeneral(x402.Object(b))
		if err != nil {
			t.Fatalf("fast path took what the general decoder refuses (%v): %s", err, b)
		}
		if !reflect.DeepEqual(fp, gp) {
			t.Fatalf("fast %+v\ngeneral %+v\n%s", fp, gp, b)
		}
	})
}
