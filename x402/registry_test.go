package x402_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/go402/go402/x402"
)

func TestRegistryLookup(t *testing.T) {
	var r x402.Registry[string]
	must := func(v int, scheme string, n x402.Network, val string) {
		t.Helper()
		if err := r.Register(v, scheme, n, val); err != nil {
			t.Fatal(err)
		}
	}
	must(2, "exact", "eip155:*", "evm-any")
	must(2, "exact", "eip155:8453", "base")
	must(2, "exact", "*", "anything")
	must(1, "exact", "eip155:*", "evm-v1")
	must(1, "exact", "solana-devnet", "sol-v1")

	tests := []struct {
		version int
		scheme  string
		network x402.Network
		want    string
	}{
		{2, "exact", "eip155:8453", "base"},
		{2, "exact", "eip155:84532", "evm-any"},
		{2, "exact", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "anything"},
		{1, "exact", "base-sepolia", "evm-v1"},                            // legacy name matches the CAIP-2 pattern
		{1, "exact", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", "sol-v1"}, // CAIP-2 matches a legacy registration
		{1, "exact", "solana-devnet", "sol-v1"},
		{1, "exact", "kairos-testnet", ""},
		{2, "upto", "eip155:8453", ""},
		{3, "exact", "eip155:8453", ""},
	}
	for _, tt := range tests {
		got, kind, err := r.Lookup(tt.version, tt.scheme, tt.network)
		if tt.want == "" {
			if !errors.Is(err, x402.ErrNotRegistered) {
				t.Errorf("Lookup(%d,%s,%s) = %q, %v; want ErrNotRegistered", tt.version, tt.scheme, tt.network, got, err)
			}
			continue
		}
		if err != nil || got != tt.want || kind.Version != tt.version {
			t.Errorf("Lookup(%d,%s,%s) = %q (%v), %v; want %q", tt.version, tt.scheme, tt.network, got, kind, err, tt.want)
		}
	}
	if len(r.Kinds()) != 5 || r.Kinds()[0].String() != "v2/exact/eip155:*" {
		t.Errorf("Kinds: %v", r.Kinds())
	}
}

func TestRegistryRejects(t *testing.T) {
	var r x402.Registry[int]
	if err := r.Register(2, "exact", "eip155:1", 1); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"duplicate":   r.Register(2, "exact", "eip155:1", 2),
		"version 3":   r.Register(3, "exact", "eip155:1", 1),
		"no scheme":   r.Register(2, "", "eip155:1", 1),
		"bad pattern": r.Register(2, "exact", "EIP155:*", 1),
		"v1 name v2":  r.Register(2, "exact", "base", 1),
		"v1 bad name": r.Register(1, "exact", "a b", 1),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRegistryConcurrent(t *testing.T) {
	var r x402.Registry[int]
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = r.Register(2, "s", x402.EIP155(uint64(i+1)), i)
		}()
		go func() {
			defer wg.Done()
			_, _, _ = r.Lookup(2, "s", "eip155:1")
		}()
	}
	wg.Wait()
	if len(r.Kinds()) != 8 {
		t.Errorf("%d kinds", len(r.Kinds()))
	}
}
