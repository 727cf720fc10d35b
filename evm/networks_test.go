package evm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
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

// TestPermit2AssetsArePriced: the reference's Permit2 default assets are
// priced into "exact" requirements whose extra names the Permit2 transfer
// method, as the reference sends them; an unknown method is a typed error.
func TestPermit2AssetsArePriced(t *testing.T) {
	nets := evm.DefaultNetworks()
	payTo := common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	tests := []struct {
		network x402.Network
		price   string
		amount  string
		extra   string
	}{
		{"eip155:4326", "$0.01", "10000000000000000", `{"name":"MegaUSD","version":"1","assetTransferMethod":"permit2"}`},
		{"eip155:4326", "0.01 megausd", "10000000000000000", `{"name":"MegaUSD","version":"1","assetTransferMethod":"permit2"}`},
		{"eip155:31611", "2 mUSD", "2000000000000000000", `{"name":"Mezo USD","version":"1","assetTransferMethod":"permit2"}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.network)+" "+tt.price, func(t *testing.T) {
			p, err := x402.ParsePrice(tt.price)
			if err != nil {
				t.Fatal(err)
			}
			for name, get := range map[string]func() (x402.PaymentRequirements, error){
				"Networks": func() (x402.PaymentRequirements, error) { return nets.Requirements(tt.network, p, payTo, 60) },
				"ExactServer": func() (x402.PaymentRequirements, error) {
					return (&evm.ExactServer{Networks: nets}).Requirements(tt.network, p, payTo.Hex(), 60)
				},
			} {
				req, err := get()
				if err != nil || req.Scheme != evm.SchemeExact || req.Amount.String() != tt.amount || !req.Extra.Equal(x402.Object(tt.extra)) {
					t.Errorf("%s: %+v %s %v", name, req, req.Extra, err)
				}
			}
		})
	}
	// An unknown transfer method is refused when the asset is registered.
	err := (&evm.Networks{}).Add(evm.NetworkConfig{ChainID: 7, Assets: []evm.Asset{{Address: common.HexToAddress("0x01"), Symbol: "X", Name: "X", Version: "1", TransferMethod: "erc7710"}}})
	if err == nil || !strings.Contains(err.Error(), "transferMethod") {
		t.Errorf("unknown method: %v", err)
	}
}

func TestAssetExtra(t *testing.T) {
	addr := common.HexToAddress("0x01")
	tests := []struct {
		asset evm.Asset
		want  string
	}{
		{evm.Asset{Address: addr, Name: "USDC", Version: "2"}, `{"name":"USDC","version":"2"}`},
		{evm.Asset{Address: addr, Name: "USDC", Version: "2", TransferMethod: evm.TransferEIP3009}, `{"name":"USDC","version":"2"}`},
		// As the reference sends it for an EIP-2612 Permit2 asset.
		{evm.Asset{Address: addr, Name: "MegaUSD", Version: "1", TransferMethod: evm.TransferPermit2}, `{"name":"MegaUSD","version":"1","assetTransferMethod":"permit2"}`},
	}
	for _, tt := range tests {
		if got := tt.asset.Extra(); string(got) != tt.want {
			t.Errorf("%+v: %s, want %s", tt.asset, got, tt.want)
		}
	}
	// The client pays requirements carrying the Permit2 extra with a
	// Permit2 transfer to the exact proxy (no RPC: no allowance check).
	mega, err := evm.DefaultNetworks().Asset("eip155:4326", common.HexToAddress("0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	signer, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	req := x402.PaymentRequirements{Scheme: "exact", Network: "eip155:4326", Amount: x402.NewAmount(1), Asset: mega.Address.Hex(),
		PayTo: common.HexToAddress("0x02").Hex(), MaxTimeoutSeconds: 60, Extra: mega.Extra()}
	obj, err := c.CreatePayload(t.Context(), x402.V2, req)
	if err != nil {
		t.Fatal(err)
	}
	s, err := permit2.ParsePayload(obj, permit2.KindExact)
	if err != nil {
		t.Fatal(err)
	}
	if s.From != signer.Address() || s.Permit.Spender != permit2.ExactProxy() || s.Permit.Token != mega.Address || s.Permit.Amount.Int64() != 1 {
		t.Errorf("signed %s", obj)
	}
}

// TestMonadUSDCDomain pins Monad's USDC EIP-712 domain to the separator the
// deployed contract reports (DOMAIN_SEPARATOR() of
// 0x754704Bc059F8C67012fEd69BC8A327a5aafb603 on chain 143, as published in
// x402-foundation/x402#3102): only the name "USDC" reproduces it, and
// "USD Coin", which go402 and the reference once had, does not.
func TestMonadUSDCDomain(t *testing.T) {
	const onChain = "0xfe22123edc0dd4aeb912eb7948c5f0e531592c2053b3067612f427db342c93c6"
	c, err := evm.DefaultNetworks().Lookup("eip155:143")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Assets[0]
	d := evm.Domain{Name: a.Name, Version: a.Version, ChainID: 143, VerifyingContract: a.Address}
	if got := d.Separator().Hex(); got != onChain {
		t.Errorf("Monad USDC domain %+v has separator %s, the contract reports %s", d, got, onChain)
	}
	d.Name = "USD Coin"
	if d.Separator().Hex() == onChain {
		t.Error("the test cannot tell the names apart")
	}
}
