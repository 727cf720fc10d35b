package x402_test

import (
	"testing"

	"github.com/go402/go402/x402"
)

// A batch-settlement answer to a voucher reports success with no
// transaction (the voucher is claimed later, in a batch): the
// PAYMENT-RESPONSE codec accepts it when its extra names the channel
// state, and only the batch-settlement scheme accepts it otherwise.
func TestBatchVoucherAnswer(t *testing.T) {
	voucher := &x402.SettleResponse{Success: true, Network: "eip155:84532", Payer: "0x01",
		Extra: x402.Object(`{"chargedAmount":"1000","channelState":{"chargedCumulativeAmount":"3000"}}`)}
	tests := []struct {
		name   string
		sr     *x402.SettleResponse
		encode bool
	}{
		{"voucher answer", voucher, true},
		{"no extra", &x402.SettleResponse{Success: true, Network: "eip155:84532"}, false},
		{"extra without channelState", &x402.SettleResponse{Success: true, Network: "eip155:84532", Extra: x402.Object(`{"chargedAmount":"1"}`)}, false},
		{"channelState null", &x402.SettleResponse{Success: true, Network: "eip155:84532", Extra: x402.Object(`{"channelState":null}`)}, false},
		{"with a transaction", &x402.SettleResponse{Success: true, Network: "eip155:84532", Transaction: "0x01"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := x402.EncodePaymentResponse(tc.sr)
			if (err == nil) != tc.encode {
				t.Fatalf("EncodePaymentResponse: %v; want success %v", err, tc.encode)
			}
			if err != nil {
				return
			}
			if _, err := x402.DecodePaymentResponse(h); err != nil {
				t.Fatalf("DecodePaymentResponse: %v", err)
			}
		})
	}
	if err := voucher.ValidateFor("batch-settlement"); err != nil {
		t.Errorf("ValidateFor(batch-settlement): %v", err)
	}
	if err := voucher.ValidateFor("exact"); err == nil {
		t.Error("ValidateFor(exact) accepted a success without a transaction")
	}
}
