package evm_test

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

func TestDefaultNetworks(t *testing.T) {
	nets := evm.DefaultNetworks()
	tests := []struct {
		network x402.Network
		asset   string
		name    string
		version string
	}{
		{"eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin", "2"},
		{"eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", "2"},
		{"base-sepolia", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", "2"}, // v1 name
		{"eip155:137", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "USD Coin", "2"},
		{"eip155:42161", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USD Coin", "2"},
		{"eip155:988", "0x779Ded0c9e1022225f8E0630b35a9b54bE713736", "USDT0", "1"},
	}
	for _, tt := range tests {
		c, err := nets.Lookup(tt.network)
		if err != nil {
			t.Fatalf("%s: %v", tt.network, err)
		}
		a := c.Assets[0]
		if a.Address != common.HexToAddress(tt.asset) || a.Name != tt.name || a.Version != tt.version || a.Decimals != 6 || a.Method() != evm.TransferEIP3009 {
			t.Errorf("%s: %+v", tt.network, a)
		}
	}
	if len(nets.List()) != 10 {
		t.Errorf("%d default networks", len(nets.List()))
	}
	mega, _ := nets.Lookup("eip155:4326")
	if mega.Assets[0].Decimals != 18 || mega.Assets[0].Method() != evm.TransferPermit2 {
		t.Errorf("MegaETH: %+v", mega.Assets[0])
	}
	if _, err := nets.Lookup("eip155:31337"); !errors.Is(err, evm.ErrUnknownNetwork) {
		t.Errorf("devnet known by default: %v", err)
	}
}

func TestRequirementsFromPrice(t *testing.T) {
	nets := evm.DefaultNetworks()
	payTo := common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	p, _ := x402.ParsePrice("$0.001")
	req, err := nets.Requirements("base-sepolia", p, payTo, 0)
	if err != nil {
		t.Fatal(err)
	}
	if req.Network != "eip155:84532" || req.Amount != x402.NewAmount(1000) || req.MaxTimeoutSeconds != evm.DefaultMaxTimeoutSeconds ||
		req.Asset != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" || req.PayTo != payTo.Hex() || !req.Extra.Equal(x402.Object(`{"name":"USDC","version":"2"}`)) {
		t.Errorf("%+v %s", req, req.Extra)
	}
	if err := req.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"$0.0000001", "1 DAI"} {
		p, _ := x402.ParsePrice(bad)
		if _, err := nets.Requirements("eip155:8453", p, payTo, 60); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := nets.Requirements("eip155:1", p, payTo, 60); !errors.Is(err, evm.ErrUnknownNetwork) {
		t.Errorf("unknown network: %v", err)
	}
	usdt, _ := x402.ParsePrice("0.5 usdt0")
	if _, amt, err := nets.ResolvePrice("eip155:988", usdt); err != nil || amt != x402.NewAmount(500000) {
		t.Errorf("symbol lookup: %v %v", amt, err)
	}
}

func TestNetworkConfigValidate(t *testing.T) {
	a := evm.Asset{Address: common.HexToAddress("0x01"), Symbol: "T", Name: "T", Version: "1", Decimals: 6}
	nets := &evm.Networks{}
	bad := []evm.NetworkConfig{
		{},
		{ChainID: 1, Network: "eip155:2"},
		{ChainID: 1, Assets: []evm.Asset{{Name: "x", Version: "1"}}},
		{ChainID: 1, Assets: []evm.Asset{{Address: a.Address, Name: "x"}}},
		{ChainID: 1, Assets: []evm.Asset{a, a}},
		{ChainID: 1, Assets: []evm.Asset{{Address: a.Address, Name: "x", Version: "1", Decimals: 78}}},
		{ChainID: 1, Assets: []evm.Asset{{Address: a.Address, Name: "x", Version: "1", TransferMethod: "magic"}}},
	}
	for i, c := range bad {
		if err := nets.Add(c); err == nil {
			t.Errorf("config %d accepted: %+v", i, c)
		}
	}
	if err := nets.Add(evm.NetworkConfig{ChainID: 31337, Assets: []evm.Asset{a}, RPCURLs: []string{"http://127.0.0.1:8545"}}); err != nil {
		t.Fatal(err)
	}
	c, err := nets.Lookup("eip155:31337")
	if err != nil || c.Network != "eip155:31337" {
		t.Fatalf("%+v %v", c, err)
	}
	c.Assets[0].Name = "mutated"
	if again, _ := nets.Asset("eip155:31337", a.Address); again.Name != "T" {
		t.Error("Lookup returned shared state")
	}
	if _, err := nets.Asset("eip155:31337", common.HexToAddress("0x02")); !errors.Is(err, evm.ErrUnknownAsset) {
		t.Errorf("unknown asset: %v", err)
	}
}
