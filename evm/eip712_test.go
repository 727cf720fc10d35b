package evm

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// referenceTypedData builds the generic go-ethereum typed data for d and a.
func referenceTypedData(d Domain, a *Authorization) apitypes.TypedData {
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {
				{Name: "name", Type: "string"},
				{Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"},
				{Name: "verifyingContract", Type: "address"},
			},
			"TransferWithAuthorization": {
				{Name: "from", Type: "address"},
				{Name: "to", Type: "address"},
				{Name: "value", Type: "uint256"},
				{Name: "validAfter", Type: "uint256"},
				{Name: "validBefore", Type: "uint256"},
				{Name: "nonce", Type: "bytes32"},
			},
		},
		PrimaryType: "TransferWithAuthorization",
		Domain: apitypes.TypedDataDomain{
			Name:              d.Name,
			Version:           d.Version,
			ChainId:           (*math.HexOrDecimal256)(new(big.Int).SetUint64(d.ChainID)),
			VerifyingContract: d.VerifyingContract.Hex(),
		},
		Message: apitypes.TypedDataMessage{
			"from":        a.From.Hex(),
			"to":          a.To.Hex(),
			"value":       a.Value.String(),
			"validAfter":  (*math.HexOrDecimal256)(a.ValidAfter),
			"validBefore": new(big.Int).Set(a.ValidBefore),
			"nonce":       hexutil.Encode(a.Nonce[:]),
		},
	}
}

// referenceSeparator hashes the domain with apitypes. It passes the domain
// map itself because apitypes' TypedDataDomain.Map drops empty strings.
func referenceSeparator(t testing.TB, d Domain) common.Hash {
	t.Helper()
	td := referenceTypedData(d, &Authorization{Value: new(big.Int), ValidAfter: new(big.Int), ValidBefore: new(big.Int)})
	h, err := td.HashStruct("EIP712Domain", apitypes.TypedDataMessage{
		"name":              d.Name,
		"version":           d.Version,
		"chainId":           td.Domain.ChainId,
		"verifyingContract": td.Domain.VerifyingContract,
	})
	if err != nil {
		t.Fatalf("apitypes domain hash: %v", err)
	}
	return common.BytesToHash(h)
}

// referenceDigest is the apitypes digest: TypedDataAndHash when the domain
// has a name and version (apitypes cannot express empty ones), else the
// same computation from HashStruct.
func referenceDigest(t testing.TB, d Domain, a *Authorization) common.Hash {
	t.Helper()
	td := referenceTypedData(d, a)
	if d.Name != "" && d.Version != "" {
		h, _, err := apitypes.TypedDataAndHash(td)
		if err != nil {
			t.Fatalf("apitypes.TypedDataAndHash: %v", err)
		}
		return common.BytesToHash(h)
	}
	sh, err := td.HashStruct(td.PrimaryType, td.Message)
	if err != nil {
		t.Fatalf("apitypes HashStruct: %v", err)
	}
	ds := referenceSeparator(t, d)
	return crypto.Keccak256Hash([]byte{0x19, 0x01}, ds[:], sh)
}

func randUint256(r *rand.Rand) *big.Int {
	switch r.IntN(8) {
	case 0:
		return new(big.Int)
	case 1:
		return new(big.Int).Set(maxUint256)
	}
	var b [32]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	v := new(big.Int).SetBytes(b[:])
	return v.Rsh(v, uint(r.IntN(257)))
}

func randAddress(r *rand.Rand) (a common.Address) {
	for i := range a {
		a[i] = byte(r.Uint32())
	}
	return a
}

func randString(r *rand.Rand) string {
	pieces := []string{"USD Coin", "USDC", "2", "1", "", "Ünïcødé", "日本円ステーブル", "🪙💵", "\x00", "a\"b\\c", " ", "EURC"}
	var sb strings.Builder
	for range r.IntN(4) {
		sb.WriteString(pieces[r.IntN(len(pieces))])
	}
	if r.IntN(10) == 0 {
		sb.WriteString(strings.Repeat("long-name-", 100+r.IntN(100)))
	}
	return sb.String()
}

func randAuthorization(r *rand.Rand) *Authorization {
	a := &Authorization{
		From:        randAddress(r),
		To:          randAddress(r),
		Value:       randUint256(r),
		ValidAfter:  randUint256(r),
		ValidBefore: randUint256(r),
	}
	for i := range a.Nonce {
		a.Nonce[i] = byte(r.Uint32())
	}
	return a
}

func randDomain(r *rand.Rand) Domain {
	ids := []uint64{0, 1, 8453, 84532, 43114, 1<<64 - 1}
	id := r.Uint64()
	if r.IntN(2) == 0 {
		id = ids[r.IntN(len(ids))]
	}
	return Domain{Name: randString(r), Version: randString(r), ChainID: id, VerifyingContract: randAddress(r)}
}

func TestTypeHashes(t *testing.T) {
	// Well-known values, e.g. FiatTokenV2's TRANSFER_WITH_AUTHORIZATION_TYPEHASH.
	if want := common.HexToHash("0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267"); transferWithAuthorizationTypeHash != want {
		t.Errorf("TransferWithAuthorization type hash = %s, want %s", transferWithAuthorizationTypeHash, want)
	}
	if want := common.HexToHash("0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"); eip712DomainTypeHash != want {
		t.Errorf("EIP712Domain type hash = %s, want %s", eip712DomainTypeHash, want)
	}
	td := referenceTypedData(Domain{}, &Authorization{Value: new(big.Int), ValidAfter: new(big.Int), ValidBefore: new(big.Int)})
	if got := common.BytesToHash(td.TypeHash("TransferWithAuthorization")); got != transferWithAuthorizationTypeHash {
		t.Errorf("apitypes type hash = %s", got)
	}
	if got := common.BytesToHash(td.TypeHash("EIP712Domain")); got != eip712DomainTypeHash {
		t.Errorf("apitypes domain type hash = %s", got)
	}
}

func TestDigestMatchesAPITypes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 2000
	if testing.Short() {
		n = 200
	}
	for i := range n {
		d, a := randDomain(r), randAuthorization(r)
		if i%3 == 0 { // make sure many cases go through TypedDataAndHash itself
			if d.Name == "" {
				d.Name = "USD Coin"
			}
			if d.Version == "" {
				d.Version = "2"
			}
		}
		ds := d.Separator()
		if want := referenceSeparator(t, d); ds != want {
			t.Fatalf("case %d: separator %s, apitypes %s (domain %+v)", i, ds, want, d)
		}
		got, err := TransferWithAuthorizationDigest(ds, a)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if want := referenceDigest(t, d, a); got != want {
			t.Fatalf("case %d: digest %s, apitypes %s", i, got, want)
		}
	}
}

func TestDigestEdgeCases(t *testing.T) {
	usdc := common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")
	zero := func() *big.Int { return new(big.Int) }
	cases := []struct {
		name string
		d    Domain
		a    *Authorization
	}{
		{"zero values", Domain{Name: "x", Version: "y"}, &Authorization{Value: zero(), ValidAfter: zero(), ValidBefore: zero()}},
		{"empty name and version", Domain{ChainID: 8453, VerifyingContract: usdc}, &Authorization{Value: big.NewInt(1), ValidAfter: zero(), ValidBefore: big.NewInt(1 << 40)}},
		{"max uint256", Domain{Name: "USD Coin", Version: "2", ChainID: 1<<64 - 1, VerifyingContract: usdc}, &Authorization{
			From: common.HexToAddress("0xffffffffffffffffffffffffffffffffffffffff"), To: common.HexToAddress("0xffffffffffffffffffffffffffffffffffffffff"),
			Value: maxUint256, ValidAfter: maxUint256, ValidBefore: maxUint256, Nonce: [32]byte(common.MaxHash)}},
		{"unicode", Domain{Name: "Ünïcødé 日本 🪙", Version: "β-2", ChainID: 84532, VerifyingContract: usdc}, &Authorization{Value: big.NewInt(10000), ValidAfter: zero(), ValidBefore: big.NewInt(1_900_000_000)}},
		{"long name", Domain{Name: strings.Repeat("n", 10_000), Version: strings.Repeat("v", 300), ChainID: 1, VerifyingContract: usdc}, &Authorization{Value: big.NewInt(1), ValidAfter: big.NewInt(2), ValidBefore: big.NewInt(3)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := c.d.Separator()
			if want := referenceSeparator(t, c.d); ds != want {
				t.Fatalf("separator %s, apitypes %s", ds, want)
			}
			got, err := TransferWithAuthorizationDigest(ds, c.a)
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceDigest(t, c.d, c.a); got != want {
				t.Fatalf("digest %s, apitypes %s", got, want)
			}
			sh, err := c.a.StructHash()
			if err != nil {
				t.Fatal(err)
			}
			if want := crypto.Keccak256Hash([]byte{0x19, 0x01}, ds[:], sh[:]); got != want {
				t.Fatalf("digest %s, from StructHash %s", got, want)
			}
		})
	}
}

func TestDigestRejectsOutOfRange(t *testing.T) {
	ok := func() *Authorization {
		return &Authorization{Value: big.NewInt(1), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(2)}
	}
	tooBig := new(big.Int).Lsh(big.NewInt(1), 256)
	cases := map[string]*Authorization{
		"nil authorization": nil,
		"nil value":         func() *Authorization { a := ok(); a.Value = nil; return a }(),
		"nil validAfter":    func() *Authorization { a := ok(); a.ValidAfter = nil; return a }(),
		"nil validBefore":   func() *Authorization { a := ok(); a.ValidBefore = nil; return a }(),
		"negative value":    func() *Authorization { a := ok(); a.Value = big.NewInt(-1); return a }(),
		"2^256 value":       func() *Authorization { a := ok(); a.Value = tooBig; return a }(),
		"2^256 validAfter":  func() *Authorization { a := ok(); a.ValidAfter = tooBig; return a }(),
		"neg validBefore":   func() *Authorization { a := ok(); a.ValidBefore = big.NewInt(-5); return a }(),
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := TransferWithAuthorizationDigest(common.Hash{}, a); !errors.Is(err, ErrValueOutOfRange) {
				t.Fatalf("digest error = %v, want ErrValueOutOfRange", err)
			}
			if _, err := a.StructHash(); !errors.Is(err, ErrValueOutOfRange) {
				t.Fatalf("StructHash error = %v, want ErrValueOutOfRange", err)
			}
		})
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("valid authorization: %v", err)
	}
}

func TestDigestDoesNotModifyInput(t *testing.T) {
	a := &Authorization{Value: big.NewInt(7), ValidAfter: big.NewInt(8), ValidBefore: big.NewInt(9)}
	if _, err := TransferWithAuthorizationDigest(common.Hash{1}, a); err != nil {
		t.Fatal(err)
	}
	if a.Value.Int64() != 7 || a.ValidAfter.Int64() != 8 || a.ValidBefore.Int64() != 9 {
		t.Fatalf("input modified: %+v", a)
	}
}

func TestDigestAllocations(t *testing.T) {
	a := &Authorization{Value: big.NewInt(10000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1_900_000_000)}
	ds := Domain{Name: "USD Coin", Version: "2", ChainID: 8453}.Separator()
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := TransferWithAuthorizationDigest(ds, a); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("TransferWithAuthorizationDigest: %v allocations, want ≤ 2", allocs)
	}
}

func TestDomainCache(t *testing.T) {
	var zero DomainCache // the zero value works
	d := Domain{Name: "USD Coin", Version: "2", ChainID: 8453, VerifyingContract: common.HexToAddress("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")}
	if got, want := zero.Separator(d), d.Separator(); got != want {
		t.Fatalf("cached %s, want %s", got, want)
	}
	if zero.Len() != 1 {
		t.Fatalf("Len = %d", zero.Len())
	}

	c := NewDomainCache(4)
	for i := range 20 {
		di := d
		di.ChainID = uint64(i)
		if got, want := c.Separator(di), di.Separator(); got != want {
			t.Fatalf("domain %d: cached %s, want %s", i, got, want)
		}
		// Every field is part of the key.
		for _, dj := range []Domain{
			{Name: di.Name + "x", Version: di.Version, ChainID: di.ChainID, VerifyingContract: di.VerifyingContract},
			{Name: di.Name, Version: di.Version + "x", ChainID: di.ChainID, VerifyingContract: di.VerifyingContract},
			{Name: di.Name, Version: di.Version, ChainID: di.ChainID, VerifyingContract: common.Address{1}},
		} {
			if got, want := c.Separator(dj), dj.Separator(); got != want {
				t.Fatalf("domain %+v: cached %s, want %s", dj, got, want)
			}
		}
		if c.Len() > 4 {
			t.Fatalf("cache grew to %d entries, bound 4", c.Len())
		}
	}

	long := d
	long.Name = strings.Repeat("x", maxCachedDomainString+1)
	before := c.Len()
	if got, want := c.Separator(long), long.Separator(); got != want {
		t.Fatal("long domain separator mismatch")
	}
	if c.Len() > before {
		t.Fatal("a domain with an over-long name was cached")
	}

	hit := NewDomainCache(0)
	hit.Separator(d)
	if allocs := testing.AllocsPerRun(100, func() { hit.Separator(d) }); allocs != 0 {
		t.Fatalf("cache hit allocates %v times", allocs)
	}
}

func TestDomainCacheConcurrent(t *testing.T) {
	c := NewDomainCache(8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				d := Domain{Name: fmt.Sprint("token", (g+i)%12), Version: "2", ChainID: uint64(i % 3)}
				if got, want := c.Separator(d), d.Separator(); got != want {
					t.Errorf("concurrent mismatch for %+v", d)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 8 {
		t.Fatalf("cache grew to %d", c.Len())
	}
}
