package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/go402/go402/internal/cli"
)

// declaredChainID is a devnet chain id that no built-in network uses.
const declaredChainID = 31338

// TestGoPayDeclaredAssetOfficialServer: go402 pay pays an EIP-3009 token
// the user declared with --asset, on a network the user declared (a devnet
// chain that is not built in), to an official @x402/express (v2) server
// settling through the official facilitator; a price above the user's
// --max is refused and nothing moves.
func TestGoPayDeclaredAssetOfficialServer(t *testing.T) {
	w := newWorld(t, declaredChainID)
	tok, err := w.dev.DeployToken(w.ctx, "Interop Token", "ITK", "1", big.NewInt(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Address == w.token.Address {
		t.Fatalf("the second token is the devnet USDC, at %s", tok.Address)
	}
	facURL := w.officialFacilitator()
	srv := w.start("server-v2.mjs", "Server", map[string]string{
		"FACILITATOR_URL": facURL,
		"PAY_TO":          w.addr(acctPayee).Hex(),
		"PRICE_AMOUNT":    fmt.Sprint(priceAtoms),
		"ASSET":           tok.Address.Hex(),
		"TOKEN_NAME":      tok.Name,
		"TOKEN_VERSION":   tok.Version,
	})
	t.Setenv("INTEROP_PAYER_KEY", w.key(acctGoPayer))
	asset := fmt.Sprintf("eip155:%d/%s:%d,symbol=%s", declaredChainID, tok.Address.Hex(), tok.Decimals, tok.Symbol)
	balance := func(i int) *big.Int {
		t.Helper()
		b, err := w.dev.TokenBalanceOf(w.ctx, tok.Address, w.addr(i))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pay := func(args ...string) (int, map[string]any) {
		t.Helper()
		args = append([]string{"pay", "--json", "--key-env", "INTEROP_PAYER_KEY", srv.url("/paid")}, args...)
		var stdout, stderr bytes.Buffer
		code := cli.Run(w.ctx, args, strings.NewReader(""), &stdout, &stderr)
		var res map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("go402 %v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
		return code, res
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		reason string
	}{
		{"price above --max", []string{"--asset", asset, "--max", fmt.Sprintf("%datomic", priceAtoms-1)}, cli.ExitPolicy, "policy:max-per-request"},
		{"price above --max in tokens", []string{"--asset", asset, "--max", "0.000999 ITK"}, cli.ExitPolicy, "policy:max-per-request"},
		{"dollar limit on a token that is not a dollar", []string{"--asset", asset}, cli.ExitPolicy, "policy:max-per-request"},
		{"undeclared", []string{"--max", "0.01"}, cli.ExitPolicy, "policy:unknown-asset"},
		{"paid", []string{"--asset", asset, "--max", fmt.Sprintf("%datomic", priceAtoms)}, cli.ExitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payer, payee := balance(acctGoPayer), balance(acctPayee)
			code, res := pay(tc.args...)
			if code != tc.code || res["reason"] != tc.reason {
				t.Fatalf("exit %d, want %d; result %v", code, tc.code, res)
			}
			want := int64(0)
			if tc.code == cli.ExitOK {
				want = priceAtoms
				if res["paid"] != true || res["price"] != "0.001 ITK" || res["network"] != w.dev.Network() ||
					!strings.EqualFold(res["asset"].(string), tok.Address.Hex()) || !strings.HasPrefix(res["transaction"].(string), "0x") {
					t.Errorf("result %v", res)
				}
			} else if res["paid"] != false {
				t.Errorf("result %v", res)
			}
			down := new(big.Int).Sub(payer, balance(acctGoPayer))
			up := new(big.Int).Sub(balance(acctPayee), payee)
			if down.Int64() != want || up.Int64() != want {
				t.Errorf("payer down %s, payee up %s; want exactly %d each", down, up, want)
			}
		})
	}
}
