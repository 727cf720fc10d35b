// Package gateway_test runs the gateway example: `go402 gateway --config
// gateway.yaml --devnet`, paid by the go402 client.
package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/examples/internal/devtest"
	"github.com/go402/go402/gateway"
)

// What `go402 gateway --devnet` prints.
var (
	urlLine   = regexp.MustCompile(`(?m)^\s+URL\s+(http://\S+)$`)
	rpcLine   = regexp.MustCompile(`(?m)^\s+RPC URL\s+(http://\S+)$`)
	tokenLine = regexp.MustCompile(`(?m)^\s+Token\s+(0x[0-9a-fA-F]{40})\s+\(name "([^"]*)", version "([^"]*)"\)$`)
)

// TestGatewayExample serves gateway.yaml with the embedded devnet
// facilitator, as its comment says to run it: the free file is free, the
// free route does not serve the reports, and /reports/q3.txt is paid and
// settled, moving exactly its price.
func TestGatewayExample(t *testing.T) {
	cfg, err := gateway.Load("gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := devtest.RunCommand(t, "gateway", "--config", "gateway.yaml", "--devnet", "--listen", "127.0.0.1:0")
	var base, rpc []string
	var token []string
	devtest.WaitFor(t, out, func() bool {
		s := out.Stdout()
		base, rpc, token = urlLine.FindStringSubmatch(s), rpcLine.FindStringSubmatch(s), tokenLine.FindStringSubmatch(s)
		return base != nil && rpc != nil && token != nil
	})
	url := base[1]

	// The free route serves its own folder, and only that.
	free, _ := os.ReadFile(filepath.Join("free", "hello.txt"))
	if status, body := get(t, http.DefaultClient, url+"/free/hello.txt"); status != http.StatusOK || body != string(free) || body == "" {
		t.Errorf("/free/hello.txt: %d %q", status, body)
	}
	if status, body := get(t, http.DefaultClient, url+"/free/q3.txt"); status != http.StatusNotFound {
		t.Errorf("/free/q3.txt: %d %q; the free route must not serve the paid report", status, body)
	}
	if status, _ := get(t, http.DefaultClient, url+"/reports/q3.txt"); status != http.StatusPaymentRequired {
		t.Errorf("unpaid /reports/q3.txt: %d", status)
	}

	// Paid by devnet account 0 (the gateway leaves accounts 0-7 to payers).
	payer, err := devnet.DevAccount(0)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	nets := &evm.Networks{}
	if err := nets.Add(evm.NetworkConfig{ChainID: devnet.DefaultChainID, Name: "go402 devnet", Testnet: true, Assets: []evm.Asset{{
		Address: common.HexToAddress(token[1]), Symbol: "USDC", Name: token[2], Version: token[3], Decimals: 6,
	}}}); err != nil {
		t.Fatal(err)
	}
	agent, err := client.New(client.Config{Signer: signer, Networks: nets, Policy: client.Policy{MaxPerRequest: "$0.01"}})
	if err != nil {
		t.Fatal(err)
	}
	chain := devtest.Dial(t, rpc[1], token[1])
	addrs := []string{payer.Address.Hex(), cfg.PayTo}
	before := chain.Balances(t, addrs...)
	report, _ := os.ReadFile(filepath.Join("reports", "q3.txt"))
	httpc := agent.HTTPClient()
	resp, err := httpc.Get(url + "/reports/q3.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rcpt, ok := client.ReceiptFromResponse(resp)
	if resp.StatusCode != http.StatusOK || string(body) != string(report) || !ok || rcpt.Settlement == nil || !rcpt.Settlement.Success {
		t.Fatalf("paid /reports/q3.txt: %d %q, receipt %+v", resp.StatusCode, body, rcpt)
	}
	chain.Moved(t, before, addrs, -10_000, 10_000) // $0.01
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", url, err))
	}
	return resp.StatusCode, string(b)
}
