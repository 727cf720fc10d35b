package evm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func testAuthorization(from common.Address) *Authorization {
	return &Authorization{
		From:        from,
		To:          common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"),
		Value:       big.NewInt(10000),
		ValidAfter:  big.NewInt(0),
		ValidBefore: big.NewInt(1_900_000_000),
		Nonce:       [32]byte{0xde, 0xad, 0xbe, 0xef},
	}
}

var testDomain = Domain{
	Name:              "USDC",
	Version:           "2",
	ChainID:           84532,
	VerifyingContract: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
}

func TestNewPrivateKeySigner(t *testing.T) {
	want := crypto.PubkeyToAddress(mustKey(t).PublicKey)
	for _, in := range []string{testKeyHex, "0x" + testKeyHex, "0X" + strings.ToUpper(testKeyHex), "  0x" + testKeyHex + "\n"} {
		s, err := NewPrivateKeySigner(in)
		if err != nil {
			t.Fatalf("NewPrivateKeySigner: %v", err)
		}
		if s.Address() != want {
			t.Fatalf("address %s, want %s", s.Address(), want)
		}
	}
}

func TestNewPrivateKeySignerErrorsHideKey(t *testing.T) {
	n := crypto.S256().Params().N
	cases := map[string]string{
		"short":     testKeyHex[:62],
		"long":      testKeyHex + "00",
		"non-hex":   testKeyHex[:40] + "zq" + testKeyHex[42:],
		"zero":      strings.Repeat("0", 64),
		"n":         fmt.Sprintf("%064x", n),
		"above n":   fmt.Sprintf("%064x", new(big.Int).Add(n, big.NewInt(12345))),
		"empty":     "",
		"only 0x":   "0x",
		"inner ws":  testKeyHex[:32] + " " + testKeyHex[33:],
		"bad 0x 64": "0x" + testKeyHex[:62] + "gg",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewPrivateKeySigner(in)
			if !errors.Is(err, ErrInvalidPrivateKey) {
				t.Fatalf("error = %v, want ErrInvalidPrivateKey", err)
			}
			msg := err.Error()
			for _, frag := range []string{"zq", "gg", testKeyHex[:8], testKeyHex[40:48]} {
				if strings.Contains(msg, frag) {
					t.Fatalf("error %q contains key material %q", msg, frag)
				}
			}
		})
	}
}

func TestPrivateKeySignerNeverPrintsKey(t *testing.T) {
	s, err := NewPrivateKeySigner(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	d := new(big.Int).SetBytes(crypto.FromECDSA(mustKey(t)))
	secrets := []string{testKeyHex, strings.ToUpper(testKeyHex), d.String(), fmt.Sprintf("%x", d), testKeyHex[10:30]}
	addr := s.Address().Hex()

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%q", "%T %v"} {
		outputs = append(outputs, fmt.Sprintf(verb, s))
		outputs = append(outputs, fmt.Sprintf(verb, *s)) // a copy of the struct
		outputs = append(outputs, fmt.Sprintf(verb, []any{s, struct{ S *PrivateKeySigner }{s}}))
	}
	outputs = append(outputs, s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintln(s))

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("signer", "signer", s, "group", slog.Group("g", "s", s))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("signer", "signer", s)
	outputs = append(outputs, buf.String())

	for _, out := range outputs {
		for _, secret := range secrets {
			if strings.Contains(strings.ToLower(out), strings.ToLower(secret)) {
				t.Fatalf("output %q contains the private key", out)
			}
		}
	}
	if got := s.String(); got != "PrivateKeySigner("+addr+")" {
		t.Fatalf("String = %q", got)
	}
	if !strings.Contains(buf.String(), addr) {
		t.Fatalf("log output %q does not name the address", buf.String())
	}
	var nilSigner *PrivateKeySigner
	_ = nilSigner.String()
	_ = nilSigner.LogValue()
}

func TestPrivateKeySignerSignDigest(t *testing.T) {
	s, err := NewPrivateKeySigner(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 200 {
		digest := crypto.Keccak256Hash([]byte(fmt.Sprint("digest ", i)))
		raw, err := s.SignDigest(ctx, digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 65 || (raw[64] != 27 && raw[64] != 28) {
			t.Fatalf("signature %x: want 65 bytes with v in {27,28}", raw)
		}
		if string(raw[32:64]) > secp256k1HalfN {
			t.Fatalf("high-s signature %x", raw)
		}
		sig, err := SignatureFromBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := RecoverSigner(digest, sig)
		if err != nil || got != s.Address() {
			t.Fatalf("recovered %s (%v), want %s", got, err, s.Address())
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.SignDigest(cctx, common.Hash{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

func TestNewPrivateKeySignerFromECDSA(t *testing.T) {
	key := mustKey(t)
	s, err := NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	if s.Address() != crypto.PubkeyToAddress(key.PublicKey) {
		t.Fatal("address mismatch")
	}
	// The signer keeps its own copy.
	//lint:ignore SA1019 secp256k1 keys are only reachable through D
	key.D.SetInt64(1)
	raw, err := s.SignDigest(context.Background(), common.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := SignatureFromBytes(raw)
	if got, _ := RecoverSigner(common.Hash{7}, sig); got != s.Address() {
		t.Fatal("signer affected by a change to the caller's key")
	}

	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*ecdsa.PrivateKey{
		"nil":     nil,
		"nil D":   {PublicKey: ecdsa.PublicKey{Curve: crypto.S256()}},
		"p256":    p256,
		"zero D":  {PublicKey: ecdsa.PublicKey{Curve: crypto.S256()}, D: new(big.Int)},
		"D = n":   {PublicKey: ecdsa.PublicKey{Curve: crypto.S256()}, D: new(big.Int).Set(crypto.S256().Params().N)},
		"D > 256": {PublicKey: ecdsa.PublicKey{Curve: crypto.S256()}, D: new(big.Int).Lsh(big.NewInt(1), 300)},
	} {
		if _, err := NewPrivateKeySignerFromECDSA(k); !errors.Is(err, ErrInvalidPrivateKey) {
			t.Errorf("%s: error = %v, want ErrInvalidPrivateKey", name, err)
		}
	}
}

func TestSignAuthorization(t *testing.T) {
	s, err := NewPrivateKeySigner(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := testAuthorization(s.Address())
	sig, err := SignAuthorization(ctx, s, testDomain, a)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := TransferWithAuthorizationDigest(testDomain.Separator(), a)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := RecoverSigner(digest, sig); err != nil || got != s.Address() {
		t.Fatalf("recovered %s (%v)", got, err)
	}
	// Equal to the generic EIP-712 digest of the same typed data.
	if want := referenceDigest(t, testDomain, a); digest != want {
		t.Fatalf("digest %s, apitypes %s", digest, want)
	}

	other := testAuthorization(common.Address{1})
	if _, err := SignAuthorization(ctx, s, testDomain, other); !errors.Is(err, ErrSignerMismatch) {
		t.Fatalf("foreign from: %v", err)
	}
	bad := testAuthorization(s.Address())
	bad.Value = big.NewInt(-1)
	if _, err := SignAuthorization(ctx, s, testDomain, bad); !errors.Is(err, ErrValueOutOfRange) {
		t.Fatalf("negative value: %v", err)
	}
	if _, err := SignAuthorization(ctx, nil, testDomain, a); !errors.Is(err, ErrSignerMismatch) {
		t.Fatalf("nil signer: %v", err)
	}
}

// fakeSigner wraps a key and tampers with its signatures.
type fakeSigner struct {
	key    *PrivateKeySigner
	addr   common.Address // claimed address
	tamper func([]byte) []byte
	err    error
}

func (f *fakeSigner) Address() common.Address { return f.addr }

func (f *fakeSigner) SignDigest(ctx context.Context, digest common.Hash) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	sig, err := f.key.SignDigest(ctx, digest)
	if err != nil {
		return nil, err
	}
	return f.tamper(sig), nil
}

// typedSigner records the typed data it was asked to sign.
type typedSigner struct {
	fakeSigner
	gotDomain Domain
	gotAuth   *Authorization
}

func (s *typedSigner) SignTransferAuthorization(ctx context.Context, d Domain, a *Authorization) ([]byte, error) {
	s.gotDomain, s.gotAuth = d, a
	digest, err := TransferWithAuthorizationDigest(d.Separator(), a)
	if err != nil {
		return nil, err
	}
	return s.key.SignDigest(ctx, digest)
}

func TestSignAuthorizationChecksSignerOutput(t *testing.T) {
	key, err := NewPrivateKeySigner(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewPrivateKeySignerFromECDSA(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := testAuthorization(key.Address())
	digest, _ := TransferWithAuthorizationDigest(testDomain.Separator(), a)

	// A key store that returns high-s signatures with v in {0,1}: fixed up.
	highS := &fakeSigner{key: key, addr: key.Address(), tamper: func(b []byte) []byte {
		s := new(big.Int).SetBytes(b[32:64])
		new(big.Int).Sub(crypto.S256().Params().N, s).FillBytes(b[32:64])
		b[64] = (b[64] - 27) ^ 1
		return b
	}}
	sig, err := SignAuthorization(ctx, highS, testDomain, a)
	if err != nil {
		t.Fatalf("high-s signer: %v", err)
	}
	if got, err := RecoverSigner(digest, sig); err != nil || got != key.Address() {
		t.Fatalf("normalised signature recovers %s (%v)", got, err)
	}
	// The same with v in {27, 28}.
	highS27 := &fakeSigner{key: key, addr: key.Address(), tamper: func(b []byte) []byte {
		b = highS.tamper(b)
		b[64] += 27
		return b
	}}
	sig27, err := SignAuthorization(ctx, highS27, testDomain, a)
	if err != nil || sig27 != sig {
		t.Fatalf("high-s signer with v in {27,28}: %v", err)
	}

	for name, tc := range map[string]struct {
		s    Signer
		want error
	}{
		"short":         {&fakeSigner{key: key, addr: key.Address(), tamper: func(b []byte) []byte { return b[:64] }}, ErrSignatureLength},
		"bad v":         {&fakeSigner{key: key, addr: key.Address(), tamper: func(b []byte) []byte { b[64] = 35; return b }}, ErrSignatureV},
		"flipped v":     {&fakeSigner{key: key, addr: key.Address(), tamper: func(b []byte) []byte { b[64] = 55 - b[64]; return b }}, ErrSignerMismatch},
		"wrong key":     {&fakeSigner{key: other, addr: key.Address(), tamper: func(b []byte) []byte { return b }}, ErrSignerMismatch},
		"signer failed": {&fakeSigner{key: key, addr: key.Address(), err: errors.New("kms down")}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := SignAuthorization(ctx, tc.s, testDomain, a)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}

	ts := &typedSigner{fakeSigner: fakeSigner{key: key, addr: key.Address()}}
	if _, err := SignAuthorization(ctx, ts, testDomain, a); err != nil {
		t.Fatal(err)
	}
	if ts.gotDomain != testDomain || ts.gotAuth != a {
		t.Fatal("AuthorizationSigner was not given the typed data")
	}
}
