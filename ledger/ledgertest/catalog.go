package ledgertest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

// RunCatalog checks a [ledger.Catalog]: open must return a new, empty,
// migrated store that implements it.
func RunCatalog(t *testing.T, open func(t *testing.T) ledger.Store) {
	t.Run("PutReplaces", func(t *testing.T) {
		c := catalogOf(t, open(t))
		ctx := testContext(t)
		r := newResource("a", "http", "eip155:1", "100", time.Unix(1000, 0))
		if err := c.PutResource(ctx, r); err != nil {
			t.Fatal(err)
		}
		r2 := *r
		r2.Amount, r2.Description, r2.Accepts, r2.UpdatedAt = "200", "second", []byte(`[{"n":2}]`), time.Unix(2000, 0)
		if err := c.PutResource(ctx, &r2); err != nil {
			t.Fatal(err)
		}
		page, total, err := c.Resources(ctx, ledger.ResourceFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || len(page) != 1 {
			t.Fatalf("got %d resources (total %d), want the one replaced", len(page), total)
		}
		got := page[0]
		if got.Amount != "200" || got.Description != "second" || string(got.Accepts) != `[{"n":2}]` ||
			string(got.Extensions) != string(r.Extensions) || !got.UpdatedAt.Equal(r2.UpdatedAt) || got.ToolName != r.ToolName || got.Version != 2 {
			t.Fatalf("got %+v, want %+v", got, r2)
		}
	})
	t.Run("FilterAndPage", func(t *testing.T) {
		c := catalogOf(t, open(t))
		ctx := testContext(t)
		base := time.Unix(10000, 0)
		for i := range 7 {
			typ, net := "http", "eip155:1"
			if i%3 == 0 {
				typ = "mcp"
			}
			if i == 6 {
				net = "eip155:2"
			}
			if err := c.PutResource(ctx, newResource(fmt.Sprint(i), typ, net, fmt.Sprint(i+1), base.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			f     ledger.ResourceFilter
			keys  []string
			total int
		}{
			{ledger.ResourceFilter{}, []string{"6", "5", "4", "3", "2", "1", "0"}, 7},
			{ledger.ResourceFilter{Limit: 2}, []string{"6", "5"}, 7},
			{ledger.ResourceFilter{Limit: 2, Offset: 2}, []string{"4", "3"}, 7},
			{ledger.ResourceFilter{Limit: 5, Offset: 6}, []string{"0"}, 7},
			{ledger.ResourceFilter{Offset: 9}, nil, 7},
			{ledger.ResourceFilter{Type: "mcp"}, []string{"6", "3", "0"}, 3},
			{ledger.ResourceFilter{Type: "http", Limit: 1, Offset: 1}, []string{"4"}, 4},
			{ledger.ResourceFilter{Network: "eip155:2"}, []string{"6"}, 1},
			{ledger.ResourceFilter{Scheme: "upto"}, nil, 0},
			{ledger.ResourceFilter{PayTo: "0xpay"}, []string{"6", "5", "4", "3", "2", "1", "0"}, 7},
		} {
			page, total, err := c.Resources(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range page {
				keys = append(keys, r.Key)
			}
			if !slices.Equal(keys, tc.keys) || total != tc.total {
				t.Errorf("%+v: got %v (total %d), want %v (total %d)", tc.f, keys, total, tc.keys, tc.total)
			}
		}
		amounts, err := c.PeerAmounts(ctx, ledger.Peers{Type: "http", Network: "eip155:1", Asset: "0xasset"}, 100)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(amounts)
		if !slices.Equal(amounts, []string{"2", "3", "5", "6"}) {
			t.Errorf("peer amounts %v, want [2 3 5 6]", amounts)
		}
	})
	t.Run("ConcurrentPuts", func(t *testing.T) {
		c := catalogOf(t, open(t))
		ctx := testContext(t)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				errs <- c.PutResource(ctx, newResource(fmt.Sprint(i%4), "http", "eip155:1", fmt.Sprint(i), time.Unix(int64(i), 0)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		_, total, err := c.Resources(ctx, ledger.ResourceFilter{})
		if err != nil || total != 4 {
			t.Fatalf("total %d, %v; want 4 resources", total, err)
		}
	})
}

func catalogOf(t *testing.T, s ledger.Store) ledger.Catalog {
	t.Helper()
	c, ok := s.(ledger.Catalog)
	if !ok {
		t.Fatalf("%T does not implement ledger.Catalog", s)
	}
	return c
}

func newResource(key, typ, network, amount string, at time.Time) *ledger.Resource {
	return &ledger.Resource{
		Key: key, URL: "http://example.test/" + key, Type: typ, ToolName: "tool-" + key, Version: 2,
		Description: "resource " + key, MimeType: "application/json",
		Scheme: "exact", Network: network, Asset: "0xasset", PayTo: "0xpay", Amount: amount,
		Accepts: []byte(`[{"amount":"` + amount + `"}]`), Extensions: []byte(`{"bazaar":{"k":"` + key + `"}}`),
		UpdatedAt: at,
	}
}
