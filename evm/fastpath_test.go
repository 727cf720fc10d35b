package evm

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/x402"
)

// signedPayload returns a real signed v2 payment for a USDC-like asset on
// chain 84532, as clients put it on the wire.
func signedPayload(tb testing.TB) (*x402.Payment, Asset) {
	tb.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	signer, _ := NewPrivateKeySignerFromECDSA(key)
	client, _ := NewExactClient(ExactClientConfig{Signer: signer})
	asset := Asset{Address: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"), Symbol: "USDC", Name: "USDC", Version: "2", Decimals: 6}
	nets := &Networks{}
	if err := nets.Add(NetworkConfig{ChainID: 84532, Assets: []Asset{asset}}); err != nil {
		tb.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.001")
	req, err := nets.Requirements("eip155:84532", price, common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"), 60)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := client.CreatePayload(context.Background(), x402.V2, req)
	if err != nil {
		tb.Fatal(err)
	}
	payload := &x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj, Resource: &x402.ResourceInfo{URL: "https://api.example.com/weather"}}
	h, err := x402.EncodePaymentSignature(payload)
	if err != nil {
		tb.Fatal(err)
	}
	if payload, err = x402.DecodePaymentSignature(h); err != nil {
		tb.Fatal(err)
	}
	p, err := x402.NewFacilitatorRequest(payload, &req).Payment()
	if err != nil {
		tb.Fatal(err)
	}
	return p, asset
}

// generalDecode is the strict general decoder's view of a payload.
func generalDecode(b []byte) (*Authorization, Signature, error) {
	p, err := decodeExactPayload(x402.Object(b))
	if err != nil {
		return nil, Signature{}, err
	}
	a, err := decodeAuthorization(p)
	if err != nil {
		return nil, Signature{}, err
	}
	sig, err := ParseSignature(p.Signature)
	return a, sig, err
}

func sameAuthorization(a, b *Authorization) bool {
	return a.From == b.From && a.To == b.To && a.Nonce == b.Nonce &&
		a.Value.Cmp(b.Value) == 0 && a.ValidAfter.Cmp(b.ValidAfter) == 0 && a.ValidBefore.Cmp(b.ValidBefore) == 0
}

func TestFastPathTakesWhatClientsSend(t *testing.T) {
	p, _ := signedPayload(t)
	var st authStore
	sig, ok := decodeFast(p.Payload, &st)
	if !ok {
		t.Fatalf("the fast path refused go402's own client payload %s", p.Payload)
	}
	want, wantSig, err := generalDecode(p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !sameAuthorization(&st.auth, want) || sig != wantSig {
		t.Fatalf("fast %+v %x, general %+v %x", st.auth, sig, want, wantSig)
	}
	// The official TypeScript clients send the same shape, with other
	// spacing and key order; big values fall back or decode exactly.
	var m map[string]any
	if err := json.Unmarshal(p.Payload, &m); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(m, "", "  ")
	if _, ok := decodeFast(pretty, &st); !ok {
		t.Errorf("the fast path refused an indented payload:\n%s", pretty)
	}
}

func TestFastPathFallsBack(t *testing.T) {
	p, _ := signedPayload(t)
	canon := string(p.Payload)
	for name, payload := range map[string]string{
		"escaped value":      strings.Replace(canon, `"value":"1000"`, `"value":"\u0031000"`, 1),
		"extra key":          strings.Replace(canon, `{"signature"`, `{"x":"y","signature"`, 1),
		"duplicate key":      strings.Replace(canon, `{"signature"`, `{"signature":"0x00","signature"`, 1),
		"case variant":       strings.Replace(canon, `"signature"`, `"Signature"`, 1),
		"number value":       strings.Replace(canon, `"value":"1000"`, `"value":1000`, 1),
		"missing nonce":      strings.Replace(canon, `"nonce"`, `"nonc"`, 1),
		"short address":      strings.Replace(canon, `"from":"0x`, `"from":"0x0`, 1),
		"no prefix nonce":    strings.Replace(canon, `"nonce":"0x`, `"nonce":"`, 1),
		"trailing garbage":   canon + "x",
		"truncated":          canon[:len(canon)-1],
		"array":              "[" + canon + "]",
		"value over 2^256":   strings.Replace(canon, `"value":"1000"`, `"value":"`+strings.Repeat("9", 80)+`"`, 1),
		"non-ASCII in value": strings.Replace(canon, `"value":"1000"`, `"value":"１０００"`, 1),
	} {
		var st authStore
		if _, ok := decodeFast([]byte(payload), &st); ok {
			t.Errorf("%s: the fast path accepted %s", name, payload)
		}
	}
}

// FuzzFastExactMatchesGeneral: whatever the fast path accepts, the strict
// general decoder accepts too, with the same values.
func FuzzFastExactMatchesGeneral(f *testing.F) {
	p, _ := signedPayload(f)
	f.Add([]byte(p.Payload))
	f.Add([]byte(strings.ReplaceAll(string(p.Payload), ",", " ,\n ")))
	f.Add([]byte(`{"authorization":{"nonce":"0x` + strings.Repeat("ab", 32) + `","validBefore":"9","validAfter":"0","value":"1","to":"0X` + strings.Repeat("1", 40) + `","from":"0x` + strings.Repeat("F", 40) + `"},"signature":"` + strings.Repeat("1", 128) + `1b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st authStore
		sig, ok := decodeFast(b, &st)
		if !ok {
			return
		}
		want, wantSig, err := generalDecode(b)
		if err != nil {
			t.Fatalf("fast path accepted what the general decoder refuses (%v): %q", err, b)
		}
		if !sameAuthorization(&st.auth, want) || sig != wantSig {
			t.Fatalf("fast %+v %x, general %+v %x for %q", st.auth, sig, want, wantSig, b)
		}
	})
}

// localChain answers only ChainID: enough to build a facilitator whose
// local checks are measured.
type localChain struct{ ChainBackend }

func (localChain) ChainID(context.Context) (*big.Int, error) { return big.NewInt(84532), nil }

// BenchmarkExactVerifyLocal is the local part of a verify: decoding,
// requirement checks, the EIP-712 digest with the cached domain separator
// and secp256k1 recovery, without the chain reads.
func BenchmarkExactVerifyLocal(b *testing.B) {
	p, asset := signedPayload(b)
	f, err := NewExactFacilitator(context.Background(), ExactFacilitatorConfig{
		Network: "eip155:84532", Backend: localChain{}, Assets: []Asset{asset}, Now: time.Now,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, rej := f.checkLocal(p); rej != nil {
			b.Fatal(rej)
		}
	}
}
