package permit2_test

import (
	"context"
	"encoding/json"
	"math/big"
	"os"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// testKey is the vectors' fixed test key (never funded anywhere).
const testKey = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

// vectors is testdata/vectors.json, produced by the official packages with
// interop/js/permit2-vectors.mjs.
type vectors struct {
	Owner       common.Address `json:"owner"`
	ChainID     uint64         `json:"chainId"`
	Token       common.Address `json:"token"`
	PayTo       common.Address `json:"payTo"`
	Facilitator common.Address `json:"facilitator"`
	Amount      string         `json:"amount"`
	Nonce       string         `json:"nonce"`
	Deadline    string         `json:"deadline"`
	Exact       permitVector   `json:"exact"`
	Upto        permitVector   `json:"upto"`
	EIP2612     struct {
		Digest    common.Hash   `json:"digest"`
		Signature hexutil.Bytes `json:"signature"`
		Nonce     string        `json:"nonce"`
		Value     string        `json:"value"`
		Deadline  string        `json:"deadline"`
	} `json:"eip2612"`
	Calldata map[string]hexutil.Bytes `json:"calldata"`
	Exact2   x402.Object              `json:"exactPayload"`
	Upto2    x402.Object              `json:"uptoPayload"`
}

type permitVector struct {
	Spender common.Address `json:"spender"`
	Witness struct {
		To          common.Address `json:"to"`
		Facilitator common.Address `json:"facilitator"`
		ValidAfter  string         `json:"validAfter"`
	} `json:"witness"`
	Digest    common.Hash   `json:"digest"`
	Signature hexutil.Bytes `json:"signature"`
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func dec(t testing.TB, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad decimal %q", s)
	}
	return n
}

func (v *vectors) permit(t testing.TB, kind permit2.Kind) *permit2.Permit {
	p := &permit2.Permit{Token: v.Token, Amount: dec(t, v.Amount), Nonce: dec(t, v.Nonce), Deadline: dec(t, v.Deadline)}
	switch kind {
	case permit2.KindExact:
		p.Spender = v.Exact.Spender
		p.Witness = permit2.ExactWitness{To: v.Exact.Witness.To, ValidAfter: dec(t, v.Exact.Witness.ValidAfter)}
	case permit2.KindUpto:
		p.Spender = v.Upto.Spender
		p.Witness = permit2.UptoWitness{To: v.Upto.Witness.To, Facilitator: v.Upto.Witness.Facilitator, ValidAfter: dec(t, v.Upto.Witness.ValidAfter)}
	}
	return p
}

func testSigner(t testing.TB) *evm.PrivateKeySigner {
	t.Helper()
	s, err := evm.NewPrivateKeySigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGoldenPermitDigests: go402 computes the digests and signatures the
// official viem/@x402/evm code computes for the same messages.
func TestGoldenPermitDigests(t *testing.T) {
	v := loadVectors(t)
	s := testSigner(t)
	if s.Address() != v.Owner {
		t.Fatalf("test key is %s, vectors say %s", s.Address(), v.Owner)
	}
	for _, tc := range []struct {
		name string
		kind permit2.Kind
		want permitVector
	}{{"exact", permit2.KindExact, v.Exact}, {"upto", permit2.KindUpto, v.Upto}} {
		t.Run(tc.name, func(t *testing.T) {
			p := v.permit(t, tc.kind)
			d, err := p.Digest(v.ChainID)
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.want.Digest {
				t.Fatalf("digest %s, official %s", d, tc.want.Digest)
			}
			sig, err := permit2.Sign(context.Background(), s, v.ChainID, p)
			if err != nil {
				t.Fatal(err)
			}
			if hexutil.Encode(sig[:]) != hexutil.Encode(tc.want.Signature) {
				t.Fatalf("signature %x, official %x", sig, tc.want.Signature)
			}
			got, err := permit2.Recover(d, tc.want.Signature)
			if err != nil || got != v.Owner {
				t.Fatalf("recover = %s, %v; want %s", got, err, v.Owner)
			}
		})
	}
}

func TestGoldenEIP2612Digest(t *testing.T) {
	v := loadVectors(t)
	p := &permit2.EIP2612Permit{Owner: v.Owner, Spender: permit2.Address(), Value: dec(t, v.EIP2612.Value), Nonce: dec(t, v.EIP2612.Nonce), Deadline: dec(t, v.EIP2612.Deadline)}
	d, err := p.Digest(permit2.TokenDomainSeparator("USDC", "2", v.ChainID, v.Token))
	if err != nil {
		t.Fatal(err)
	}
	if d != v.EIP2612.Digest {
		t.Fatalf("digest %s, official %s", d, v.EIP2612.Digest)
	}
	sig, err := permit2.SignDigest(context.Background(), testSigner(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if hexutil.Encode(sig[:]) != hexutil.Encode(v.EIP2612.Signature) {
		t.Fatalf("signature %x, official %x", sig, v.EIP2612.Signature)
	}
}

// TestGoldenCalldata: PackSettle produces the official ABI encoding of the
// four proxy calls.
func TestGoldenCalldata(t *testing.T) {
	v := loadVectors(t)
	sponsor := &permit2.GasSponsoring{
		Asset:  v.Token,
		Permit: permit2.EIP2612Permit{Owner: v.Owner, Spender: permit2.Address(), Value: dec(t, v.EIP2612.Value), Nonce: dec(t, v.EIP2612.Nonce), Deadline: dec(t, v.EIP2612.Deadline)},
	}
	copy(sponsor.Signature[:], v.EIP2612.Signature)
	for _, tc := range []struct {
		name    string
		kind    permit2.Kind
		sig     []byte
		sponsor *permit2.GasSponsoring
	}{
		{"exactSettle", permit2.KindExact, v.Exact.Signature, nil},
		{"exactSettleWithPermit", permit2.KindExact, v.Exact.Signature, sponsor},
		{"uptoSettle", permit2.KindUpto, v.Upto.Signature, nil},
		{"uptoSettleWithPermit", permit2.KindUpto, v.Upto.Signature, sponsor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, ok := v.Calldata[tc.name]
			if !ok {
				t.Fatalf("no vector %s", tc.name)
			}
			got, err := permit2.PackSettle(&permit2.Settlement{Owner: v.Owner, Permit: v.permit(t, tc.kind), Signature: tc.sig, Sponsor: tc.sponsor, Amount: big.NewInt(1000)})
			if err != nil {
				t.Fatal(err)
			}
			if hexutil.Encode(got) != hexutil.Encode(want) {
				t.Fatalf("calldata\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestOfficialPayloadsParse: a payload made by each official client parses
// strictly and its signature recovers to the payer.
func TestOfficialPayloadsParse(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range []struct {
		name    string
		kind    permit2.Kind
		o       x402.Object
		spender common.Address
	}{{"exact", permit2.KindExact, v.Exact2, permit2.ExactProxy()}, {"upto", permit2.KindUpto, v.Upto2, permit2.UptoProxy()}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := permit2.ParsePayload(tc.o, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if s.From != v.Owner || s.Permit.Spender != tc.spender || s.Permit.Token != v.Token {
				t.Fatalf("parsed %+v", s)
			}
			d, err := s.Permit.Digest(v.ChainID)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := permit2.Recover(d, s.Signature); err != nil || got != v.Owner {
				t.Fatalf("recover = %s, %v", got, err)
			}
			// Encode(Parse(x)) is the official wire form again.
			back, err := permit2.Encode(s.From, &s.Permit, s.Signature)
			if err != nil {
				t.Fatal(err)
			}
			o, err := x402.NewObject(back)
			if err != nil {
				t.Fatal(err)
			}
			if !o.Equal(tc.o) {
				t.Fatalf("round trip\n got %s\nwant %s", o, tc.o)
			}
		})
	}
}
