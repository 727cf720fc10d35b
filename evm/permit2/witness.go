package permit2

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Witness type strings of the two x402 Permit2 proxies.
const (
	// ExactWitnessType is the witness of the exact proxy.
	ExactWitnessType = "Witness(address to,uint256 validAfter)"
	// UptoWitnessType is the witness of the upto proxy.
	UptoWitnessType = "Witness(address to,address facilitator,uint256 validAfter)"
)

// ExactWitness is the exact proxy's witness: the payment goes to To and is
// not valid before ValidAfter (unix seconds).
type ExactWitness struct {
	To         common.Address
	ValidAfter *big.Int
}

// TypeName returns "Witness".
func (ExactWitness) TypeName() string { return "Witness" }

// TypeString returns [ExactWitnessType].
func (ExactWitness) TypeString() string { return ExactWitnessType }

// StructHash returns hashStruct(witness).
func (w ExactWitness) StructHash() (common.Hash, error) {
	if err := CheckUint256("witness.validAfter", w.ValidAfter); err != nil {
		return common.Hash{}, err
	}
	var buf [3 * 32]byte
	copy(buf[0:32], crypto.Keccak256([]byte(ExactWitnessType)))
	copy(buf[44:64], w.To[:])
	w.ValidAfter.FillBytes(buf[64:96])
	return crypto.Keccak256Hash(buf[:]), nil
}

// UptoWitness is the upto proxy's witness: the payment goes to To, only
// Facilitator may settle it, and not before ValidAfter (unix seconds).
type UptoWitness struct {
	To          common.Address
	Facilitator common.Address
	ValidAfter  *big.Int
}

// TypeName returns "Witness".
func (UptoWitness) TypeName() string { return "Witness" }

// TypeString returns [UptoWitnessType].
func (UptoWitness) TypeString() string { return UptoWitnessType }

// StructHash returns hashStruct(witness).
func (w UptoWitness) StructHash() (common.Hash, error) {
	if err := CheckUint256("witness.validAfter", w.ValidAfter); err != nil {
		return common.Hash{}, err
	}
	var buf [4 * 32]byte
	copy(buf[0:32], crypto.Keccak256([]byte(UptoWitnessType)))
	copy(buf[44:64], w.To[:])
	copy(buf[76:96], w.Facilitator[:])
	w.ValidAfter.FillBytes(buf[96:128])
	return crypto.Keccak256Hash(buf[:]), nil
}

var (
	_ Witness = ExactWitness{}
	_ Witness = UptoWitness{}
)
