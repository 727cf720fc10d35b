package interop

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// Batch-settlement interop: the official @x402/evm 2.27.0 batch-settlement
// client, server and facilitator (js/*-batch.mjs) against go402's.

// batchDeposit is what the official client deposits in the batch tests:
// enough for 100 calls at priceAtoms, so one deposit serves them all.
const batchDeposit = 100 * priceAtoms

// batchClientResult is the JSON line printed by client-batch.mjs.
type batchClientResult struct {
	OK               bool                 `json:"ok"`
	Statuses         []int                `json:"statuses"`
	Bodies           []string             `json:"bodies"`
	PaymentResponses []*batchPaymentResp  `json:"paymentResponses"`
	Errors           []*string            `json:"errors"`
	Deposits         int                  `json:"deposits"`
	Vouchers         int                  `json:"vouchers"`
	Refund           *x402.SettleResponse `json:"refund"`
	Error            string               `json:"error"`
}

// batchPaymentResp is a decoded PAYMENT-RESPONSE of a batch-settlement call.
type batchPaymentResp struct {
	Success     bool   `json:"success"`
	Transaction string `json:"transaction"`
	Network     string `json:"network"`
	Payer       string `json:"payer"`
	Amount      string `json:"amount"`
	Extra       struct {
		ChargedAmount string `json:"chargedAmount"`
		ChannelState  struct {
			ChannelID               string `json:"channelId"`
			Balance                 string `json:"balance"`
			TotalClaimed            string `json:"totalClaimed"`
			ChargedCumulativeAmount string `json:"chargedCumulativeAmount"`
		} `json:"channelState"`
	} `json:"extra"`
}

// batchClient runs client-batch.mjs as account i against url (COUNT calls,
// channel files under dir) and returns its result line, successful or not.
func (w *world) batchClient(i int, url, dir string, count int, env map[string]string) batchClientResult {
	t := w.t
	t.Helper()
	e := map[string]string{
		"PRIVATE_KEY": w.key(i),
		"URL":         url,
		"STORAGE_DIR": dir,
		"COUNT":       fmt.Sprint(count),
		"DEPOSIT":     fmt.Sprint(batchDeposit),
	}
	for k, v := range env {
		e[k] = v
	}
	p := w.start("client-batch.mjs", "", e)
	select {
	case <-p.done:
	case <-w.ctx.Done():
		t.Fatalf("client-batch.mjs: %v", w.ctx.Err())
	}
	out := strings.TrimSpace(p.out.String())
	if k := strings.LastIndexByte(out, '\n'); k >= 0 {
		out = out[k+1:]
	}
	var r batchClientResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("client-batch.mjs: last line is not a result: %q (%v)\nstderr: %s", out, err, p.err.String())
	}
	return r
}

// checkAllPaid fails unless every one of n calls returned 200 with a
// PAYMENT-RESPONSE charging priceAtoms, cumulative totals advancing by
// priceAtoms from base.
func (r batchClientResult) checkAllPaid(t *testing.T, n int, base int64) {
	t.Helper()
	if r.Error != "" {
		t.Fatalf("client error: %s", r.Error)
	}
	if len(r.Statuses) != n {
		t.Fatalf("%d calls reported, want %d", len(r.Statuses), n)
	}
	for i, s := range r.Statuses {
		if s != 200 {
			msg := ""
			if r.Errors[i] != nil {
				msg = *r.Errors[i]
			}
			t.Fatalf("call %d: status %d, body %q, error %s", i, s, r.Bodies[i], msg)
		}
		pr := r.PaymentResponses[i]
		if pr == nil || !pr.Success {
			t.Fatalf("call %d: payment response %+v", i, pr)
		}
		if pr.Extra.ChargedAmount != fmt.Sprint(priceAtoms) {
			t.Fatalf("call %d: chargedAmount %q, want %d", i, pr.Extra.ChargedAmount, priceAtoms)
		}
		if c := pr.Extra.ChannelState.ChargedCumulativeAmount; c != "" && c != fmt.Sprint(base+int64(i+1)*priceAtoms) {
			t.Fatalf("call %d: chargedCumulativeAmount %s, want %d", i, c, base+int64(i+1)*priceAtoms)
		}
	}
}

// channelID returns the channel id of the last payment response.
func (r batchClientResult) channelID(t *testing.T) common.Hash {
	t.Helper()
	for i := len(r.PaymentResponses) - 1; i >= 0; i-- {
		if pr := r.PaymentResponses[i]; pr != nil && pr.Extra.ChannelState.ChannelID != "" {
			return common.HexToHash(pr.Extra.ChannelState.ChannelID)
		}
	}
	t.Fatal("no payment response carries a channelState.channelId")
	return common.Hash{}
}

// channelOnChain reads channels(id) on the devnet's x402BatchSettlement.
func (w *world) channelOnChain(id common.Hash) (balance, totalClaimed *big.Int) {
	w.t.Helper()
	data, err := batchsettlement.EncodeChannels(id)
	if err != nil {
		w.t.Fatal(err)
	}
	to := batchsettlement.SettlementContract()
	ret, err := w.dev.Client().CallContract(w.ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		w.t.Fatalf("channels(%s): %v", id, err)
	}
	b, c, err := batchsettlement.DecodeChannels(ret)
	if err != nil {
		w.t.Fatal(err)
	}
	return b.Big(), c.Big()
}

// escrowBalance is the token balance held by the x402BatchSettlement
// contract (all deposits not yet settled or refunded).
func (w *world) escrowBalance() *big.Int {
	w.t.Helper()
	b, err := w.dev.TokenBalanceOf(w.ctx, w.token.Address, batchsettlement.SettlementContract())
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// officialBatchFacilitator starts facilitator-batch.mjs (settlement and
// receiver-authorizer key acctNodeFac) and returns its URL.
func (w *world) officialBatchFacilitator() string {
	w.t.Helper()
	p := w.start("facilitator-batch.mjs", "Facilitator", map[string]string{
		"PRIVATE_KEY":    w.key(acctNodeFac),
		"AUTHORIZER_KEY": w.key(acctNodeFac),
	})
	return p.url("")
}

// officialBatchServer starts server-batch.mjs (@x402/express with the
// official batch-settlement server scheme) using the facilitator at facURL,
// channel files under dir.
func (w *world) officialBatchServer(facURL, dir string) *proc {
	w.t.Helper()
	return w.start("server-batch.mjs", "Server", map[string]string{
		"FACILITATOR_URL": facURL,
		"PAY_TO":          w.addr(acctPayee).Hex(),
		"PRICE_AMOUNT":    fmt.Sprint(priceAtoms),
		"STORAGE_DIR":     dir,
	})
}

// claimSettle makes the official server claim and settle at once.
func (w *world) claimSettle(p *proc) string {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, p.url("/admin/claim-settle"), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		w.t.Fatalf("claim-settle: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

// payeeGain returns how much the payee's balance rose since before.
func (w *world) payeeGain(before *big.Int) *big.Int {
	return new(big.Int).Sub(w.balance(w.addr(acctPayee)), before)
}
