package interop

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// verdict is what a facilitator's POST /verify answered.
type verdict struct {
	Status  int
	IsValid bool   `json:"isValid"`
	Reason  string `json:"invalidReason"`
	Message string `json:"invalidMessage"`
	Error   string `json:"error"`
}

func (w *world) postVerify(facURL string, body []byte) verdict {
	w.t.Helper()
	var v verdict
	v.Status = w.post(facURL+"/verify", body, &v)
	return v
}

// settlement is what a facilitator's POST /settle answered.
type settlement struct {
	Status      int
	Success     bool   `json:"success"`
	Reason      string `json:"errorReason"`
	Message     string `json:"errorMessage"`
	Transaction string `json:"transaction"`
	Error       string `json:"error"`
}

func (w *world) postSettle(facURL string, body []byte) settlement {
	w.t.Helper()
	var s settlement
	s.Status = w.post(facURL+"/settle", body, &s)
	return s
}

// post sends body to url and decodes the JSON answer into out; it returns
// the HTTP status.
func (w *world) post(url string, body []byte, out any) int {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, out); err != nil {
		w.t.Fatalf("%s: status %d, body not JSON: %q", url, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// settleWant is what one facilitator's POST /settle must answer.
type settleWant struct {
	// reason is the errorReason of a refusal; "" means the facilitator
	// settles (success:true with a mined transaction).
	reason string
	// moves is what a success moves from the payer to the payee, in
	// atomic units.
	moves int64
	// tx, if set, is the transaction a success must name: that of an
	// earlier settlement of the same authorization, answered again.
	tx string
	// prefix makes reason a prefix of the errorReason, for an answer that
	// carries an error text instead of a code.
	prefix bool
}

// refused is the settleWant of a refusal with reason.
func refused(reason string) settleWant { return settleWant{reason: reason} }

// tokenBalances returns the token balance of every devnet account.
func (w *world) tokenBalances() []*big.Int {
	w.t.Helper()
	out := make([]*big.Int, len(w.accts))
	for i := range w.accts {
		out[i] = w.balance(w.addr(i))
	}
	return out
}

// checkSettle posts body to facURL's /settle and checks the answer against
// want and the token balances of every devnet account: a refusal moves
// nothing, a success moves exactly want.moves from payer to payee.
func (w *world) checkSettle(who, facURL string, body []byte, payer, payee common.Address, want settleWant) {
	t := w.t
	t.Helper()
	before := w.tokenBalances()
	s := w.postSettle(facURL, body)
	t.Logf("%s /settle: %+v", who, s)
	switch {
	case s.Status != http.StatusOK:
		t.Errorf("%s /settle: status %d, want 200", who, s.Status)
	case want.reason == "" && (!s.Success || s.Transaction == ""):
		t.Errorf("%s /settle refused a payment it settles: %+v", who, s)
	case want.reason == "" && want.tx != "" && s.Transaction != want.tx:
		t.Errorf("%s /settle: transaction %s, want the first settlement's %s", who, s.Transaction, want.tx)
	case want.reason == "":
	case s.Success:
		t.Errorf("%s /settle settled a payment it refuses (%s): %+v", who, want.reason, s)
	case want.prefix && !strings.HasPrefix(s.Reason, want.reason):
		t.Errorf("%s /settle: errorReason %q, want one starting with %q", who, s.Reason, want.reason)
	case !want.prefix && s.Reason != want.reason:
		t.Errorf("%s /settle: errorReason %q, want %q", who, s.Reason, want.reason)
	case s.Transaction != "":
		t.Errorf("%s /settle: a refusal names transaction %q", who, s.Transaction)
	}
	if want.reason == "" && want.tx == "" && s.Transaction != "" {
		w.checkSettled(&x402.SettleResponse{Success: s.Success, Transaction: s.Transaction}, "")
	}
	after := w.tokenBalances()
	for i := range before {
		delta := new(big.Int).Sub(after[i], before[i])
		var expect int64
		switch w.addr(i) {
		case payer:
			expect = -want.moves
		case payee:
			expect = want.moves
		}
		if delta.Cmp(big.NewInt(expect)) != 0 {
			t.Errorf("%s /settle: account %d (%s) moved by %s, want %d", who, i, w.addr(i).Hex(), delta, expect)
		}
	}
}

// sign signs req with key (clock now) and returns the payload of an
// x402 payment of the given version.
func (w *world) sign(key *ecdsa.PrivateKey, version int, req x402.PaymentRequirements, now func() time.Time) x402.Object {
	t := w.t
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.CreatePayload(w.ctx, version, req)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// jsonTree returns the JSON encoding of v as a generic JSON tree, ready to
// be tampered with.
func jsonTree(t *testing.T, v any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, v), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signedRequest signs req with key (clock now) and returns the facilitator
// request body as a generic JSON tree, ready to be tampered with.
func (w *world) signedRequest(key *ecdsa.PrivateKey, req x402.PaymentRequirements, now func() time.Time) map[string]any {
	w.t.Helper()
	obj := w.sign(key, x402.V2, req, now)
	fr := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj,
		Resource: &x402.ResourceInfo{URL: "http://127.0.0.1/weather"}}, &req)
	return jsonTree(w.t, fr)
}

// path returns the JSON object at the dotted keys of m.
func path(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadPaymentsRejectedByBothFacilitators sends the same bad payments to
// go402's facilitator and the official v2 facilitator, first to POST
// /verify and then to POST /settle (same bodies), and compares the answers
// and the token balances. Every difference is asserted here and documented
// in docs/architecture.md.
func TestBadPaymentsRejectedByBothFacilitators(t *testing.T) {
	w := newWorld(t, 0)
	goFac, goURL := w.goFacilitator()
	nodeURL := w.officialFacilitator()
	payer := w.accts[acctNodePayer].PrivateKey
	p, err := x402.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	req, err := w.nets.Requirements(w.network(), p, w.addr(acctPayee), 60)
	if err != nil {
		t.Fatal(err)
	}

	// The replayed payment is first settled once, through go402.
	replayed := w.signedRequest(payer, req, nil)
	var fr x402.FacilitatorRequest
	if err := json.Unmarshal(mustJSON(t, replayed), &fr); err != nil {
		t.Fatal(err)
	}
	first, err := goFac.Settle(w.ctx, &fr)
	if err != nil || !first.Success {
		t.Fatalf("settling the payment to replay: %+v, %v", first, err)
	}

	// The official facilitator does not simulate before it settles: a used
	// authorization fails when the transaction is built.
	const officialUsed = "invalid_exact_evm_transaction_failed"
	w.checkBadPayments(goURL, nodeURL, []badPayment{
		// The control is settled by go402, so the official facilitator
		// then sees a used authorization.
		{"control: valid", func() map[string]any { return w.signedRequest(payer, req, nil) }, "", "",
			settleWant{moves: priceAtoms}, refused(officialUsed)},
		{"tampered amount", func() map[string]any {
			m := w.signedRequest(payer, req, nil)
			path(m, "paymentPayload", "payload", "authorization")["value"] = "1000000"
			return m
		}, "invalid_exact_evm_payload_authorization_value_mismatch", "invalid_exact_evm_signature",
			refused("invalid_exact_evm_payload_authorization_value_mismatch"), refused("invalid_exact_evm_signature")},
		{"underpaid", func() map[string]any {
			m := w.signedRequest(payer, req, nil)
			path(m, "paymentRequirements")["amount"] = "2000"
			path(m, "paymentPayload", "accepted")["amount"] = "2000"
			return m
		}, "invalid_exact_evm_payload_authorization_value_mismatch", "invalid_exact_evm_payload_authorization_value_mismatch",
			refused("invalid_exact_evm_payload_authorization_value_mismatch"), refused("invalid_exact_evm_payload_authorization_value_mismatch")},
		{"wrong recipient", func() map[string]any {
			m := w.signedRequest(payer, req, nil)
			other := w.addr(acctForeign).Hex()
			path(m, "paymentRequirements")["payTo"] = other
			path(m, "paymentPayload", "accepted")["payTo"] = other
			return m
		}, "invalid_exact_evm_recipient_mismatch", "invalid_exact_evm_recipient_mismatch",
			refused("invalid_exact_evm_recipient_mismatch"), refused("invalid_exact_evm_recipient_mismatch")},
		{"expired", func() map[string]any {
			return w.signedRequest(payer, req, func() time.Time { return time.Now().Add(-time.Hour) })
		}, "invalid_exact_evm_payload_authorization_valid_before", "invalid_exact_evm_payload_authorization_valid_before",
			refused("invalid_exact_evm_payload_authorization_valid_before"), refused("invalid_exact_evm_payload_authorization_valid_before")},
		// go402 answers a repeated settle of an authorization it settled
		// with the first result: the same transaction, nothing moves again.
		// The official facilitator names the replay after its failed
		// simulation, from authorizationState read through
		// Multicall3.tryAggregate.
		{"replayed", func() map[string]any { return replayed }, "invalid_exact_evm_nonce_already_used", "invalid_exact_evm_nonce_already_used",
			settleWant{tx: first.Transaction}, refused(officialUsed)},
		{"foreign signer", func() map[string]any {
			m := w.signedRequest(w.accts[acctForeign].PrivateKey, req, nil)
			path(m, "paymentPayload", "payload", "authorization")["from"] = w.addr(acctNodePayer).Hex()
			return m
		}, "invalid_exact_evm_signature", "invalid_exact_evm_signature",
			refused("invalid_exact_evm_signature"), refused("invalid_exact_evm_signature")},
		{"long-lived (valid for an hour, requirements say 60 s)", func() map[string]any {
			// Signed for a one-hour timeout; the server asks for 60 s. The
			// signature does not cover maxTimeoutSeconds, so it stays valid.
			long := req
			long.MaxTimeoutSeconds = 3600
			m := w.signedRequest(payer, long, nil)
			path(m, "paymentRequirements")["maxTimeoutSeconds"] = 60
			path(m, "paymentPayload", "accepted")["maxTimeoutSeconds"] = 60
			return m
		}, "invalid_exact_evm_payload_authorization_valid_before", "",
			refused("invalid_exact_evm_payload_authorization_valid_before"), settleWant{moves: priceAtoms}},
		{"zero amount", func() map[string]any {
			zero := req
			zero.Amount = x402.Amount{}
			return w.signedRequest(payer, zero, nil)
		}, "invalid_payment_requirements", "",
			refused("invalid_payment_requirements"), settleWant{moves: 0}},
	})
}

// badPayment is one payment sent to both facilitators.
type badPayment struct {
	name string
	body func() map[string]any
	// The /verify reason code of each facilitator, go402 then official;
	// "" means that facilitator accepts the payment.
	goReason, nodeReason string
	// What each facilitator's /settle answers, go402 first (the official
	// facilitator then gets the same body).
	goSettle, nodeSettle settleWant
}

// checkBadPayments sends each payment to go402's facilitator (goURL) and
// the official one (nodeURL), first to POST /verify and then to POST
// /settle (same bodies), and checks their answers and the token balances.
func (w *world) checkBadPayments(goURL, nodeURL string, cases []badPayment) {
	for _, c := range cases {
		w.t.Run(c.name, func(t *testing.T) {
			w := w.sub(t)
			body := mustJSON(t, c.body())
			g, n := w.postVerify(goURL, body), w.postVerify(nodeURL, body)
			t.Logf("go402:    %+v", g)
			t.Logf("official: %+v", n)
			checkVerdict(t, "go402", g, c.goReason)
			checkVerdict(t, "official", n, c.nodeReason)
			if c.goReason != "" && g.Message == "" {
				t.Errorf("go402 gave no invalidMessage")
			}
			w.checkSettle("go402", goURL, body, w.addr(acctNodePayer), w.addr(acctPayee), c.goSettle)
			w.checkSettle("official", nodeURL, body, w.addr(acctNodePayer), w.addr(acctPayee), c.nodeSettle)
		})
	}
}

// checkVerdict checks one facilitator's answer: valid when want is "",
// else refused with HTTP 200 and reason want.
func checkVerdict(t *testing.T, who string, v verdict, want string) {
	t.Helper()
	switch {
	case want == "" && !v.IsValid:
		t.Errorf("%s rejected a payment it accepts: %+v", who, v)
	case want == "":
	case v.IsValid:
		t.Errorf("%s accepted a payment it rejects (%s): %+v", who, want, v)
	case v.Status != http.StatusOK:
		t.Errorf("%s answered a bad payment with status %d, want 200", who, v.Status)
	case v.Reason != want:
		t.Errorf("%s: reason %q, want %q", who, v.Reason, want)
	}
}

// signedRequestV1 signs req with key (clock now) and returns the v1
// facilitator request body (paymentRequirements in v1 shape, network
// base-sepolia) as a generic JSON tree.
func (w *world) signedRequestV1(key *ecdsa.PrivateKey, req x402.PaymentRequirements, now func() time.Time) map[string]any {
	t := w.t
	t.Helper()
	obj := w.sign(key, x402.V1, req, now)
	reqV1, err := x402.RequirementsV1(&req, &x402.ResourceInfo{URL: "http://127.0.0.1/weather", MimeType: "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	fr := x402.NewFacilitatorRequestV1(&x402.PaymentPayloadV1{X402Version: 1, Scheme: "exact", Network: v1Network, Payload: obj}, &reqV1)
	return jsonTree(t, fr)
}

// TestBadV1PaymentsRejectedByBothFacilitators: the same check answers with
// a different code in v1 than in v2 in the official facilitator
// (invalid_exact_evm_authorization_value for v1), and go402 follows it, at
// /verify and at /settle.
func TestBadV1PaymentsRejectedByBothFacilitators(t *testing.T) {
	w := newWorld(t, v1ChainID)
	_, goURL := w.goFacilitator()
	nodeURL := w.officialFacilitator()
	payer := w.accts[acctNodePayer].PrivateKey
	p, err := x402.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	req, err := w.nets.Requirements(w.network(), p, w.addr(acctPayee), 60)
	if err != nil {
		t.Fatal(err)
	}
	w.checkBadPayments(goURL, nodeURL, []badPayment{
		// Settled by go402 first, so the official facilitator then sees a
		// used authorization. Its v1 scheme reports the failed transaction
		// with viem's error text as the errorReason, not with a code.
		{"control: valid", func() map[string]any { return w.signedRequestV1(payer, req, nil) }, "", "",
			settleWant{moves: priceAtoms}, settleWant{reason: `The contract function "transferWithAuthorization" reverted`, prefix: true}},
		{"underpaid", func() map[string]any {
			m := w.signedRequestV1(payer, req, nil)
			path(m, "paymentRequirements")["maxAmountRequired"] = "2000"
			return m
		}, "invalid_exact_evm_authorization_value", "invalid_exact_evm_authorization_value",
			refused("invalid_exact_evm_authorization_value"), refused("invalid_exact_evm_authorization_value")},
		{"expired", func() map[string]any {
			return w.signedRequestV1(payer, req, func() time.Time { return time.Now().Add(-time.Hour) })
		}, "invalid_exact_evm_payload_authorization_valid_before", "invalid_exact_evm_payload_authorization_valid_before",
			refused("invalid_exact_evm_payload_authorization_valid_before"), refused("invalid_exact_evm_payload_authorization_valid_before")},
	})
}
