package facilitator_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

// TestDiscoveryListing: prices in units only for known assets; the
// outlier rule needs 3 peers of the same type, network and asset, and a
// price above 100 times their median.
func TestDiscoveryListing(t *testing.T) {
	store, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f, err := facilitator.New(facilitator.Config{Store: store, Assets: func(n x402.Network, asset string) (facilitator.AssetInfo, bool) {
		return facilitator.AssetInfo{Symbol: "USDC", Decimals: 6}, n == "eip155:1" && asset == "0xusdc"
	}})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key, typ, network, asset, amount string) {
		t.Helper()
		accepts := fmt.Sprintf(`[{"scheme":"exact","network":%q,"amount":%q,"asset":%q,"payTo":"0xpay","maxTimeoutSeconds":60}]`, network, amount, asset)
		err := store.PutResource(t.Context(), &ledger.Resource{Key: key, URL: "https://api.test/" + key, Type: typ, Version: 2,
			Scheme: "exact", Network: network, Asset: asset, PayTo: "0xpay", Amount: amount,
			Accepts: []byte(accepts), Extensions: []byte(`{}`), UpdatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Two peers only on eip155:2: no flag whatever the ratio.
	put("a2", "http", "eip155:2", "0xusdc", "1")
	put("b2", "http", "eip155:2", "0xusdc", "1000000")
	// Four on eip155:1: the median is 10; 1001 is flagged, 1000 is not.
	put("a1", "http", "eip155:1", "0xusdc", "10")
	put("b1", "http", "eip155:1", "0xusdc", "10")
	put("c1", "http", "eip155:1", "0xusdc", "1000")
	put("d1", "http", "eip155:1", "0xusdc", "1001")
	// Another type is not a peer.
	put("m1", "mcp", "eip155:1", "0xusdc", "1000000")
	lr, err := f.DiscoveryResources(t.Context(), bazaar.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*bazaar.Metadata{}
	for _, it := range lr.Items {
		got[it.Resource[len("https://api.test/"):]] = it.Metadata
	}
	for key, want := range map[string]bool{"a2": false, "b2": false, "a1": false, "b1": false, "c1": false, "d1": true, "m1": false} {
		if got[key] == nil || got[key].Outlier != want {
			t.Errorf("%s: metadata %+v, want outlier %v", key, got[key], want)
		}
	}
	if p := got["a1"].Prices[0]; p.Units != "0.00001" || p.Symbol != "USDC" || p.Decimals != 6 {
		t.Errorf("a1 price %+v", p)
	}
	if p := got["a2"].Prices[0]; p.Units != "" || p.Symbol != "" || p.Amount != "1" {
		t.Errorf("a2 (unknown asset) price %+v", p)
	}
	if lr, err := f.DiscoveryResources(t.Context(), bazaar.ListParams{Limit: 5000}); err != nil || lr.Pagination.Limit != facilitator.MaxDiscoveryLimit {
		t.Errorf("limit 5000: %+v, %v", lr, err)
	}
	var xe *x402.Error
	if _, err := f.DiscoveryResources(t.Context(), bazaar.ListParams{Offset: -1}); !errors.As(err, &xe) {
		t.Errorf("offset -1: %v, want an *x402.Error", err)
	}
}

// BenchmarkDiscoveryResources lists a page of 100 of 2000 catalogued
// resources (10 peer groups), with prices and outlier flags.
func BenchmarkDiscoveryResources(b *testing.B) {
	store, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "ledger.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	f, err := facilitator.New(facilitator.Config{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		network := fmt.Sprintf("eip155:%d", i%10)
		accepts := fmt.Sprintf(`[{"scheme":"exact","network":%q,"amount":"%d","asset":"0xa","payTo":"0xpay","maxTimeoutSeconds":60}]`, network, 1000+i)
		if err := store.PutResource(b.Context(), &ledger.Resource{Key: fmt.Sprint(i), URL: fmt.Sprintf("https://api.test/%d", i), Type: "http", Version: 2,
			Scheme: "exact", Network: network, Asset: "0xa", PayTo: "0xpay", Amount: fmt.Sprint(1000 + i),
			Accepts: []byte(accepts), Extensions: []byte(`{}`), UpdatedAt: time.Unix(int64(i), 0)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.DiscoveryResources(b.Context(), bazaar.ListParams{Limit: 100, Offset: 500}); err != nil {
			b.Fatal(err)
		}
	}
}
