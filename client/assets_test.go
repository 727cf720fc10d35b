package client_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

func TestParseAsset(t *testing.T) {
	const addr = "0x1111111111111111111111111111111111111111"
	a, err := client.ParseAsset("eip155:31338/" + addr + ":6,symbol=TOK,name=Test Token,version=2,usd")
	want := client.Asset{Network: "eip155:31338", Address: addr, Decimals: 6, Symbol: "TOK", Name: "Test Token", Version: "2", USDStablecoin: true}
	if err != nil || a != want {
		t.Fatalf("ParseAsset = %+v, %v", a, err)
	}
	if a, err := client.ParseAsset("base-sepolia/" + addr + ":18"); err != nil || a.Network != "eip155:84532" || a.Decimals != 18 {
		t.Errorf("v1 network name: %+v, %v", a, err)
	}
	for _, bad := range []string{
		"", addr + ":6", "eip155:1/" + addr, "eip155:1/" + addr + ":x", "eip155:1/" + addr + ":78",
		"eip155:1/0x1234:6", "eip155:x/" + addr + ":6", "eip155:1/" + addr + ":6,usd=yes",
		"eip155:1/" + addr + ":6,method=magic", "eip155:1/" + addr + ":6,what=1", "eip155:1/" + addr + ":6,symbol=T K",
	} {
		if a, err := client.ParseAsset(bad); err == nil {
			t.Errorf("ParseAsset(%q) = %+v, want an error", bad, a)
		}
	}
}

func TestReadAssets(t *testing.T) {
	const addr = "0x1111111111111111111111111111111111111111"
	as, err := client.ReadAssets(strings.NewReader(`{"assets": [{"network": "eip155:31338", "address": "` + addr + `", "decimals": 0, "symbol": "T"}]}`))
	if err != nil || len(as) != 1 || as[0].Decimals != 0 || as[0].Symbol != "T" {
		t.Fatalf("ReadAssets = %+v, %v", as, err)
	}
	for name, bad := range map[string]string{
		"typo":        `{"assets": [{"network": "eip155:1", "address": "` + addr + `", "decimal": 6}]}`,
		"no decimals": `{"assets": [{"network": "eip155:1", "address": "` + addr + `"}]}`,
		"bad address": `{"assets": [{"network": "eip155:1", "address": "0x12", "decimals": 6}]}`,
		"bad network": `{"assets": [{"network": "mainnet", "address": "` + addr + `", "decimals": 6}]}`,
		"top level":   `{"tokens": []}`,
		"not json":    `assets: []`,
	} {
		if _, err := client.ReadAssets(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Lookups fold the letter case of EVM addresses.
	var r client.Assets
	if err := r.Add(as...); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup("eip155:31338", strings.ToUpper(addr[2:])); ok {
		t.Error("an address without 0x matched")
	}
	if a, ok := r.Lookup("eip155:31338", "0x"+strings.ToUpper(addr[2:])); !ok || a.Symbol != "T" {
		t.Errorf("Lookup = %+v, %v", a, ok)
	}
	if _, ok := r.Lookup("eip155:1", addr); ok {
		t.Error("found on another network")
	}
}

// A declared asset is priced and checked like a built-in one; an asset
// nobody declared is paid only under limits in its atomic units, and a
// limit never applies to another asset than its own.
func TestDeclaredAssetLimits(t *testing.T) {
	const token = "0x1111111111111111111111111111111111111111"
	req := x402.PaymentRequirements{
		Scheme: "exact", Network: "eip155:31338", Amount: x402.NewAmount(1_500_000), Asset: token,
		PayTo: "0x2222222222222222222222222222222222222222", MaxTimeoutSeconds: 60, Extra: x402.Object(`{"name":"Token","version":"1"}`),
	}
	srv := staticOffer(t, req)
	key, _ := evm.NewPrivateKeySigner(strings.Repeat("11", 32))
	declared := client.Asset{Network: "eip155:31338", Address: token, Decimals: 6, Symbol: "TOK"}
	other := client.AtomicLimit(x402.NewAmount(10_000_000), "eip155:31338", "0x3333333333333333333333333333333333333333")
	for _, tc := range []struct {
		name   string
		assets []client.Asset
		policy client.Policy
		rule   string // "" when allowed
		price  string
	}{
		{"declared, token units", []client.Asset{declared}, client.Policy{MaxPerRequest: "1.5"}, "", "1.5 TOK"},
		{"declared, symbol", []client.Asset{declared}, client.Policy{MaxPerRequest: "1.5 TOK", Budget: "2 TOK"}, "", "1.5 TOK"},
		{"declared, too dear", []client.Asset{declared}, client.Policy{MaxPerRequest: "1.4999999"}, client.RuleMaxPerRequest, ""},
		{"declared, atomic", []client.Asset{declared}, client.Policy{MaxPerRequest: client.AtomicLimit(x402.NewAmount(1_500_000), "eip155:31338", strings.ToUpper("0x"+token[2:]))}, "", "1.5 TOK"},
		{"declared, atomic too low", []client.Asset{declared}, client.Policy{MaxPerRequest: client.AtomicLimit(x402.NewAmount(1_499_999), "eip155:31338", token)}, client.RuleMaxPerRequest, ""},
		{"declared, budget atomic", []client.Asset{declared}, client.Policy{Budget: client.AtomicLimit(x402.NewAmount(1_000_000), "eip155:31338", token)}, client.RuleBudget, ""},
		{"declared, not dollars", []client.Asset{declared}, client.Policy{MaxPerRequest: "$100"}, client.RuleMaxPerRequest, ""},
		{"declared dollar", []client.Asset{{Network: "eip155:31338", Address: token, Decimals: 6, Symbol: "TOK", USDStablecoin: true}}, client.Policy{MaxPerRequest: "$1.5"}, "", "1.5 TOK"},
		{"declared, another asset's limit", []client.Asset{declared}, client.Policy{MaxPerRequest: other}, client.RuleMaxPerRequest, ""},
		{"unknown, token units", nil, client.Policy{MaxPerRequest: "100"}, client.RuleUnknownAsset, ""},
		{"unknown, dollars", nil, client.Policy{Budget: "$100"}, client.RuleUnknownAsset, ""},
		{"unknown, atomic", nil, client.Policy{MaxPerRequest: client.AtomicLimit(x402.NewAmount(1_500_000), "eip155:31338", token)}, "", "1500000 atomic units of token " + token},
		{"unknown, atomic too low", nil, client.Policy{MaxPerRequest: client.AtomicLimit(x402.NewAmount(1_499_999), "eip155:31338", token)}, client.RuleMaxPerRequest, ""},
		{"unknown, atomic on another network", nil, client.Policy{MaxPerRequest: client.AtomicLimit(x402.NewAmount(1_500_000), "eip155:1", token)}, client.RuleUnknownAsset, ""},
		{"unknown, atomic and dollars", nil, client.Policy{MaxPerRequest: client.AtomicLimit(x402.NewAmount(1_500_000), "eip155:31338", token), Budget: "$100"}, client.RuleUnknownAsset, ""},
		{"unknown, another asset's limit", nil, client.Policy{MaxPerRequest: other}, client.RuleUnknownAsset, ""},
		{"unknown, budget atomic", nil, client.Policy{Budget: client.AtomicLimit(x402.NewAmount(1_499_999), "eip155:31338", token)}, client.RuleBudget, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assets := &client.Assets{}
			if err := assets.Add(tc.assets...); err != nil {
				t.Fatal(err)
			}
			c, err := client.NewEVM(key, client.Config{Assets: assets, Policy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			q, err := c.Quote(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			var pe *client.PolicyError
			switch {
			case tc.rule == "" && q.Refusal != nil:
				t.Errorf("refused: %v", q.Refusal)
			case tc.rule == "" && q.Option.Price != tc.price:
				t.Errorf("price %q, want %q", q.Option.Price, tc.price)
			case tc.rule != "" && (!errors.As(q.Refusal, &pe) || pe.Rule != tc.rule):
				t.Errorf("refusal %v, want rule %s", q.Refusal, tc.rule)
			}
		})
	}
}

func TestPolicyAtomicLimitSyntax(t *testing.T) {
	for _, bad := range []string{
		"1.5 atomic eip155:1/0x1111111111111111111111111111111111111111",
		"15 atomic eip155:1",
		"15 atomic eip155:1/0x11",
		"-1 atomic eip155:1/0x1111111111111111111111111111111111111111",
	} {
		if err := (client.Policy{MaxPerRequest: bad}).Validate(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := (client.Policy{Budget: "15 atomic eip155:1/0x1111111111111111111111111111111111111111"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestNewNeedsASchemeClient(t *testing.T) {
	if _, err := client.New(client.Config{Schemes: new(x402.Registry[x402.SchemeClient])}); err == nil {
		t.Error("an empty registry was accepted")
	}
	if _, err := client.NewEVM(nil, client.Config{}); err == nil {
		t.Error("a nil signer was accepted")
	}
}
