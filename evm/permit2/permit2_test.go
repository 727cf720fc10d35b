package permit2_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

func TestWitnessTypeStrings(t *testing.T) {
	exact := "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
	upto := "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)"
	if got := permit2.WitnessTypeString(permit2.ExactWitness{}); got != exact {
		t.Errorf("exact: %q", got)
	}
	if got := permit2.WitnessTypeString(permit2.UptoWitness{}); got != upto {
		t.Errorf("upto: %q", got)
	}
	if got := permit2.MessageType(permit2.ExactWitness{}); got != "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,"+exact {
		t.Errorf("message type: %q", got)
	}
}

// aWitness sorts before TokenPermissions: the referenced types must be in
// alphabetical order, as EIP-712 encodes them.
type aWitness struct{}

func (aWitness) TypeName() string                 { return "AWitness" }
func (aWitness) TypeString() string               { return "AWitness(uint256 x)" }
func (aWitness) StructHash() (common.Hash, error) { return common.Hash{}, nil }

func TestWitnessTypeStringOrder(t *testing.T) {
	if got, want := permit2.WitnessTypeString(aWitness{}), "AWitness witness)AWitness(uint256 x)TokenPermissions(address token,uint256 amount)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestPermitRejectsOutOfRange(t *testing.T) {
	huge := new(big.Int).Lsh(big.NewInt(1), 256)
	w := permit2.ExactWitness{ValidAfter: big.NewInt(0)}
	for name, p := range map[string]*permit2.Permit{
		"nil amount":       {Nonce: big.NewInt(1), Deadline: big.NewInt(1), Witness: w},
		"negative nonce":   {Amount: big.NewInt(1), Nonce: big.NewInt(-1), Deadline: big.NewInt(1), Witness: w},
		"huge deadline":    {Amount: big.NewInt(1), Nonce: big.NewInt(1), Deadline: huge, Witness: w},
		"no witness":       {Amount: big.NewInt(1), Nonce: big.NewInt(1), Deadline: big.NewInt(1)},
		"nil witness time": {Amount: big.NewInt(1), Nonce: big.NewInt(1), Deadline: big.NewInt(1), Witness: permit2.ExactWitness{}},
	} {
		if _, err := p.Digest(1); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := permit2.PackSettle(&permit2.Settlement{Permit: p}); err == nil {
			t.Errorf("%s: PackSettle: no error", name)
		}
	}
}

func TestRecoverRejectsNonCanonical(t *testing.T) {
	v := loadVectors(t)
	good := v.Exact.Signature
	mut := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	n := crypto.S256().Params().N
	highS := mut(func(b []byte) {
		s := new(big.Int).SetBytes(b[32:64])
		new(big.Int).Sub(n, s).FillBytes(b[32:64])
		b[64] ^= 1
	})
	for name, sig := range map[string][]byte{
		"short":     good[:64],
		"long":      append(bytes.Clone(good), 0),
		"v=29":      mut(func(b []byte) { b[64] = 29 }),
		"zero r":    mut(func(b []byte) { clear(b[0:32]) }),
		"zero s":    mut(func(b []byte) { clear(b[32:64]) }),
		"high s":    highS,
		"r too big": mut(func(b []byte) { n.FillBytes(b[0:32]) }),
		"empty":     nil,
		"6492 blob": bytes.Repeat([]byte{1}, 200),
	} {
		if _, err := permit2.Recover(v.Exact.Digest, sig); !errors.Is(err, permit2.ErrInvalidSignature) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// v as a raw recovery id is accepted and means the same signer.
	raw := mut(func(b []byte) { b[64] -= 27 })
	if got, err := permit2.Recover(v.Exact.Digest, raw); err != nil || got != v.Owner {
		t.Fatalf("v in {0,1}: %s, %v", got, err)
	}
}

// highSSigner returns the high-s twin of every signature, as some key
// stores do; Sign must normalise it.
type highSSigner struct{ inner permit2.Signer }

func (h highSSigner) Address() common.Address { return h.inner.Address() }
func (h highSSigner) SignDigest(ctx context.Context, d common.Hash) ([]byte, error) {
	b, err := h.inner.SignDigest(ctx, d)
	if err != nil {
		return nil, err
	}
	n := crypto.S256().Params().N
	new(big.Int).Sub(n, new(big.Int).SetBytes(b[32:64])).FillBytes(b[32:64])
	b[64] ^= 1
	return b, nil
}

// otherSigner claims one address and signs with another key.
type otherSigner struct {
	permit2.Signer
	addr common.Address
}

func (o otherSigner) Address() common.Address { return o.addr }

func TestSignNormalisesAndChecks(t *testing.T) {
	v := loadVectors(t)
	p := v.permit(t, permit2.KindExact)
	sig, err := permit2.Sign(context.Background(), highSSigner{testSigner(t)}, v.ChainID, p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sig[:], v.Exact.Signature) {
		t.Fatalf("high-s not normalised: %x", sig)
	}
	_, err = permit2.Sign(context.Background(), otherSigner{testSigner(t), common.Address{1}}, v.ChainID, p)
	if !errors.Is(err, permit2.ErrSignerMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := permit2.Sign(context.Background(), nil, v.ChainID, p); !errors.Is(err, permit2.ErrSignerMismatch) {
		t.Fatalf("nil signer: %v", err)
	}
}

func TestNewNonce(t *testing.T) {
	a, err := permit2.NewNonce(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := permit2.NewNonce(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Cmp(b) == 0 || a.BitLen() > 256 {
		t.Fatalf("nonces %s %s", a, b)
	}
	fixed, err := permit2.NewNonce(bytes.NewReader(bytes.Repeat([]byte{0xff}, 32)))
	if err != nil || fixed.BitLen() != 256 {
		t.Fatalf("fixed nonce %v %v", fixed, err)
	}
	if _, err := permit2.NewNonce(bytes.NewReader(nil)); err == nil {
		t.Fatal("short reader: no error")
	}
}

func TestRevertName(t *testing.T) {
	sel := func(sig string) []byte { return crypto.Keccak256([]byte(sig))[:4] }
	for sig, want := range map[string]string{
		"InvalidNonce()":             "InvalidNonce",
		"PaymentTooEarly()":          "PaymentTooEarly",
		"Permit2612AmountMismatch()": "Permit2612AmountMismatch",
		"InvalidAmount(uint256)":     "InvalidAmount",
		"InvalidAmount()":            "InvalidAmount",
		"SignatureExpired(uint256)":  "SignatureExpired",
		"Unrelated()":                "",
	} {
		if got := permit2.RevertName(append(sel(sig), make([]byte, 32)...)); got != want {
			t.Errorf("%s: %q, want %q", sig, got, want)
		}
	}
	if permit2.RevertName([]byte{1, 2}) != "" {
		t.Error("short data named")
	}
}

const goodExact = `{"signature":"0x` + "11" + `","permit2Authorization":{"from":"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23","permitted":{"token":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","amount":"10"},"spender":"0x402085c248EeA27D92E8b30b2C58ed07f9E20001","nonce":"7","deadline":"1893456000","witness":{"to":"0x209693bc6afc0c5328ba36faf03c514ef312287c","validAfter":"0"}}}`

func TestParsePayloadStrict(t *testing.T) {
	if _, err := permit2.ParsePayload(x402.Object(goodExact), permit2.KindExact); err != nil {
		t.Fatalf("good payload: %v", err)
	}
	for name, tc := range map[string]struct {
		old, new string
		kind     permit2.Kind
	}{
		"unknown key":         {`"nonce":"7"`, `"nonce":"7","extra":1`, permit2.KindExact},
		"case twin":           {`"nonce":"7"`, `"nonce":"7","Nonce":"8"`, permit2.KindExact},
		"numeric amount":      {`"amount":"10"`, `"amount":10`, permit2.KindExact},
		"hex nonce":           {`"nonce":"7"`, `"nonce":"0x7"`, permit2.KindExact},
		"negative":            {`"amount":"10"`, `"amount":"-10"`, permit2.KindExact},
		"too big":             {`"amount":"10"`, `"amount":"115792089237316195423570985008687907853269984665640564039457584007913129639936"`, permit2.KindExact},
		"bad checksum":        {`0x2c7536E3605D9C16a7a3D7b1898e529396a65c23`, `0x2c7536e3605D9C16a7a3D7b1898e529396a65c23`, permit2.KindExact},
		"short address":       {`0x402085c248EeA27D92E8b30b2C58ed07f9E20001`, `0x402085c248EeA27D92E8b30b2C58ed07f9E200`, permit2.KindExact},
		"no 0x address":       {`"0x402085c248EeA27D92E8b30b2C58ed07f9E20001"`, `"402085c248EeA27D92E8b30b2C58ed07f9E20001"`, permit2.KindExact},
		"missing sig":         {`"signature":"0x11",`, ``, permit2.KindExact},
		"odd hex sig":         {`"0x11"`, `"0x111"`, permit2.KindExact},
		"facilitator exact":   {`"validAfter":"0"`, `"validAfter":"0","facilitator":"0x1111111111111111111111111111111111111111"`, permit2.KindExact},
		"upto no facilitator": {`x`, `x`, permit2.KindUpto},
		"missing deadline":    {`"deadline":"1893456000",`, ``, permit2.KindExact},
		"array":               {goodExact, `[]`, permit2.KindExact},
	} {
		in := strings.Replace(goodExact, tc.old, tc.new, 1)
		if in == goodExact && tc.kind == permit2.KindExact {
			t.Fatalf("%s: replacement did not apply", name)
		}
		_, err := permit2.ParsePayload(x402.Object(in), tc.kind)
		if !errors.Is(err, permit2.ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestGasSponsoringRoundTrip(t *testing.T) {
	v := loadVectors(t)
	g := &permit2.GasSponsoring{Asset: v.Token, Permit: permit2.EIP2612Permit{Owner: v.Owner, Spender: permit2.Address(), Value: big.NewInt(5), Nonce: big.NewInt(0), Deadline: big.NewInt(99)}}
	copy(g.Signature[:], v.EIP2612.Signature)
	ext, err := g.Extension()
	if err != nil {
		t.Fatal(err)
	}
	back, err := permit2.ParseGasSponsoring(ext)
	if err != nil {
		t.Fatal(err)
	}
	if back.Asset != g.Asset || back.Permit.Owner != v.Owner || back.Permit.Value.Int64() != 5 || back.Signature != g.Signature || back.Version != "1" {
		t.Fatalf("round trip: %+v", back)
	}
	for name, in := range map[string]string{
		"absent":  `{}`,
		"no info": `{"eip2612GasSponsoring":{}}`,
		"other":   `{"bazaar":{"info":{}}}`,
	} {
		if g, err := permit2.ParseGasSponsoring(x402.Object(in)); g != nil || err != nil {
			t.Errorf("%s: %v %v", name, g, err)
		}
	}
	// The official client merges the 402's info.description in.
	withDesc := strings.Replace(string(ext), `"version":"1"`, `"version":"1","description":"x"`, 1)
	if g, err := permit2.ParseGasSponsoring(x402.Object(withDesc)); err != nil || g == nil {
		t.Fatalf("info with description: %v", err)
	}
	info := string(ext)
	for name, tc := range map[string][2]string{
		"short sig":   {v.EIP2612.Signature.String()[:20], "0x1122"},
		"bad version": {`"version":"1"`, `"version":"v1"`},
		"case twin":   {`"version":"1"`, `"version":"1","Version":"2"`},
		"empty from":  {`"from":"0x`, `"from":"x`},
		"bad amount":  {`"amount":"5"`, `"amount":"5.0"`},
	} {
		in := strings.Replace(info, tc[0], tc[1], 1)
		if in == info {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := permit2.ParseGasSponsoring(x402.Object(in)); !errors.Is(err, permit2.ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestDeclareGasSponsoring(t *testing.T) {
	d := permit2.DeclareGasSponsoring()
	raw, ok := d.Field(permit2.GasSponsoringKey)
	if !ok {
		t.Fatalf("%s", d)
	}
	var decl struct {
		Info struct {
			Description, Version string
		}
		Schema struct {
			Required []string
		}
	}
	if err := x402.Object(raw).Decode(&decl); err != nil {
		t.Fatal(err)
	}
	if decl.Info.Version != "1" || decl.Info.Description == "" || len(decl.Schema.Required) != 8 {
		t.Fatalf("%s", raw)
	}
	// The declaration echoed back is no permit, and no error either.
	if g, err := permit2.ParseGasSponsoring(d); err != nil || g != nil {
		t.Fatalf("declaration parsed as %+v, %v", g, err)
	}
}
