package permit2

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// The parts of the x402 Permit2 proxies' ABIs go402 calls (as in @x402/evm
// 2.27): settle and settleWithPermit of each proxy.
const (
	tupleTokenPermissions = `{"name":"permitted","type":"tuple","components":[{"name":"token","type":"address"},{"name":"amount","type":"uint256"}]}`
	tuplePermit           = `{"name":"permit","type":"tuple","components":[` + tupleTokenPermissions + `,{"name":"nonce","type":"uint256"},{"name":"deadline","type":"uint256"}]}`
	tuple2612             = `{"name":"permit2612","type":"tuple","components":[{"name":"value","type":"uint256"},{"name":"deadline","type":"uint256"},{"name":"r","type":"bytes32"},{"name":"s","type":"bytes32"},{"name":"v","type":"uint8"}]}`
	exactWitnessTuple     = `{"name":"witness","type":"tuple","components":[{"name":"to","type":"address"},{"name":"validAfter","type":"uint256"}]}`
	uptoWitnessTuple      = `{"name":"witness","type":"tuple","components":[{"name":"to","type":"address"},{"name":"facilitator","type":"address"},{"name":"validAfter","type":"uint256"}]}`
	ownerSig              = `{"name":"owner","type":"address"},`
	sigArg                = `{"name":"signature","type":"bytes"}`

	// ExactProxyABI is the exact proxy's settle and settleWithPermit.
	ExactProxyABI = `[` +
		`{"type":"function","name":"settle","stateMutability":"nonpayable","outputs":[],"inputs":[` + tuplePermit + `,` + ownerSig + exactWitnessTuple + `,` + sigArg + `]},` +
		`{"type":"function","name":"settleWithPermit","stateMutability":"nonpayable","outputs":[],"inputs":[` + tuple2612 + `,` + tuplePermit + `,` + ownerSig + exactWitnessTuple + `,` + sigArg + `]}]`
	// UptoProxyABI is the upto proxy's settle and settleWithPermit, which
	// take the amount to transfer after the permit.
	UptoProxyABI = `[` +
		`{"type":"function","name":"settle","stateMutability":"nonpayable","outputs":[],"inputs":[` + tuplePermit + `,{"name":"amount","type":"uint256"},` + ownerSig + uptoWitnessTuple + `,` + sigArg + `]},` +
		`{"type":"function","name":"settleWithPermit","stateMutability":"nonpayable","outputs":[],"inputs":[` + tuple2612 + `,` + tuplePermit + `,{"name":"amount","type":"uint256"},` + ownerSig + uptoWitnessTuple + `,` + sigArg + `]}]`
)

// ABI argument structs; go-ethereum matches their fields to the tuple
// components by name.
type (
	abiTokenPermissions struct {
		Token  common.Address
		Amount *big.Int
	}
	abiPermit struct {
		Permitted abiTokenPermissions
		Nonce     *big.Int
		Deadline  *big.Int
	}
	abiExactWitness struct {
		To         common.Address
		ValidAfter *big.Int
	}
	abiUptoWitness struct {
		To          common.Address
		Facilitator common.Address
		ValidAfter  *big.Int
	}
	abi2612 struct {
		Value    *big.Int
		Deadline *big.Int
		R        [32]byte
		S        [32]byte
		V        uint8
	}
)

// Settlement is what a proxy settle call needs: the owner's signed permit,
// the signature as sent (EOA or contract wallet) and, for settleWithPermit,
// the owner's EIP-2612 permit to Permit2 (Sponsor). Amount is the amount
// to transfer, used by the upto proxy only.
type Settlement struct {
	Owner     common.Address
	Permit    *Permit
	Signature []byte
	Sponsor   *GasSponsoring
	Amount    *big.Int
}

// PackSettle returns the calldata of the proxy call that settles s: settle,
// or settleWithPermit when s.Sponsor is set. The proxy is chosen by the
// witness: [ExactWitness] for the exact proxy, [UptoWitness] for the upto
// proxy (which also needs s.Amount).
func PackSettle(s *Settlement) ([]byte, error) {
	if s == nil || s.Permit == nil {
		return nil, errors.New("evm/permit2: nothing to settle")
	}
	if err := s.Permit.Validate(); err != nil {
		return nil, err
	}
	p := s.Permit
	permit := abiPermit{Permitted: abiTokenPermissions{Token: p.Token, Amount: p.Amount}, Nonce: p.Nonce, Deadline: p.Deadline}
	var (
		def  string
		args []any
	)
	switch w := p.Witness.(type) {
	case ExactWitness:
		if err := CheckUint256("witness.validAfter", w.ValidAfter); err != nil {
			return nil, err
		}
		def, args = ExactProxyABI, []any{permit, s.Owner, abiExactWitness(w), s.Signature}
	case UptoWitness:
		if err := CheckUint256("witness.validAfter", w.ValidAfter); err != nil {
			return nil, err
		}
		if err := CheckUint256("amount", s.Amount); err != nil {
			return nil, err
		}
		def, args = UptoProxyABI, []any{permit, s.Amount, s.Owner, abiUptoWitness(w), s.Signature}
	default:
		return nil, fmt.Errorf("evm/permit2: no proxy for witness %T", p.Witness)
	}
	parsed, err := abi.JSON(strings.NewReader(def))
	if err != nil {
		return nil, err
	}
	method := "settle"
	if g := s.Sponsor; g != nil {
		if err := CheckUint256("permit2612.value", g.Permit.Value); err != nil {
			return nil, err
		}
		if err := CheckUint256("permit2612.deadline", g.Permit.Deadline); err != nil {
			return nil, err
		}
		sig := g.Signature
		method, args = "settleWithPermit", append([]any{abi2612{
			Value: g.Permit.Value, Deadline: g.Permit.Deadline,
			R: [32]byte(sig[0:32]), S: [32]byte(sig[32:64]), V: sig[64],
		}}, args...)
	}
	return parsed.Pack(method, args...)
}

// revertSignatures are the custom errors of the two proxies, of Permit2's
// signature transfer and of OpenZeppelin's ERC-20/EIP-2612 that a
// settlement can revert with.
var revertSignatures = []string{
	// x402 Permit2 proxies
	"InvalidAmount()", "InvalidDestination()", "InvalidOwner()", "InvalidPermit2Address()",
	"PaymentTooEarly()", "Permit2612AmountMismatch()", "ReentrancyGuardReentrantCall()",
	"AmountExceedsPermitted()", "UnauthorizedFacilitator()",
	// Permit2
	"InvalidNonce()", "InvalidSigner()", "InvalidSignature()", "InvalidSignatureLength()",
	"InvalidContractSignature()", "SignatureExpired(uint256)", "InvalidAmount(uint256)", "LengthMismatch()",
	// OpenZeppelin ERC-20 / ERC-2612
	"ERC20InsufficientBalance(address,uint256,uint256)", "ERC20InsufficientAllowance(address,uint256,uint256)",
	"ERC2612ExpiredSignature(uint256)", "ERC2612InvalidSigner(address,address)",
}

// RevertName returns the name of the custom error whose selector begins
// revert data ("InvalidNonce", "PaymentTooEarly", ...), or "" when the data
// is not one of the errors a Permit2 settlement can revert with.
// Permit2's InvalidAmount(uint256) and the proxy's InvalidAmount() are both
// "InvalidAmount".
func RevertName(data []byte) string {
	if len(data) < 4 {
		return ""
	}
	for _, sig := range revertSignatures {
		if [4]byte(crypto.Keccak256([]byte(sig))[:4]) == [4]byte(data[:4]) {
			return sig[:strings.IndexByte(sig, '(')]
		}
	}
	return ""
}
