package cli

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// hostile402 serves the shop's devnet token at $0.001 to payee, and
// answers every payment 402 with a failed settlement report. With settle
// it first settles the authorization itself, straight through the token.
func (s *payShop) hostile402(t *testing.T, payee common.Address, settle bool) *httptest.Server {
	t.Helper()
	nets := &evm.Networks{}
	if err := nets.Add(evm.NetworkConfig{Network: x402.Network(s.info.Network), ChainID: s.info.Devnet.ChainID, Assets: []evm.Asset{devnetAsset(s.info)}}); err != nil {
		t.Fatal(err)
	}
	req, err := nets.Requirements(x402.Network(s.info.Network), mustPrice(t, "$0.001"), payee, 300)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get(x402.HeaderPaymentSignature); h != "" {
			if settle {
				s.settleAuthorization(t, h)
			}
			enc, _ := x402.EncodePaymentResponse(&x402.SettleResponse{ErrorReason: x402.ReasonUnexpectedSettleError, ErrorMessage: "settlement failed", Network: req.Network})
			w.Header().Set(x402.HeaderPaymentResponse, enc)
		}
		pr, _ := x402.EncodePaymentRequired(&x402.PaymentRequired{X402Version: x402.V2, Error: "settlement failed", Resource: x402.ResourceInfo{URL: "http://" + r.Host + r.URL.Path}, Accepts: []x402.PaymentRequirements{req}})
		w.Header().Set(x402.HeaderPaymentRequired, pr)
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// settleAuthorization sends the transferWithAuthorization of a
// PAYMENT-SIGNATURE header from devnet account 3 and waits until it is
// mined.
func (s *payShop) settleAuthorization(t *testing.T, header string) {
	ctx := t.Context()
	p, err := x402.DecodePaymentSignature(header)
	if err != nil {
		t.Error(err)
		return
	}
	var ep evm.ExactPayload
	if err := p.Payload.Decode(&ep); err != nil {
		t.Error(err)
		return
	}
	key, err := crypto.HexToECDSA(strings.TrimPrefix(s.info.Devnet.Accounts[3].PrivateKey, "0x"))
	if err != nil {
		t.Error(err)
		return
	}
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: s.eth, Key: key, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Error(err)
		return
	}
	sig, err := evm.ParseSignature(ep.Signature)
	if err != nil {
		t.Error(err)
		return
	}
	num := func(v string) *big.Int { n, _ := new(big.Int).SetString(v, 10); return n }
	a := &evm.Authorization{
		From: common.HexToAddress(ep.Authorization.From), To: common.HexToAddress(ep.Authorization.To),
		Value: num(ep.Authorization.Value), ValidAfter: num(ep.Authorization.ValidAfter), ValidBefore: num(ep.Authorization.ValidBefore),
		Nonce: [32]byte(common.FromHex(ep.Authorization.Nonce)),
	}
	tx, err := sender.Send(ctx, s.token, evm.TransferWithAuthorizationCalldata(a, sig))
	if err != nil {
		t.Error(err)
		return
	}
	if r, err := sender.WaitReceipt(ctx, tx.Hash()); err != nil || r.Status != 1 {
		t.Errorf("settling the authorization: %v", err)
	}
}

// Exit 4 only when nothing can have been taken: the chain shows the
// payment unused. A server that settles the payment and answers 402, or
// a 402 that the client cannot check on chain, is exit 6, and the budget
// keeps counting it.
func TestPayRejectedExitCodes(t *testing.T) {
	s := startPayShop(t)
	t.Setenv(defaultKeyEnv, s.payerKey)
	tok := s.info.Devnet.Token
	// The devnet's token declared by hand: the client knows it but has
	// no RPC endpoint for its chain.
	declared := fmt.Sprintf("%s/%s:6,symbol=USDC,usd,name=%s,version=%s", s.info.Network, tok.Address, tok.Name, tok.Version)
	for _, tc := range []struct {
		name   string
		settle bool
		chain  []string // how the client learns the network
		code   int
	}{
		{"unused, rpc", false, []string{"--devnet-info", s.infoPath}, ExitRejected},
		{"unused, no rpc", false, []string{"--asset", declared}, ExitUnknown},
		{"unused, --rpc", false, []string{"--asset", declared, "--rpc", s.info.Network + "=" + s.info.Devnet.RPCURL}, ExitRejected},
		{"settled by the server", true, []string{"--devnet-info", s.infoPath}, ExitUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payee := freshAddress(t.Name())
			srv := s.hostile402(t, payee, tc.settle)
			budget := filepath.Join(t.TempDir(), "spent.json")
			flags := append([]string{"--budget", "$0.001", "--budget-file", budget}, tc.chain...)
			flags = append(flags, srv.URL+"/report")
			r := payCLI(t, "", append([]string{"pay", "--json"}, flags...)...)
			var got payResult
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatal(err)
			}
			if r.code != tc.code || got.ExitCode != tc.code || got.Paid || got.Price != "0.001 USDC" || got.OutcomeUnknown != (tc.code == ExitUnknown) {
				t.Fatalf("exit %d, json %+v; want exit %d", r.code, got, tc.code)
			}
			moved := tokenBalance(t, t.Context(), s.eth, s.token, payee)
			if want := map[bool]int64{true: 1000, false: 0}[tc.settle]; moved.Cmp(big.NewInt(want)) != 0 {
				t.Errorf("payee received %s, want %d", moved, want)
			}
			if tc.code == ExitUnknown && (got.MaySettleUntil == "" || !strings.Contains(r.stderr, "the server did not confirm; your authorization may still be settled until "+got.MaySettleUntil)) {
				t.Errorf("stderr %q, maySettleUntil %q", r.stderr, got.MaySettleUntil)
			}
			// Whatever the exit code, the refused authorization is valid
			// until it expires and the server could still settle it: the
			// budget still counts it, and nothing more is signed.
			if again := payCLI(t, "", append([]string{"pay"}, flags...)...); again.code != ExitPolicy {
				t.Errorf("paying again: exit %d, want %d", again.code, ExitPolicy)
			}
		})
	}
}

func mustPrice(t *testing.T, s string) x402.Price {
	t.Helper()
	p, err := x402.ParsePrice(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
