package gateway_test

import (
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/internal/stacktest"
)

func TestFacilitatorsConfig(t *testing.T) {
	const tail = "routes: [{path: /a, upstream: http://u}]\n"
	c, err := gateway.Parse("gw.yaml", []byte("facilitators:\n  - https://a.example\n  - {url: https://b.example/f, apiKeyEnv: B_TOKEN, reservesFunds: true}\n"+tail), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Facilitators) != 2 || c.Facilitators[0].URL != "https://a.example" || c.Facilitators[1].URL != "https://b.example/f" ||
		c.Facilitators[1].APIKeyEnv != "B_TOKEN" || !c.Facilitators[1].ReservesFunds || c.Facilitators[0].ReservesFunds {
		t.Errorf("facilitators %+v", c.Facilitators)
	}
	// An environment variable setting the single facilitator replaces the list.
	c, err = gateway.Parse("gw.yaml", []byte("facilitators: [https://a.example, https://b.example]\n"+tail),
		func(k string) string { return map[string]string{"GO402_FACILITATOR_URL": "https://c.example"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.Facilitator.URL != "https://c.example" || len(c.Facilitators) != 0 {
		t.Errorf("after GO402_FACILITATOR_URL: %v, url %q, list %v", err, c.Facilitator.URL, c.Facilitators)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"both", "facilitator: {url: https://a.example}\nfacilitators: [https://b.example]\n", "gw.yaml:2: facilitators: set either facilitator or facilitators, not both"},
		{"bad url", "facilitators: [https://a.example, ftp://b.example]\n", "facilitators[1]: must be an http:// or https:// URL"},
		{"credentials", "facilitators: ['https://u:p@a.example']\n", "facilitators[0]: must not contain credentials"},
		{"repeated", "facilitators: [https://a.example, https://a.example/]\n", "facilitators[1]: repeats facilitators[0]"},
		{"no url", "facilitators: [{apiKeyEnv: TOKEN}]\n", "facilitators[0].url: a facilitator URL is required"},
		{"api key value", "facilitators: [{url: https://a.example, apiKeyEnv: sk-live-1}]\n", "facilitators[0].apiKeyEnv: must be the name of an environment variable"},
		{"unknown key", "facilitators: [{url: https://a.example, embedded: {devnet: true}}]\n", "facilitators[0].embedded: unknown key"},
		{"not a list", "facilitators: https://a.example\n", "facilitators: must be a list"},
		{"too many", "facilitators: [http://a1, http://a2, http://a3, http://a4, http://a5, http://a6, http://a7, http://a8, http://a9]\n", "at most 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gateway.Parse("gw.yaml", []byte(tc.yaml+tail), nil)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error:\n%v\nwant one containing:\n%s", err, tc.want)
			}
		})
	}
}

// A gateway configured with two facilitators, the first down, is paid
// through the second; the funds move once.
func TestFacilitatorsFailover(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	live := httptest.NewServer(st.Service.Handler())
	t.Cleanup(live.Close)
	e := &env{dev: st.Devnet, payer: st.Accounts[0].PrivateKey, payTo: st.Accounts[1].Address, network: st.Network}
	up := newUpstream(t)
	text := fmt.Sprintf("facilitators:\n  - %s\n  - {url: %s, reservesFunds: true}\nnetwork: %s\npayTo: %s\nroutes: [{path: /paid, upstream: %s, price: $0.001}]\n",
		dead, live.URL, e.network, e.payTo.Hex(), up.URL)
	cfg, err := gateway.Parse("gw.yaml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(t.Context(), cfg, gateway.Deps{Networks: []evm.NetworkConfig{st.Devnet.NetworkConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	before := e.balance(t, e.payTo)
	r, _ := e.pay(t, srv.URL, "/paid")
	if r.status != http.StatusOK {
		t.Fatalf("paid: status %d, body %s", r.status, r.body)
	}
	if s := settlement(t, r); !s.Success {
		t.Errorf("settlement %+v", s)
	}
	if got := new(big.Int).Sub(e.balance(t, e.payTo), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payTo received %s, want 1000", got)
	}
}
