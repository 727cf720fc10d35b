package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// checkDevUpto: the info file announces the upto GET endpoint at its
// maximum; a go402 client paying it three times from a payer account is
// charged a varying amount below the maximum, once nothing (no
// transaction), and the chain moves exactly what the receipts say.
func checkDevUpto(t *testing.T, ctx context.Context, ec *ethclient.Client, di devInfo, infoPath, key string) {
	t.Helper()
	var ep *devEndpoint
	for i := range di.Endpoints {
		if di.Endpoints[i].Scheme == upto.Scheme {
			ep = &di.Endpoints[i]
		}
	}
	if ep == nil || ep.Price != stackUptoMax || ep.Method != http.MethodGet || ep.Policy != "settle-before-serve" {
		t.Fatalf("upto endpoint %+v", ep)
	}
	pk, err := crypto.HexToECDSA(key[2:])
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(pk)
	if err != nil {
		t.Fatal(err)
	}
	nets := &evm.Networks{}
	id, _ := x402.Network(di.Network).ChainID()
	if err := nets.Add(evm.NetworkConfig{Network: x402.Network(di.Network), ChainID: id, Assets: []evm.Asset{{
		Address: common.HexToAddress(di.Token.Address), Name: di.Token.Name, Version: di.Token.Version, Decimals: di.Token.Decimals, Symbol: "USDC", TransferMethod: evm.TransferEIP3009,
	}}}); err != nil {
		t.Fatal(err)
	}
	schemes := new(x402.Registry[x402.SchemeClient])
	if err := upto.RegisterClient(schemes, upto.ClientConfig{Signer: signer}); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(nets)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Schemes: schemes, Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.05"}})
	if err != nil {
		t.Fatal(err)
	}
	token, payer := common.HexToAddress(di.Token.Address), signer.Address()
	before := tokenBalance(t, ctx, ec, token, payer)
	total, zero := int64(0), false
	for range 3 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ep.URL, nil)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ans struct{ Tokens int64 }
		if resp.StatusCode != 200 || json.Unmarshal(body, &ans) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		rec, ok := client.ReceiptFromResponse(resp)
		want := ans.Tokens * 100 // $0.0001 a token
		if !ok || rec.Settlement == nil || !rec.Settlement.Success || rec.Settlement.Amount == nil || rec.Settlement.Amount.Big().Int64() != want || want >= 10000 {
			t.Fatalf("%d tokens: receipt %+v", ans.Tokens, rec)
		}
		if (want == 0) != (rec.Settlement.Transaction == "") {
			t.Fatalf("%d tokens: transaction %q", ans.Tokens, rec.Settlement.Transaction)
		}
		zero = zero || want == 0
		total += want
	}
	if !zero || total == 0 {
		t.Fatalf("three answers charged %d in all, zero once: %v", total, zero)
	}
	if paid := new(big.Int).Sub(before, tokenBalance(t, ctx, ec, token, payer)); paid.Int64() != total {
		t.Fatalf("payer paid %s, receipts say %d", paid, total)
	}

	// go402 pay says what was charged, and what was authorized. The
	// fourth answer uses 59 tokens.
	t.Setenv("GO402_PAYER_KEY", key)
	var out, errOut bytes.Buffer
	if code := Run(ctx, []string{"pay", "--devnet-info", infoPath, ep.URL}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("pay %s: exit %d: %s", ep.URL, code, errOut.String())
	}
	if !strings.Contains(out.String(), `"tokens":59`) || !strings.Contains(errOut.String(), "paid 0.0059 USDC (authorized up to 0.01 USDC) on ") {
		t.Fatalf("pay %s: %q / %q", ep.URL, out.String(), errOut.String())
	}
}
