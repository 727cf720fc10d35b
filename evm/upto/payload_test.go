package upto_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// official is an upto payload as @x402/evm 2.27 sends it (the nonce in
// decimal, checksummed addresses).
const official = `{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c",
"permit2Authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","permitted":{"token":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","amount":"5000000"},
"spender":"0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002","nonce":"110089576396426557312346513786423213813839453066640102346013541474064093164672","deadline":"1740672154",
"witness":{"to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","facilitator":"0x1111111111111111111111111111111111111111","validAfter":"0"}}}`

func TestDecodeOfficial(t *testing.T) {
	d, err := upto.Decode(x402.Object(official))
	if err != nil {
		t.Fatal(err)
	}
	p := &d.Permit
	if p.From != common.HexToAddress("0x857b06519E91e3A54538791bDbb0E22373e36b66") || p.Amount.Int64() != 5_000_000 ||
		p.Spender != upto.ProxyAddress() || p.Deadline.Int64() != 1740672154 || p.ValidAfter.Sign() != 0 ||
		p.Facilitator != common.HexToAddress("0x1111111111111111111111111111111111111111") || len(d.Signature) != 65 {
		t.Errorf("decoded %+v", p)
	}
	// Encode gives back the same authorization.
	wire, err := upto.Encode(p, d.Signature)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := x402.NewObject(wire)
	if err != nil {
		t.Fatal(err)
	}
	again, err := upto.Decode(obj)
	if err != nil {
		t.Fatal(err)
	}
	if again.Permit.Nonce.Cmp(p.Nonce) != 0 || again.Permit.To != p.To || string(again.Signature) != string(d.Signature) {
		t.Errorf("round trip changed the permit: %+v", again.Permit)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := []struct{ name, old, new string }{
		{"no signature", `"signature":"0x2d6a`, `"sig":"0x2d6a`},
		{"signature not hex", `"signature":"0x2d6a`, `"signature":"0xzz6a`},
		{"signature odd length", `"signature":"0x2d6a`, `"signature":"0x2d6`},
		{"numeric amount", `"amount":"5000000"`, `"amount":5000000`},
		{"negative amount", `"amount":"5000000"`, `"amount":"-5"`},
		{"amount above uint256", `"amount":"5000000"`, `"amount":"` + strings.Repeat("9", 80) + `"`},
		{"hex deadline", `"deadline":"1740672154"`, `"deadline":"0x10"`},
		{"short address", `"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66"`, `"from":"0x857b"`},
		{"address without 0x", `"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66"`, `"from":"00857b06519E91e3A54538791bDbb0E22373e36b66"`},
		{"no witness facilitator", `"facilitator":"0x1111111111111111111111111111111111111111",`, ``},
		{"no witness", `"witness":{`, `"witnezz":{`},
		{"null permitted", `"permitted":{"token":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","amount":"5000000"}`, `"permitted":null`},
		{"nonce above 256 bits", `"nonce":"110089576396426557312346513786423213813839453066640102346013541474064093164672"`, `"nonce":"` + strings.Repeat("9", 80) + `"`},
		{"hex nonce", `"nonce":"110089576396426557312346513786423213813839453066640102346013541474064093164672"`, `"nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"`},
		{"unknown key", `"deadline":"1740672154"`, `"deadline":"1740672154","extra":"1"`},
		{"duplicate key", `"deadline":"1740672154"`, `"deadline":"1740672154","deadline":"1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := strings.Replace(official, c.old, c.new, 1)
			if s == official {
				t.Fatal("case does not change the payload")
			}
			if _, err := upto.Decode(x402.Object(s)); err == nil {
				t.Errorf("decoded %s", s)
			} else if !errors.Is(err, upto.ErrPayload) {
				t.Errorf("error %v does not wrap ErrPayload", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(official))
	f.Add([]byte(`{"signature":"0x","permit2Authorization":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := upto.Decode(x402.Object(b))
		if err != nil {
			return
		}
		// What decodes encodes and decodes to the same permit.
		wire, err := upto.Encode(&d.Permit, d.Signature)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := x402.NewObject(wire)
		if err != nil {
			t.Fatal(err)
		}
		again, err := upto.Decode(obj)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", obj, err)
		}
		if again.Permit.Nonce.Cmp(d.Permit.Nonce) != 0 || again.Permit.Amount.Cmp(d.Permit.Amount) != 0 || string(again.Signature) != string(d.Signature) {
			t.Fatalf("round trip changed %s", b)
		}
		if _, err := upto.SettleCalldata(&d.Permit, d.Permit.Amount, d.Signature); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Permit.Digest(8453); err != nil {
			t.Fatal(err)
		}
	})
}
