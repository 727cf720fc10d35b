package x402_test

import (
	"errors"
	"testing"

	"github.com/go402/go402/x402"
)

// TestSettleResponseValidateFor: only the "upto" scheme may report success
// without a transaction, and only for an amount of exactly 0.
func TestSettleResponseValidateFor(t *testing.T) {
	zero, one := x402.NewAmount(0), x402.NewAmount(1)
	tests := []struct {
		name   string
		resp   x402.SettleResponse
		scheme string
		ok     bool
	}{
		{"exact with transaction", x402.SettleResponse{Success: true, Transaction: "0x01", Network: "eip155:1"}, "exact", true},
		{"exact $0 without transaction", x402.SettleResponse{Success: true, Network: "eip155:1", Amount: &zero}, "exact", false},
		{"exact without transaction", x402.SettleResponse{Success: true, Network: "eip155:1"}, "exact", false},
		{"exact failure", x402.SettleResponse{ErrorReason: x402.ReasonInsufficientFunds, Network: "eip155:1"}, "exact", true},
		{"upto $0 without transaction", x402.SettleResponse{Success: true, Network: "eip155:1", Amount: &zero}, "upto", true},
		{"upto $1 without transaction", x402.SettleResponse{Success: true, Network: "eip155:1", Amount: &one}, "upto", false},
		{"upto without amount or transaction", x402.SettleResponse{Success: true, Network: "eip155:1"}, "upto", false},
		{"upto without network", x402.SettleResponse{Success: true, Transaction: "0x01"}, "upto", false},
		{"unknown scheme $0 without transaction", x402.SettleResponse{Success: true, Network: "eip155:1", Amount: &zero}, "other", false},
	}
	for _, tt := range tests {
		err := tt.resp.ValidateFor(tt.scheme)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, x402.ErrInvalidMessage) {
			t.Errorf("%s: ValidateFor(%q) = %v", tt.name, tt.scheme, err)
		}
		if tt.scheme == "exact" {
			if verr := tt.resp.Validate(); (verr == nil) != (err == nil) {
				t.Errorf("%s: Validate = %v, ValidateFor(exact) = %v", tt.name, verr, err)
			}
		}
	}
}
