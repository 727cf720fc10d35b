package interop

import (
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// goBatchPayer is the go402 batch-settlement payer of account i, its
// channels in the JSON file at path, reading the devnet for recovery.
func (w *world) goBatchPayer(i int, path string) *batchsettlement.Payer {
	t := w.t
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(w.accts[i].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	store, err := batchsettlement.OpenChannelStore(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := batchsettlement.NewPayer(batchsettlement.PayerConfig{
		Signer: signer,
		Store:  store,
		Reader: batchsettlement.NewRPCChannelReader(map[x402.Network]string{w.network(): w.dev.RPCURL()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// goBatchPay pays url n times with a go402 client around payer; every
// answer must be 200 with body want and a successful PAYMENT-RESPONSE. It
// returns nothing: the caller reads the channel on chain.
func (w *world) goBatchPay(payer *batchsettlement.Payer, url string, n int, want string) {
	t := w.t
	t.Helper()
	reg := new(x402.Registry[x402.SchemeClient])
	if err := reg.Register(x402.V2, batchsettlement.Scheme, "eip155:*", payer); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(w.nets)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Schemes: reg, Assets: assets})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r, ok := client.ReceiptFromResponse(resp)
		if resp.StatusCode != 200 || (want != "" && string(body) != want) || !ok || r.Settlement == nil || !r.Settlement.Success {
			t.Fatalf("call %d: %d %q, receipt %+v", i, resp.StatusCode, body, r)
		}
	}
}

// goClientBatchFlow is the go402 batch-settlement client against an
// official batch-settlement server at url: ten paid calls, claim and
// settlement (payee +10 × price exactly), three more calls, a corrective
// 402 round trip after the client loses its channel file, and a
// cooperative refund of the rest.
func (w *world) goClientBatchFlow(url string, claimSettle func()) {
	t := w.t
	t.Helper()
	dir := t.TempDir()
	payerAddr := w.addr(acctGoPayer)
	payeeBefore, payerBefore := w.balance(w.addr(acctPayee)), w.balance(payerAddr)
	payer := w.goBatchPayer(acctGoPayer, filepath.Join(dir, "channels.json"))
	req := w.batchRequirements(url)
	id, err := payer.Channel(req)
	if err != nil {
		t.Fatal(err)
	}

	w.goBatchPay(payer, url, 10, "")
	claimSettle()
	if g := w.payeeGain(payeeBefore); g.Int64() != 10*priceAtoms {
		t.Fatalf("payee gained %s after claim + settle, want exactly %d", g, 10*priceAtoms)
	}
	if _, claimed := w.channelOnChain(id); claimed.Int64() != 10*priceAtoms {
		t.Fatalf("totalClaimed %s, want %d", claimed, 10*priceAtoms)
	}

	t.Log("three more calls, then the client loses its state: corrective 402")
	w.goBatchPay(payer, url, 3, "")
	lost := w.goBatchPayer(acctGoPayer, filepath.Join(dir, "lost.json"))
	bal0, _ := w.channelOnChain(id)
	w.goBatchPay(lost, url, 2, "")
	if bal, _ := w.channelOnChain(id); bal.Cmp(bal0) != 0 {
		t.Fatalf("the recovering client deposited: channel balance %s, was %s", bal, bal0)
	}

	t.Log("cooperative refund")
	res, err := lost.Refund(w.ctx, nil, url, id, nil)
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	if res.Settlement == nil || !res.Settlement.Success {
		t.Fatalf("refund: %+v", res)
	}
	const charged = 15 * priceAtoms
	if d := new(big.Int).Sub(payerBefore, w.balance(payerAddr)); d.Int64() != charged {
		t.Fatalf("payer is down %s after the refund, want exactly the %d charged", d, charged)
	}
	if bal, _ := w.channelOnChain(id); bal.Int64() != charged {
		t.Fatalf("channel balance %s after the refund, want %d", bal, charged)
	}
}

// batchRequirements reads the batch-settlement requirements of url from
// its unpaid 402.
func (w *world) batchRequirements(url string) x402.PaymentRequirements {
	t := w.t
	t.Helper()
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.DecodePaymentRequired(resp.Header.Get("PAYMENT-REQUIRED"))
	if err != nil {
		t.Fatalf("402 of %s: %v", url, err)
	}
	for _, a := range pr.Accepts {
		if a.Scheme == batchsettlement.Scheme {
			return a
		}
	}
	t.Fatalf("%s offers no batch-settlement: %+v", url, pr.Accepts)
	return x402.PaymentRequirements{}
}

// TestGoBatchClientPaysOfficialServer: the go402 batch-settlement client
// pays an official @x402/express batch-settlement server that delegates
// the receiver authorizer to go402's facilitator, and one that uses the
// official facilitator.
func TestGoBatchClientPaysOfficialServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fac  func(w *world) string
	}{
		{"go402 facilitator", func(w *world) string { _, u := w.goBatchFacilitator(); return u }},
		{"official facilitator", func(w *world) string { return w.officialBatchFacilitator() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, 0)
			srv := w.officialBatchServer(tc.fac(w), t.TempDir())
			w.goClientBatchFlow(srv.url("/paid"), func() { t.Logf("claim-settle: %s", w.claimSettle(srv)) })
		})
	}
}
