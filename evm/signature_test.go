package evm

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// testKey is a fixed, well-known test key (never use it for real funds).
const testKeyHex = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.HexToECDSA(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signRaw(t testing.TB, digest common.Hash) []byte {
	t.Helper()
	sig, err := crypto.Sign(digest[:], mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return sig // v in {0, 1}
}

func TestSecp256k1Constants(t *testing.T) {
	n := crypto.S256().Params().N
	if got := new(big.Int).SetBytes([]byte(secp256k1N)); got.Cmp(n) != 0 {
		t.Fatalf("secp256k1N = %x, want %x", got, n)
	}
	half := new(big.Int).Rsh(n, 1)
	if got := new(big.Int).SetBytes([]byte(secp256k1HalfN)); got.Cmp(half) != 0 {
		t.Fatalf("secp256k1HalfN = %x, want %x", got, half)
	}
	if len(zero32) != 32 || strings.Trim(zero32, "\x00") != "" {
		t.Fatal("zero32 is not 32 zero bytes")
	}
}

func TestRecoverSignerMatchesCryptoSign(t *testing.T) {
	key := mustKey(t)
	want := crypto.PubkeyToAddress(key.PublicKey)
	for i := range 50 {
		digest := crypto.Keccak256Hash([]byte{byte(i)})
		raw := signRaw(t, digest)

		// v = 0/1 from crypto.Sign, v = 27/28 as wallets send it.
		for _, v := range []byte{raw[64], raw[64] + 27} {
			b := append([]byte(nil), raw...)
			b[64] = v
			for _, s := range []string{"0x" + hex.EncodeToString(b), hex.EncodeToString(b), "0X" + strings.ToUpper(hex.EncodeToString(b))} {
				sig, err := ParseSignature(s)
				if err != nil {
					t.Fatalf("ParseSignature(%s): %v", s, err)
				}
				if sig.V() != raw[64]+27 {
					t.Fatalf("v = %d, want %d", sig.V(), raw[64]+27)
				}
				got, err := RecoverSigner(digest, sig)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("recovered %s, want %s", got, want)
				}
			}
		}
		// Same address as go-ethereum's SigToPub.
		pub, err := crypto.SigToPub(digest[:], raw)
		if err != nil {
			t.Fatal(err)
		}
		if crypto.PubkeyToAddress(*pub) != want {
			t.Fatal("SigToPub disagrees")
		}
	}
}

func TestRecoverSignerWrongDigest(t *testing.T) {
	digest := crypto.Keccak256Hash([]byte("a"))
	sig, err := SignatureFromBytes(signRaw(t, digest))
	if err != nil {
		t.Fatal(err)
	}
	got, err := RecoverSigner(crypto.Keccak256Hash([]byte("b")), sig)
	if err == nil && got == crypto.PubkeyToAddress(mustKey(t).PublicKey) {
		t.Fatal("signature over another digest recovered the signer")
	}
}

func TestSignatureRejections(t *testing.T) {
	digest := crypto.Keccak256Hash([]byte("x402"))
	good := signRaw(t, digest)
	mod := func(f func(b []byte)) string {
		b := append([]byte(nil), good...)
		f(b)
		return "0x" + hex.EncodeToString(b)
	}
	n := []byte(secp256k1N)
	highS := func(b []byte) { // s' = n - s, the malleated twin
		s := new(big.Int).SetBytes(b[32:64])
		new(big.Int).Sub(new(big.Int).SetBytes(n), s).FillBytes(b[32:64])
		b[64] ^= 1
	}
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrSignatureLength},
		{"just prefix", "0x", ErrSignatureLength},
		{"64 bytes", "0x" + hex.EncodeToString(good[:64]), ErrSignatureLength},
		{"66 bytes", "0x" + hex.EncodeToString(append(append([]byte(nil), good...), 0)), ErrSignatureLength},
		{"odd length", "0x" + hex.EncodeToString(good)[:129], ErrSignatureLength},
		{"erc-6492 wrapped", "0x" + strings.Repeat("ab", 300), ErrSignatureLength},
		{"non-hex", "0x" + strings.Repeat("zz", 65), ErrSignatureEncoding},
		{"non-hex tail", "0x" + hex.EncodeToString(good)[:128] + "g1", ErrSignatureEncoding},
		{"space", " " + hex.EncodeToString(good)[:129], ErrSignatureEncoding},
		{"v=2", mod(func(b []byte) { b[64] = 2 }), ErrSignatureV},
		{"v=26", mod(func(b []byte) { b[64] = 26 }), ErrSignatureV},
		{"v=29", mod(func(b []byte) { b[64] = 29 }), ErrSignatureV},
		{"v=37 (eip-155)", mod(func(b []byte) { b[64] = 37 }), ErrSignatureV},
		{"r=0", mod(func(b []byte) { clear(b[0:32]) }), ErrSignatureZeroR},
		{"s=0", mod(func(b []byte) { clear(b[32:64]) }), ErrSignatureZeroS},
		{"r=n", mod(func(b []byte) { copy(b[0:32], n) }), ErrSignatureROutOfRange},
		{"r=2^256-1", mod(func(b []byte) {
			for i := range 32 {
				b[i] = 0xff
			}
		}), ErrSignatureROutOfRange},
		{"s=n", mod(func(b []byte) { copy(b[32:64], n) }), ErrSignatureSOutOfRange},
		{"s=2^256-1", mod(func(b []byte) {
			for i := 32; i < 64; i++ {
				b[i] = 0xff
			}
		}), ErrSignatureSOutOfRange},
		{"high s", mod(highS), ErrSignatureHighS},
		{"s=n/2+1", mod(func(b []byte) {
			new(big.Int).Add(new(big.Int).SetBytes([]byte(secp256k1HalfN)), big.NewInt(1)).FillBytes(b[32:64])
		}), ErrSignatureHighS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSignature(c.in)
			if !errors.Is(err, c.want) || !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("ParseSignature error = %v, want %v and ErrInvalidSignature", err, c.want)
			}
			if raw, derr := hex.DecodeString(strings.TrimPrefix(c.in, "0x")); derr == nil {
				if _, err := SignatureFromBytes(raw); !errors.Is(err, c.want) {
					t.Fatalf("SignatureFromBytes error = %v, want %v", err, c.want)
				}
				if len(raw) == SignatureLength && c.want != ErrSignatureV {
					// RecoverSigner re-checks a hand-built Signature.
					sig := Signature(raw)
					sig[64] = 27
					if _, err := RecoverSigner(digest, sig); !errors.Is(err, c.want) {
						t.Fatalf("RecoverSigner error = %v, want %v", err, c.want)
					}
				}
			}
		})
	}

	// s = n/2 exactly is the largest accepted value.
	b := append([]byte(nil), good...)
	copy(b[32:64], secp256k1HalfN)
	if _, err := SignatureFromBytes(b); err != nil {
		t.Fatalf("s = n/2 rejected: %v", err)
	}
}

func TestRecoverSignerRejectsRawV(t *testing.T) {
	digest := crypto.Keccak256Hash([]byte("v"))
	sig := Signature(signRaw(t, digest)) // v in {0,1}: not canonical
	if _, err := RecoverSigner(digest, sig); !errors.Is(err, ErrSignatureV) {
		t.Fatalf("error = %v, want ErrSignatureV", err)
	}
}

func TestRecoverSignerNoPoint(t *testing.T) {
	// r = 5 is not the x coordinate of a point on secp256k1 (x^3+7 = 132 is
	// not a square mod p), so nothing can be recovered.
	var sig Signature
	sig[31] = 5
	sig[63] = 1
	sig[64] = 27
	if _, err := RecoverSigner(common.Hash{1}, sig); !errors.Is(err, ErrSignatureRecovery) || !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("error = %v, want ErrSignatureRecovery", err)
	}
}

func TestSignatureEncoding(t *testing.T) {
	digest := crypto.Keccak256Hash([]byte("enc"))
	sig, err := SignatureFromBytes(signRaw(t, digest))
	if err != nil {
		t.Fatal(err)
	}
	h := sig.Hex()
	if len(h) != 132 || !strings.HasPrefix(h, "0x") || strings.ToLower(h) != h {
		t.Fatalf("Hex = %q", h)
	}
	if sig.String() != h {
		t.Fatal("String differs from Hex")
	}
	back, err := ParseSignature(h)
	if err != nil || back != sig {
		t.Fatalf("round trip: %v", err)
	}
	r, s := sig.R(), sig.S()
	if string(r[:]) != string(sig[:32]) || string(s[:]) != string(sig[32:64]) || sig.V() != sig[64] {
		t.Fatal("R/S/V accessors")
	}
	b := sig.Bytes()
	b[0] ^= 0xff
	if sig[0] == b[0] {
		t.Fatal("Bytes does not copy")
	}

	js, err := json.Marshal(struct{ Signature Signature }{sig})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Signature":"` + h + `"}`; string(js) != want {
		t.Fatalf("json = %s, want %s", js, want)
	}
	var out struct{ Signature Signature }
	if err := json.Unmarshal(js, &out); err != nil || out.Signature != sig {
		t.Fatalf("json round trip: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"Signature":"0x1234"}`), &out); !errors.Is(err, ErrSignatureLength) {
		t.Fatalf("json bad signature error = %v", err)
	}
}

func TestParseSignatureAllocations(t *testing.T) {
	digest := crypto.Keccak256Hash([]byte("alloc"))
	s := "0x" + hex.EncodeToString(signRaw(t, digest))
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseSignature(s); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("ParseSignature allocates %v times", allocs)
	}
}
