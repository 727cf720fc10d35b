package interop

import (
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// uptoRequest signs an upto payment of account payer for a route priced at
// uptoMaxAtoms of the Permit2 token, naming facilitator fac in its witness,
// with mutate applied to the permit before signing, and returns the body
// of a /verify or /settle request whose requirements' amount is amount.
func (w *world) uptoRequest(payer devnet.Account, fac common.Address, amount uint64, mutate func(*upto.Permit)) []byte {
	t := w.t
	t.Helper()
	tok := w.dev.PermitToken()
	extra, _ := x402.NewObject(upto.Extra{Name: tok.Name, Version: tok.Version, FacilitatorAddress: fac.Hex(), AssetTransferMethod: "permit2"})
	accepted := x402.PaymentRequirements{
		Scheme: upto.Scheme, Network: w.network(), Amount: x402.NewAmount(uptoMaxAtoms), Asset: tok.Address.Hex(),
		PayTo: w.addr(acctPayee).Hex(), MaxTimeoutSeconds: 60, Extra: extra,
	}
	now := time.Now().Unix()
	nonce, err := newNonce()
	if err != nil {
		t.Fatal(err)
	}
	pm := &upto.Permit{
		From: payer.Address, Token: tok.Address, Amount: big.NewInt(uptoMaxAtoms), Spender: upto.ProxyAddress(),
		Nonce: nonce, Deadline: big.NewInt(now + 60), To: w.addr(acctPayee), Facilitator: fac, ValidAfter: new(big.Int),
	}
	if mutate != nil {
		mutate(pm)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := pm.Digest(w.dev.ChainID().Uint64())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := evm.SignDigest(w.ctx, signer, digest)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := upto.Encode(pm, sig[:])
	if err != nil {
		t.Fatal(err)
	}
	obj, err := x402.NewObject(wire)
	if err != nil {
		t.Fatal(err)
	}
	req := accepted
	req.Amount = x402.NewAmount(amount)
	body, err := json.Marshal(x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: accepted, Payload: obj}, &req))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestBadUptoPaymentsRejectedByBothFacilitators: the same bad upto
// payments (each naming the facilitator it is sent to) get the same reason
// code from go402's facilitator and from the official one (@x402/evm
// 2.27), and the same settlements succeed.
func TestBadUptoPaymentsRejectedByBothFacilitators(t *testing.T) {
	w := newWorld(t, 0)
	w.approvePermit2(acctGoPayer)
	_, goURL := w.goFacilitator()
	nodeURL := w.start("facilitator-v2.mjs", "Facilitator", map[string]string{"PRIVATE_KEY": w.key(acctNodeFac), "UPTO": "1"}).url("")
	facs := []struct {
		who, url string
		addr     common.Address
	}{{"go402", goURL, w.addr(acctGoFac)}, {"official", nodeURL, w.addr(acctNodeFac)}}
	payer := w.accts[acctGoPayer]
	now := time.Now().Unix()
	cases := []struct {
		name   string
		payer  devnet.Account
		mutate func(*upto.Permit)
		want   string
	}{
		{"valid", payer, nil, ""},
		{"wrong spender", payer, func(p *upto.Permit) { p.Spender = common.HexToAddress("0x402085c248EeA27D92E8b30b2C58ed07f9E20001") }, string(x402.ReasonPermit2Spender)},
		{"wrong recipient", payer, func(p *upto.Permit) { p.To = w.addr(acctForeign) }, string(x402.ReasonPermit2RecipientMismatch)},
		{"another facilitator", payer, func(p *upto.Permit) { p.Facilitator = w.addr(acctForeign) }, string(x402.ReasonUptoFacilitatorMismatch)},
		{"expired deadline", payer, func(p *upto.Permit) { p.Deadline = big.NewInt(now + 2) }, string(x402.ReasonPermit2DeadlineExpired)},
		{"not yet valid", payer, func(p *upto.Permit) { p.ValidAfter = big.NewInt(now + 600) }, string(x402.ReasonPermit2NotYetValid)},
		{"permitted amount is not the maximum", payer, func(p *upto.Permit) { p.Amount = big.NewInt(uptoMaxAtoms - 1) }, string(x402.ReasonPermit2AmountMismatch)},
		{"no Permit2 allowance", w.accts[acctNodePayer], nil, string(x402.ReasonPermit2AllowanceRequired)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := w.sub(t)
			for _, f := range facs {
				v := w.postVerify(f.url, w.uptoRequest(c.payer, f.addr, uptoMaxAtoms, c.mutate))
				if c.want == "" && !v.IsValid || c.want != "" && (v.IsValid || v.Reason != c.want) {
					t.Errorf("%s: /verify %d valid=%v %q (%s %s), want %q", f.who, v.Status, v.IsValid, v.Reason, v.Message, v.Error, c.want)
				}
			}
		})
	}
	t.Run("settle above the maximum", func(t *testing.T) {
		w := w.sub(t)
		for _, f := range facs {
			s := w.postSettle(f.url, w.uptoRequest(payer, f.addr, uptoMaxAtoms+1, nil))
			if s.Success || s.Reason != string(x402.ReasonUptoSettlementExceedsAmount) {
				t.Errorf("%s: /settle %d %+v, want %s", f.who, s.Status, s, x402.ReasonUptoSettlementExceedsAmount)
			}
		}
	})
	t.Run("settle less, and 0", func(t *testing.T) {
		w := w.sub(t)
		for _, f := range facs {
			b := w.tokenSnapshot(payer.Address, w.addr(acctPayee))
			s := w.postSettle(f.url, w.uptoRequest(payer, f.addr, uptoUsedAtoms, nil))
			if !s.Success || s.Transaction == "" {
				t.Fatalf("%s: /settle %d %+v", f.who, s.Status, s)
			}
			b.moved(uptoUsedAtoms)
			b = w.tokenSnapshot(payer.Address, w.addr(acctPayee))
			var zero x402.SettleResponse
			w.post(f.url+"/settle", w.uptoRequest(payer, f.addr, 0, nil), &zero)
			if !zero.Success || zero.Transaction != "" || zero.Amount == nil || !zero.Amount.IsZero() {
				t.Errorf("%s: /settle of 0: %+v", f.who, zero)
			}
			b.moved(0)
		}
	})
}
