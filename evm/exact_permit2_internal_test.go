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
