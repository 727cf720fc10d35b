package evm_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// reencode rewrites a signed EIP-3009 payload the way a copier would to make
// it look new: upper-case hex and the signature's v as 0/1 instead of 27/28.
func reencode(t *testing.T, o x402.Object) x402.Object {
	t.Helper()
	var p evm.ExactPayload
	if err := json.Unmarshal(o, &p); err != nil {
		t.Fatal(err)
	}
	sig := strings.TrimPrefix(p.Signature, "0x")
	v := sig[128:]
	switch v {
	case "1b":
		v = "00"
	case "1c":
		v = "01"
	}
	p.Signature = "0x" + strings.ToUpper(sig[:128]) + v
	p.Authorization.From = "0x" + strings.ToUpper(strings.TrimPrefix(p.Authorization.From, "0x"))
	p.Authorization.Nonce = "0x" + strings.ToUpper(strings.TrimPrefix(p.Authorization.Nonce, "0x"))
	out, err := x402.NewObject(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestServerKeyIsFacilitatorKey: the server's one-payment key and the
// facilitator's settle-once key come from one parser and are equal, also
// for a copy of the payment re-encoded to look new.
func TestServerKeyIsFacilitatorKey(t *testing.T) {
	w := newWorld(t, 0, nil)
	req := w.requirements(t, "$0.01")
	srv := &evm.ExactServer{}
	p := pay(t, w.client, req)
	copied := *p
	copied.Payload = reencode(t, p.Payload)

	for name, p := range map[string]*x402.Payment{"original": p, "re-encoded": &copied} {
		id, err := srv.Identify(p)
		if err != nil {
			t.Fatalf("%s: server identify: %v", name, err)
		}
		key, _, err := w.fac.Identify(p)
		if err != nil {
			t.Fatalf("%s: facilitator identify: %v", name, err)
		}
		if id.Key != key {
			t.Errorf("%s: server key %+v, facilitator key %+v", name, id.Key, key)
		}
		if id.Key.Payer != strings.ToLower(w.payer.Address.Hex()) || id.Key.Network != w.network {
			t.Errorf("%s: key %+v does not name the payer on %s", name, id.Key, w.network)
		}
		if d := time.Until(id.Expires); d <= 0 || d > 2*time.Minute {
			t.Errorf("%s: expires in %v, want about 60 s", name, d)
		}
		if !id.Pays(&req) {
			t.Errorf("%s: %+v does not pay its own requirements", name, id)
		}
		other := req
		other.Amount, _ = req.Amount.Add(x402.NewAmount(1))
		if id.Pays(&other) {
			t.Errorf("%s: pays a different amount", name)
		}
		other = req
		other.PayTo = w.payer.Address.Hex()
		if id.Pays(&other) {
			t.Errorf("%s: pays a different recipient", name)
		}
	}
	orig, _ := srv.Identify(p)
	if got := orig.Key.String(); got != strings.ToLower(got) || strings.Count(got, "|") != 3 {
		t.Errorf("key text %q", got)
	}
}

// TestServerIdentifyRefusesWhatTheFacilitatorRefuses: payloads the
// facilitator cannot key (a decoy key differing in case, no authorization,
// a bad nonce) are refused by the server too, so no copy is served under a
// key the facilitator would not settle it under.
func TestServerIdentifyRefusesWhatTheFacilitatorRefuses(t *testing.T) {
	w := newWorld(t, 0, nil)
	req := w.requirements(t, "$0.01")
	p := pay(t, w.client, req)
	var raw map[string]any
	if err := json.Unmarshal(p.Payload, &raw); err != nil {
		t.Fatal(err)
	}
	auth := raw["authorization"].(map[string]any)
	decoy := map[string]any{"signature": raw["signature"], "authorization": auth, "Authorization": auth}
	badNonce := map[string]any{"signature": raw["signature"], "authorization": map[string]any{
		"from": auth["from"], "to": auth["to"], "value": auth["value"], "validAfter": auth["validAfter"], "validBefore": auth["validBefore"], "nonce": "0x01"}}
	for name, v := range map[string]any{
		"decoy key":        decoy,
		"no authorization": map[string]any{"signature": raw["signature"]},
		"short nonce":      badNonce,
		"nonce a number":   map[string]any{"signature": raw["signature"], "authorization": map[string]any{"from": auth["from"], "nonce": 7}},
	} {
		o, err := x402.NewObject(v)
		if err != nil {
			t.Fatal(err)
		}
		q := *p
		q.Payload = o
		if _, err := (&evm.ExactServer{}).Identify(&q); err == nil {
			t.Errorf("%s: server identified it", name)
		}
		if _, _, err := w.fac.Identify(&q); err == nil {
			t.Errorf("%s: facilitator identified it", name)
		}
	}
}

// TestServerIdentifiesPermit2: a Permit2 "exact" payload (settled by a
// remote facilitator) is keyed by owner and Permit2 nonce, and names its
// token, amount and recipient.
func TestServerIdentifiesPermit2(t *testing.T) {
	const token, owner, payTo = "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222"
	req := x402.PaymentRequirements{Scheme: "exact", Network: "eip155:84532", Asset: token, PayTo: payTo, Amount: x402.NewAmount(1000), MaxTimeoutSeconds: 60}
	o, err := x402.NewObject(map[string]any{"signature": "0x00", "permit2Authorization": map[string]any{
		"from": owner, "permitted": map[string]any{"token": token, "amount": "1000"}, "spender": "0x3333333333333333333333333333333333333333",
		"nonce": "12345", "deadline": "1900000000", "witness": map[string]any{"to": payTo, "validAfter": "0"}}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := (&evm.ExactServer{}).Identify(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: o})
	if err != nil {
		t.Fatal(err)
	}
	want := x402.SettlementKey{Network: "eip155:84532", Asset: strings.ToLower(token), Payer: owner, Nonce: "12345"}
	if id.Key != want || !id.Expires.Equal(time.Unix(1900000000, 0)) {
		t.Errorf("got %+v, want key %+v expiring at 1900000000", id, want)
	}
	if !id.Pays(&req) {
		t.Error("does not pay its requirements")
	}
	other := req
	other.Asset = "0x4444444444444444444444444444444444444444"
	if id.Pays(&other) {
		t.Error("pays another token")
	}

	// One uint256 nonce is one key however it is written; a nonce that is
	// no decimal uint256 string is refused, as the facilitator refuses it.
	withNonce := func(nonce any) x402.Object {
		o, err := x402.NewObject(map[string]any{"signature": "0x00", "permit2Authorization": map[string]any{
			"from": owner, "permitted": map[string]any{"token": token, "amount": "1000"}, "spender": "0x3333333333333333333333333333333333333333",
			"nonce": nonce, "deadline": "1900000000", "witness": map[string]any{"to": payTo, "validAfter": "0"}}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for _, nonce := range []any{"0012345", "12345"} {
		got, err := (&evm.ExactServer{}).Identify(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: withNonce(nonce)})
		if err != nil || got.Key != want {
			t.Errorf("nonce %v: key %+v %v, want %+v", nonce, got.Key, err, want)
		}
	}
	for _, nonce := range []any{12345, "0x3039", "-1", "1e3", ""} {
		if _, err := (&evm.ExactServer{}).Identify(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: withNonce(nonce)}); x402.ReasonOf(err) != x402.ReasonExactEVMPayload {
			t.Errorf("nonce %v: %v", nonce, err)
		}
	}
	// An owner is an address: another spelling of it is not another key.
	for _, from := range []string{" " + owner, owner + " ", "0x1111", "alice"} {
		o, _ := x402.NewObject(map[string]any{"signature": "0x00", "permit2Authorization": map[string]any{"from": from, "nonce": "1"}})
		if _, err := (&evm.ExactServer{}).Identify(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: o}); err == nil {
			t.Errorf("owner %q identified", from)
		}
	}
	for _, nonce := range []any{"0x3039", "-1", "1e3"} {
		o, _ := x402.NewObject(map[string]any{"signature": "0x00", "permit2Authorization": map[string]any{"from": owner, "nonce": nonce}})
		if _, err := (&evm.ExactServer{}).Identify(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: o}); err == nil {
			t.Errorf("nonce %v identified", nonce)
		}
	}
}

// TestServerRefusesTwoAuthorizations: a payload carrying both an EIP-3009
// and a Permit2 authorization could be settled under either, so it is not
// keyed by one of them.
func TestServerRefusesTwoAuthorizations(t *testing.T) {
	w := newWorld(t, 0, nil)
	req := w.requirements(t, "$0.01")
	p := pay(t, w.client, req)
	var raw map[string]any
	if err := json.Unmarshal(p.Payload, &raw); err != nil {
		t.Fatal(err)
	}
	raw["permit2Authorization"] = map[string]any{"from": w.payer.Address.Hex(), "nonce": "1"}
	o, err := x402.NewObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Payload = o
	if id, err := (&evm.ExactServer{}).Identify(&q); err == nil {
		t.Errorf("identified as %+v", id)
	}
	if _, err := (&evm.ExactServer{}).Identify(p); err != nil {
		t.Errorf("the plain payment: %v", err)
	}
}
