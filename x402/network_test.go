package x402_test

import (
	"errors"
	"testing"

	"github.com/go402/go402/x402"
)

func TestParseNetwork(t *testing.T) {
	good := []string{
		"eip155:1", "eip155:8453", "eip155:84532", "eip155:31337", "eip155:18446744073709551615",
		"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
		"algorand:wGHE2Pwdvd7S12BL5FaOP20EGYesN73ktiC1qzkkit8=", "stellar:pubnet", "aptos:1", "cosmos:cosmoshub-4",
	}
	for _, s := range good {
		if n, err := x402.ParseNetwork(s); err != nil || string(n) != s {
			t.Errorf("ParseNetwork(%q) = %q, %v", s, n, err)
		}
	}
	bad := []string{
		"", "base", "base-sepolia", ":", "eip155:", ":1", "eip155:0", "eip155:01", "eip155:-1", "eip155:0x1",
		"eip155:18446744073709551616", "eip155:*", "*", "EIP155:1", "ei:1", "toolongns:1", "eip155:1:2",
		"eip155: 1", "solana:a b", "eip155:1\n", "x\x00x:1",
	}
	for _, s := range bad {
		if n, err := x402.ParseNetwork(s); err == nil || !errors.Is(err, x402.ErrInvalidNetwork) {
			t.Errorf("ParseNetwork(%q) = %q, %v; want ErrInvalidNetwork", s, n, err)
		}
	}
}

func TestNetworkPatterns(t *testing.T) {
	for _, s := range []string{"eip155:*", "solana:*", "*", "eip155:8453"} {
		if _, err := x402.ParseNetworkPattern(s); err != nil {
			t.Errorf("ParseNetworkPattern(%q): %v", s, err)
		}
	}
	for _, s := range []string{"EIP:*", ":*", "eip155:**", "**"} {
		if _, err := x402.ParseNetworkPattern(s); err == nil {
			t.Errorf("ParseNetworkPattern(%q) accepted", s)
		}
	}
	tests := []struct {
		n, pattern x402.Network
		want       bool
	}{
		{"eip155:8453", "eip155:*", true},
		{"eip155:8453", "eip155:8453", true},
		{"eip155:8453", "eip155:84532", false},
		{"eip155:8453", "solana:*", false},
		{"eip155:8453", "*", true},
		{"eip1555:1", "eip155:*", false},
		{"eip155:*", "eip155:*", true},
		{"eip155", "eip155:*", false},
	}
	for _, tt := range tests {
		if got := tt.n.Matches(tt.pattern); got != tt.want {
			t.Errorf("%q.Matches(%q) = %v", tt.n, tt.pattern, got)
		}
	}
}

func TestNetworkParts(t *testing.T) {
	n := x402.EIP155(84532)
	if n != "eip155:84532" || n.Namespace() != "eip155" || n.Reference() != "84532" || n.IsPattern() {
		t.Errorf("%q", n)
	}
	if id, err := n.ChainID(); err != nil || id != 84532 {
		t.Errorf("ChainID: %d %v", id, err)
	}
	for _, s := range []x402.Network{"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "base", "eip155:x"} {
		if _, err := s.ChainID(); err == nil {
			t.Errorf("ChainID(%q) accepted", s)
		}
	}
	if x402.Network("base").Namespace() != "" {
		t.Error("namespace of a v1 name")
	}
}

func TestV1Names(t *testing.T) {
	tests := map[string]x402.Network{
		"base":               "eip155:8453",
		"base-sepolia":       "eip155:84532",
		"ethereum":           "eip155:1",
		"polygon-amoy":       "eip155:80002",
		"skale-base-sepolia": "eip155:324705682",
		"stable-testnet":     "eip155:2201",
		"solana":             "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
		"solana-devnet":      "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
	}
	for name, caip := range tests {
		got, ok := x402.NetworkFromV1(name)
		if !ok || got != caip {
			t.Errorf("NetworkFromV1(%q) = %q, %v", name, got, ok)
		}
		back, ok := caip.V1Name()
		if !ok || back != name {
			t.Errorf("V1Name(%q) = %q, %v", caip, back, ok)
		}
		if x402.Network(name).Canonical() != caip || caip.Canonical() != caip {
			t.Errorf("Canonical(%q)", name)
		}
	}
	if _, ok := x402.NetworkFromV1("kairos-testnet"); ok {
		t.Error("unknown name resolved")
	}
	if _, ok := x402.Network("eip155:31337").V1Name(); ok {
		t.Error("devnet has a v1 name")
	}
	if _, err := x402.ParseNetwork("base-sepolia"); err == nil {
		t.Error("a v1 name parsed as CAIP-2")
	}
}
