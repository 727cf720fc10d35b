// Package gateway_test runs the gateway example: `go402 gateway --config
// gateway.yaml --devnet --info-file PATH`, paid by the go402 client.
package gateway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/examples/internal/devinfo"
	"github.com/go402/go402/examples/internal/devtest"
	"github.com/go402/go402/gateway"
)

// gatewayInfo is the --info-file of `go402 gateway --devnet`: the fields
// of `go402 dev`'s and the gateway's URL.
type gatewayInfo struct {
	devtest.Info
	GatewayURL string `json:"gatewayUrl"`
}

// TestGatewayExample serves gateway.yaml with the embedded devnet
// facilitator, as its comment says to run it, and reads what it serves
// from its --info-file: the free file is free, the free route does not
// serve the reports, and /reports/q3.txt, the one paid endpoint, is paid
// by the first payer account and settled, moving exactly its price.
func TestGatewayExample(t *testing.T) {
	cfg, err := gateway.Load("gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.json")
	// Registered first, so run after the gateway has stopped.
	t.Cleanup(func() {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the info file outlived the gateway: %v", err)
		}
	})
	out := devtest.RunCommand(t, "gateway", "--config", "gateway.yaml", "--devnet", "--listen", "127.0.0.1:0", "--info-file", path)
	var info gatewayInfo
	devtest.WaitFor(t, out, func() bool {
		b, err := os.ReadFile(path) // written complete: renamed into place
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	url := info.GatewayURL
	if len(info.Endpoints) != 1 || info.Payers == 0 || len(info.Accounts) <= info.Payers || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("info file: %+v", info)
	}
	report := info.Endpoints[0]
	if report.URL != url+"/reports/q3.txt" || report.Method != http.MethodGet || report.Price != "$0.01" || !strings.EqualFold(report.PayTo, cfg.PayTo) {
		t.Errorf("endpoint %+v, want GET %s/reports/q3.txt at $0.01 to %s", report, url, cfg.PayTo)
	}

	// The free route serves its own folder, and only that.
	free, _ := os.ReadFile(filepath.Join("free", "hello.txt"))
	if status, body := get(t, http.DefaultClient, url+"/free/hello.txt"); status != http.StatusOK || body != string(free) || body == "" {
		t.Errorf("/free/hello.txt: %d %q", status, body)
	}
	if status, body := get(t, http.DefaultClient, url+"/free/q3.txt"); status != http.StatusNotFound {
		t.Errorf("/free/q3.txt: %d %q; the free route must not serve the paid report", status, body)
	}
	if status, _ := get(t, http.DefaultClient, report.URL); status != http.StatusPaymentRequired {
		t.Errorf("unpaid %s: %d", report.URL, status)
	}

	// Paid by the first of the payers, which the gateway never uses.
	payer := info.Accounts[0]
	key, err := crypto.HexToECDSA(strings.TrimPrefix(payer.PrivateKey, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	// The devnet and its token, read from the info file as the examples
	// read the one of go402 dev.
	nets := &evm.Networks{}
	if _, err := devinfo.Load(path, nets); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(nets)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := client.NewEVM(signer, client.Config{Assets: assets, Policy: client.Policy{MaxPerRequest: report.Price}})
	if err != nil {
		t.Fatal(err)
	}
	chain := devtest.Dial(t, info.RPCURL, info.Token.Address)
	addrs := []string{payer.Address, report.PayTo}
	before := chain.Balances(t, addrs...)
	want, _ := os.ReadFile(filepath.Join("reports", "q3.txt"))
	resp, err := agent.HTTPClient().Get(report.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rcpt, ok := client.ReceiptFromResponse(resp)
	if resp.StatusCode != http.StatusOK || string(body) != string(want) || !ok || rcpt.Settlement == nil || !rcpt.Settlement.Success {
		t.Fatalf("paid %s: %d %q, receipt %+v", report.URL, resp.StatusCode, body, rcpt)
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
