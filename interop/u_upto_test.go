package interop

import (
	"fmt"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// The upto cases: a route priced at uptoMaxAtoms of the devnet's plain
// ERC-20 (TestPermitToken, no EIP-3009), paid through Permit2, charging
// uptoUsedAtoms.
const (
	uptoMaxAtoms  = 5000
	uptoUsedAtoms = 1234
)

// uptoEnv is the environment of the upto scripts: the Permit2 test token.
func (w *world) uptoEnv(env map[string]string) map[string]string {
	tok := w.dev.PermitToken()
	out := map[string]string{"ASSET": tok.Address.Hex(), "TOKEN_NAME": tok.Name, "TOKEN_VERSION": tok.Version}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// approvePermit2 has account i approve Permit2 for the Permit2 test token
// (a payer does it once; neither upto client does it itself).
func (w *world) approvePermit2(i int) {
	t := w.t
	t.Helper()
	data := crypto.Keccak256([]byte("approve(address,uint256)"))[:4]
	data = append(data, common.LeftPadBytes(upto.Permit2Address().Bytes(), 32)...)
	data = append(data, common.LeftPadBytes(big.NewInt(1e12).Bytes(), 32)...)
	s, err := evm.NewSender(w.ctx, evm.SenderConfig{Backend: w.dev.Client(), Key: w.accts[i].PrivateKey, ChainID: w.dev.ChainID(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Send(w.ctx, w.dev.PermitToken().Address, data)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitReceipt(w.ctx, tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("approve: %v", err)
	}
}

// tokenBalances snapshots payer and payee balances of the Permit2 token.
type tokenBalances struct {
	w            *world
	payer, payee common.Address
	before       [2]*big.Int
}

func (w *world) tokenBalance(a common.Address) *big.Int {
	w.t.Helper()
	b, err := w.dev.TokenBalanceOf(w.ctx, w.dev.PermitToken().Address, a)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *world) tokenSnapshot(payer, payee common.Address) *tokenBalances {
	return &tokenBalances{w: w, payer: payer, payee: payee, before: [2]*big.Int{w.tokenBalance(payer), w.tokenBalance(payee)}}
}

// moved checks that exactly amount moved from payer to payee.
func (b *tokenBalances) moved(amount int64) {
	b.w.t.Helper()
	down := new(big.Int).Sub(b.before[0], b.w.tokenBalance(b.payer))
	up := new(big.Int).Sub(b.w.tokenBalance(b.payee), b.before[1])
	if down.Int64() != amount || up.Int64() != amount {
		b.w.t.Fatalf("balances: payer down %s, payee up %s; want exactly %d each", down, up, amount)
	}
}

// officialUptoServer starts server-upto.mjs (@x402/express with the upto
// scheme) settling used atoms through the facilitator at facURL.
func (w *world) officialUptoServer(facURL string, used int64) *proc {
	w.t.Helper()
	return w.start("server-upto.mjs", "Server", w.uptoEnv(map[string]string{
		"FACILITATOR_URL": facURL,
		"PAY_TO":          w.addr(acctPayee).Hex(),
		"PRICE_AMOUNT":    fmt.Sprint(uptoMaxAtoms),
		"USED_AMOUNT":     fmt.Sprint(used),
	}))
}

// TestOfficialUptoClientSponsoredByGoFacilitator: a payer without a
// Permit2 allowance pays an @x402/express upto route that declares
// eip2612GasSponsoring: the official upto client signs an EIP-2612 permit
// of Permit2, and go402's facilitator submits it with the transfer
// (settleWithPermit).
func TestOfficialUptoClientSponsoredByGoFacilitator(t *testing.T) {
	w := newWorld(t, 0)
	_, facURL := w.goFacilitator()
	srv := w.start("server-upto.mjs", "Server", w.uptoEnv(map[string]string{
		"FACILITATOR_URL": facURL, "PAY_TO": w.addr(acctPayee).Hex(), "SPONSOR": "1",
		"PRICE_AMOUNT": fmt.Sprint(uptoMaxAtoms), "USED_AMOUNT": fmt.Sprint(uptoUsedAtoms),
	}))
	b := w.tokenSnapshot(w.addr(acctNodePayer), w.addr(acctPayee))
	r := w.runClient("client-upto.mjs", w.uptoEnv(map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.url("/upto")}))
	if r.Status != 200 {
		t.Fatalf("paid: %d %q", r.Status, r.Body)
	}
	w.checkUptoSettled(r.PaymentResponse, uptoUsedAtoms)
	b.moved(uptoUsedAtoms)
	tx, _, err := w.dev.Client().TransactionByHash(w.ctx, common.HexToHash(r.PaymentResponse.Transaction))
	if err != nil {
		t.Fatal(err)
	}
	if sel := tx.Data()[:4]; [4]byte(sel) != [4]byte(crypto.Keccak256([]byte("settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)"))[:4]) {
		t.Errorf("settled with selector %x, want settleWithPermit", sel)
	}
}

// goPayUpto pays url with the go402 client (exact and upto registered) as
// account i.
func (w *world) goPayUpto(i int, url string) (int, string, *client.Receipt) {
	t := w.t
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(w.accts[i].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	nc := w.dev.NetworkConfig()
	nc.Assets = append(nc.Assets, w.dev.PermitTokenAsset())
	assets := &client.Assets{}
	if err := assets.Add(client.EVMAssets(nc)...); err != nil {
		t.Fatal(err)
	}
	reg := new(x402.Registry[x402.SchemeClient])
	if err := upto.RegisterClient(reg, upto.ClientConfig{Signer: signer}); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(signer, client.Config{Assets: assets, Schemes: reg})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r, ok := client.ReceiptFromResponse(resp)
	if !ok {
		t.Fatalf("no receipt: %d %s", resp.StatusCode, body)
	}
	return resp.StatusCode, string(body), r
}

// checkUptoSettled checks an upto settlement of amount: a mined
// transaction, or none for 0.
func (w *world) checkUptoSettled(s *x402.SettleResponse, amount int64) {
	w.t.Helper()
	if s == nil || !s.Success || s.Amount == nil || *s.Amount != x402.NewAmount(uint64(amount)) {
		w.t.Fatalf("settlement %+v, want success of %d", s, amount)
	}
	if amount == 0 {
		if s.Transaction != "" {
			w.t.Errorf("a settlement of 0 has transaction %s", s.Transaction)
		}
		return
	}
	w.checkSettled(s, w.dev.Network())
}

// TestGoClientPaysOfficialUptoServer: the go402 client pays an
// @x402/express upto route (maximum uptoMaxAtoms) that charges
// uptoUsedAtoms, settled by go402's facilitator and by the official one.
func TestGoClientPaysOfficialUptoServer(t *testing.T) {
	w := newWorld(t, 0)
	w.approvePermit2(acctGoPayer)
	_, goFacURL := w.goFacilitator()
	nodeFac := w.start("facilitator-v2.mjs", "Facilitator", map[string]string{"PRIVATE_KEY": w.key(acctNodeFac), "UPTO": "1"})
	for _, c := range []struct{ name, url string }{{"go402 facilitator", goFacURL}, {"official facilitator", nodeFac.url("")}} {
		t.Run(c.name, func(t *testing.T) {
			w := w.sub(t)
			srv := w.officialUptoServer(c.url, uptoUsedAtoms)
			b := w.tokenSnapshot(w.addr(acctGoPayer), w.addr(acctPayee))
			status, body, rcpt := w.goPayUpto(acctGoPayer, srv.url("/upto"))
			if status != 200 || body != `{"paid":true,"served":1}` {
				t.Fatalf("paid: %d %q", status, body)
			}
			if rcpt.Option.Requirements.Scheme != upto.Scheme || rcpt.Option.Requirements.Amount != x402.NewAmount(uptoMaxAtoms) {
				t.Errorf("paid option %+v, want upto of %d", rcpt.Option.Requirements, uptoMaxAtoms)
			}
			w.checkUptoSettled(rcpt.Settlement, uptoUsedAtoms)
			b.moved(uptoUsedAtoms)
		})
	}
}

// TestOfficialUptoClientWithGoFacilitator: the official upto client
// (@x402/evm 2.27) pays an @x402/express upto route whose facilitator is
// go402's: go402 verifies the official payload at the maximum and settles
// the used amount, and nothing for 0.
func TestOfficialUptoClientWithGoFacilitator(t *testing.T) {
	w := newWorld(t, 0)
	w.approvePermit2(acctNodePayer)
	_, facURL := w.goFacilitator()
	for _, used := range []int64{uptoUsedAtoms, 0} {
		t.Run(fmt.Sprintf("used %d", used), func(t *testing.T) {
			w := w.sub(t)
			srv := w.officialUptoServer(facURL, used)
			b := w.tokenSnapshot(w.addr(acctNodePayer), w.addr(acctPayee))
			r := w.runClient("client-upto.mjs", w.uptoEnv(map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.url("/upto")}))
			if r.Status != 200 || r.Body != `{"paid":true,"served":1}` {
				t.Fatalf("paid: %d %q", r.Status, r.Body)
			}
			w.checkUptoSettled(r.PaymentResponse, used)
			b.moved(used)
		})
	}
}

// newNonce is a random Permit2 nonce.
func newNonce() (*big.Int, error) { return permit2.NewNonce(nil) }
