package service_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/facilitator/service"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// A payment through the whole stack: the service settles it on the
// devnet, once, and the payee receives exactly the price.
func TestServicePaysOnce(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3}})
	payer, payee := st.Accounts[0], st.Accounts[1]
	_, srv := st.Serve(t, x402http.Config{Routes: []x402http.Route{
		{Pattern: "GET /data", Accepts: []x402http.PaymentOption{st.Option("$0.01", payee.Address.Hex())}},
	}}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "paid data") }))

	get := func(header string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/data", nil)
		if err != nil {
			t.Fatal(err)
		}
		if header != "" {
			req.Header.Set(x402.HeaderPaymentSignature, header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get("")
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid: status %d", resp.StatusCode)
	}
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := ec.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	header, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	before, err := st.Devnet.BalanceOf(t.Context(), payee.Address)
	if err != nil {
		t.Fatal(err)
	}
	if resp := get(header); resp.StatusCode != http.StatusOK {
		t.Fatalf("paid: status %d", resp.StatusCode)
	}
	// The same payment again is not settled a second time.
	if resp := get(header); resp.StatusCode == http.StatusOK {
		t.Errorf("the same payment was served twice")
	}
	after, err := st.Devnet.BalanceOf(t.Context(), payee.Address)
	if err != nil {
		t.Fatal(err)
	}
	if got := new(big.Int).Sub(after, before); got.Cmp(big.NewInt(10_000)) != 0 {
		t.Errorf("payee received %s atomic units, want 10000 ($0.01 of a 6-decimal token)", got)
	}
	if got := st.Service.Signers(); len(got) != 1 || got[0] != st.Signer.Address {
		t.Errorf("Signers() = %v, want [%s]", got, st.Signer.Address.Hex())
	}
}

// A host's chain with no database configured: the ledger is a temporary
// SQLite file, removed by Close; Close can be called again.
func TestServiceTemporaryLedger(t *testing.T) {
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	nc := d.NetworkConfig()
	svc, err := service.New(t.Context(), nil, service.Deps{Networks: []service.Network{{
		Network: nc.Network, Backend: d.Client(), Key: d.Accounts()[1].PrivateKey, Assets: nc.Assets,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	path, ok := strings.CutPrefix(svc.Database(), "sqlite ")
	if !svc.TemporaryDatabase() || !ok {
		t.Fatalf("Database() = %q, temporary %v", svc.Database(), svc.TemporaryDatabase())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("ledger file: %v", err)
	}
	if n := svc.Networks(); len(n) != 1 || n[0].Network != nc.Network || n[0].Signer != d.Accounts()[1].Address || n[0].Batch != (evm.BatchConfig{}) {
		t.Errorf("Networks() = %+v", n)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ledger file after Close: %v", err)
	}
	if err := svc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestServiceNewErrors(t *testing.T) {
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	nc := d.NetworkConfig()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		cfg  *config.Config
		deps service.Deps
		want string
	}{
		{"no networks", t.Context(), nil, service.Deps{}, "no networks configured"},
		{"no key", t.Context(), nil, service.Deps{Networks: []service.Network{{Network: nc.Network, Backend: d.Client()}}}, "a backend and a settlement key are required"},
		{"wrong chain", t.Context(), nil, service.Deps{Networks: []service.Network{{Network: "eip155:1", Backend: d.Client(), Key: d.Accounts()[0].PrivateKey}}}, "eip155:1"},
		{"canceled", canceled, &config.Config{Devnet: config.Devnet{Enabled: true}}, service.Deps{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := service.New(tc.ctx, tc.cfg, tc.deps)
			if err == nil {
				_ = svc.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}
