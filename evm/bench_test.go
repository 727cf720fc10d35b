package evm

import (
	"context"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// Run with: go test -run '^$' -bench . -benchmem ./evm/

var (
	benchSinkHash common.Hash
	benchSinkAddr common.Address
	benchSinkSig  Signature
)

func benchAuthorization() (Domain, *Authorization) {
	return Domain{
			Name:              "USD Coin",
			Version:           "2",
			ChainID:           8453,
			VerifyingContract: common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
		}, &Authorization{
			From:        common.HexToAddress("0x857b06519E91e3A54538791bDbb0E22373e36b66"),
			To:          common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"),
			Value:       big.NewInt(10000),
			ValidAfter:  big.NewInt(1740672089),
			ValidBefore: big.NewInt(1740672154),
			Nonce:       [32]byte(common.FromHex("0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480")),
		}
}

// BenchmarkDigestSpecialised is TransferWithAuthorizationDigest with a
// precomputed domain separator, as a facilitator computes it per request.
func BenchmarkDigestSpecialised(b *testing.B) {
	d, a := benchAuthorization()
	ds := d.Separator()
	b.ReportAllocs()
	for b.Loop() {
		h, err := TransferWithAuthorizationDigest(ds, a)
		if err != nil {
			b.Fatal(err)
		}
		benchSinkHash = h
	}
}

// BenchmarkDigestAPITypes is go-ethereum's generic EIP-712 hashing of the
// same typed data (it hashes the domain every time).
func BenchmarkDigestAPITypes(b *testing.B) {
	d, a := benchAuthorization()
	td := referenceTypedData(d, a)
	b.ReportAllocs()
	for b.Loop() {
		h, _, err := apitypes.TypedDataAndHash(td)
		if err != nil {
			b.Fatal(err)
		}
		benchSinkHash = common.Hash(h)
	}
}

// BenchmarkDigestSpecialisedWithDomain hashes the domain as well, for a like
// for like comparison with BenchmarkDigestAPITypes.
func BenchmarkDigestSpecialisedWithDomain(b *testing.B) {
	d, a := benchAuthorization()
	b.ReportAllocs()
	for b.Loop() {
		h, err := TransferWithAuthorizationDigest(d.Separator(), a)
		if err != nil {
			b.Fatal(err)
		}
		benchSinkHash = h
	}
}

func BenchmarkDomainSeparator(b *testing.B) {
	d, _ := benchAuthorization()
	b.ReportAllocs()
	for b.Loop() {
		benchSinkHash = d.Separator()
	}
}

func BenchmarkDomainCacheHit(b *testing.B) {
	d, _ := benchAuthorization()
	c := NewDomainCache(0)
	c.Separator(d)
	b.ReportAllocs()
	for b.Loop() {
		benchSinkHash = c.Separator(d)
	}
}

func BenchmarkDomainCacheHitParallel(b *testing.B) {
	d, _ := benchAuthorization()
	c := NewDomainCache(0)
	c.Separator(d)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var h common.Hash
		for pb.Next() {
			h = c.Separator(d)
		}
		_ = h
	})
}

func benchSignature(b *testing.B) (common.Hash, string) {
	d, a := benchAuthorization()
	s, err := NewPrivateKeySigner(testKeyHex)
	if err != nil {
		b.Fatal(err)
	}
	a.From = s.Address()
	digest, err := TransferWithAuthorizationDigest(d.Separator(), a)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := SignAuthorization(context.Background(), s, d, a)
	if err != nil {
		b.Fatal(err)
	}
	return digest, sig.Hex()
}

func BenchmarkParseSignature(b *testing.B) {
	_, hexSig := benchSignature(b)
	b.ReportAllocs()
	for b.Loop() {
		sig, err := ParseSignature(hexSig)
		if err != nil {
			b.Fatal(err)
		}
		benchSinkSig = sig
	}
}

func BenchmarkRecoverSigner(b *testing.B) {
	digest, hexSig := benchSignature(b)
	sig, err := ParseSignature(hexSig)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		addr, err := RecoverSigner(digest, sig)
		if err != nil {
			b.Fatal(err)
		}
		benchSinkAddr = addr
	}
}

func BenchmarkParseAndRecover(b *testing.B) {
	digest, hexSig := benchSignature(b)
	b.ReportAllocs()
	for b.Loop() {
		sig, err := ParseSignature(hexSig)
		if err != nil {
			b.Fatal(err)
		}
		addr, err := RecoverSigner(digest, sig)
		if err != nil {
			b.Fatal(err)
		}
		benchSinkAddr = addr
	}
}

// BenchmarkVerifyAuthorization is the whole per-payment signature check a
// facilitator does: cached domain separator, digest, parse, recover.
func BenchmarkVerifyAuthorization(b *testing.B) {
	_, hexSig := benchSignature(b)
	d, a := benchAuthorization()
	s, _ := NewPrivateKeySigner(testKeyHex)
	a.From = s.Address()
	c := NewDomainCache(0)
	b.ReportAllocs()
	for b.Loop() {
		digest, err := TransferWithAuthorizationDigest(c.Separator(d), a)
		if err != nil {
			b.Fatal(err)
		}
		sig, err := ParseSignature(hexSig)
		if err != nil {
			b.Fatal(err)
		}
		addr, err := RecoverSigner(digest, sig)
		if err != nil || addr != a.From {
			b.Fatal("recovery failed", err)
		}
		benchSinkAddr = addr
	}
}
