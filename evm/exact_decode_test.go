package evm

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/x402"
)

// TestPayloadDecodedOncePerRequest: the server's Identify decodes an exact
// payload once; the facilitator's Identify, and any later step of the same
// request, reuse that decoding instead of parsing the payload again.
func TestPayloadDecodedOncePerRequest(t *testing.T) {
	const payload = `{"signature":"0x` + sig65 + `","authorization":{"from":"0x1111111111111111111111111111111111111111","to":"0x2222222222222222222222222222222222222222","value":"1000","validAfter":"0","validBefore":"1900000000","nonce":"0x` + nonce32 + `"}}`
	req := x402.PaymentRequirements{Scheme: "exact", Network: "eip155:84532", Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PayTo: "0x2222222222222222222222222222222222222222", Amount: x402.NewAmount(1000), MaxTimeoutSeconds: 60, Extra: x402.Object(`{"name":"USDC","version":"2"}`)}
	freq := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: x402.Object(payload)}, &req)
	p, err := freq.Payment()
	if err != nil {
		t.Fatal(err)
	}
	id, err := (&ExactServer{}).Identify(p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := freq.Payment()
	if err != nil {
		t.Fatal(err)
	}
	v, err := again.Decoded(exactMemo{}, func(x402.Object) (any, error) {
		t.Fatal("the payload was decoded a second time")
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*exactDecoded)
	if got := exactKey(id.Key.Network, common.HexToAddress(id.Key.Asset), d.auth); got != id.Key {
		t.Errorf("shared decoding gives %+v, Identify gave %+v", got, id.Key)
	}
	var f ExactFacilitator
	key, _, err := f.Identify(again)
	if err != nil || key != id.Key {
		t.Errorf("facilitator key %+v %v, server key %+v", key, err, id.Key)
	}
}

const (
	sig65   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + "1111111111111111111111111111111111111111111111111111111111111111" + "1b"
	nonce32 = "0101010101010101010101010101010101010101010101010101010101010101"
)
