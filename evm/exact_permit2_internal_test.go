package evm

import (
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/x402"
)

// TestPermit2RevertReason: the custom errors a Permit2 settlement can
// revert with map to the reason codes of @x402/evm 2.27.
func TestPermit2RevertReason(t *testing.T) {
	revert := func(sig string) *RevertError {
		return &RevertError{Data: append(crypto.Keccak256([]byte(sig))[:4], make([]byte, 32)...)}
	}
	for _, tc := range []struct {
		sig       string
		simulated bool
		want      x402.Reason
	}{
		{"Permit2612AmountMismatch()", false, x402.ReasonPermit2EIP2612AmountMismatch},
		{"InvalidAmount()", false, x402.ReasonPermit2InvalidAmount},
		{"InvalidAmount(uint256)", true, x402.ReasonPermit2InvalidAmount},
		{"InvalidDestination()", false, x402.ReasonPermit2InvalidDestination},
		{"InvalidOwner()", false, x402.ReasonPermit2InvalidOwner},
		{"PaymentTooEarly()", true, x402.ReasonPermit2PaymentTooEarly},
		{"InvalidNonce()", false, x402.ReasonPermit2InvalidNonce},
		{"InvalidSigner()", false, x402.ReasonPermit2Signature},
		{"SignatureExpired(uint256)", false, x402.ReasonPermit2Signature},
		{"InvalidContractSignature()", false, x402.ReasonPermit2Signature},
		{"ERC20InsufficientBalance(address,uint256,uint256)", true, x402.ReasonPermit2InsufficientFunds},
		{"Unknown()", true, x402.ReasonPermit2SimulationFailed},
		{"Unknown()", false, x402.ReasonExactEVMTransactionFailed},
	} {
		if got := permit2RevertReason(revert(tc.sig), tc.simulated); got != tc.want {
			t.Errorf("%s (simulated %v): %s, want %s", tc.sig, tc.simulated, got, tc.want)
		}
	}
	if got := permit2RevertReason(&RevertError{Reason: "TRANSFER_FROM_FAILED"}, true); got != x402.ReasonPermit2SimulationFailed {
		t.Errorf("string revert: %s", got)
	}
}

// FuzzPermit2Identify: any payload with a permit2Authorization is either
// refused by both the server's and the facilitator's Identify, with
// invalid_exact_evm_payload, or keyed identically by both; nothing panics.
func FuzzPermit2Identify(f *testing.F) {
	f.Add([]byte(`{"signature":"0x11","permit2Authorization":{"from":"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23","permitted":{"token":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","amount":"10"},"spender":"0x402085c248EeA27D92E8b30b2C58ed07f9E20001","nonce":"7","deadline":"1893456000","witness":{"to":"0x209693bc6afc0c5328ba36faf03c514ef312287c","validAfter":"0"}}}`))
	f.Add([]byte(`{"permit2Authorization":{"nonce":"0x7"}}`))
	req := x402.PaymentRequirements{Scheme: SchemeExact, Network: "eip155:84532", Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
		PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", Amount: x402.NewAmount(10), MaxTimeoutSeconds: 60}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o x402.Object
		if o.UnmarshalJSON(b) != nil || o.IsNull() {
			return
		}
		p := &x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: o}
		if !isPermit2Payload(p) {
			return
		}
		id, serr := (&ExactServer{}).Identify(p)
		key, fp, ferr := identifyPermit2Settlement(&x402.Payment{Version: x402.V2, Accepted: req, Requirements: req, Payload: o})
		switch {
		case (serr == nil) != (ferr == nil):
			t.Fatalf("server %v, facilitator %v", serr, ferr)
		case serr != nil:
			if x402.ReasonOf(serr) != x402.ReasonExactEVMPayload {
				t.Fatalf("server refusal %v", serr)
			}
		case id.Key != key || fp == "":
			t.Fatalf("server key %+v, facilitator %+v %q", id.Key, key, fp)
		}
	})
}

// TestIsPermit2Payload: the byte scan in front of the full decode never
// changes the answer, escaped keys included.
func TestIsPermit2Payload(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    bool
	}{
		{`{"signature":"0x00","authorization":{"from":"0x1"}}`, false},
		{`{"signature":"0x00","permit2Authorization":{}}`, true},
		{`{"signature":"0x00","permit2Authorizatio\u006e":{}}`, true},
		{`{"signature":"0x00","note":"permit2Authorization"}`, false},
		{`{"signature":"0x00","note":"\"permit2Authorization\""}`, false},
		{`{"signature":"0x00","a":{"permit2Authorization":1}}`, false},
		{`not json "permit2Authorization"`, false},
		{``, false},
	} {
		p := &x402.Payment{Payload: x402.Object(tc.payload)}
		if got := isPermit2Payload(p); got != tc.want {
			t.Errorf("isPermit2Payload(%s) = %v, want %v", tc.payload, got, tc.want)
		}
	}
}
