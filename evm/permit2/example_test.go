package permit2_test

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
)

// A payer signs an exact-over-Permit2 payment and a facilitator recovers
// the signer and builds the proxy call.
func Example() {
	signer, _ := evm.NewPrivateKeySigner("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	p := &permit2.Permit{
		Token:    common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
		Amount:   big.NewInt(10000),
		Spender:  permit2.ExactProxy(),
		Nonce:    big.NewInt(42), // use permit2.NewNonce(nil) for real payments
		Deadline: big.NewInt(1893456000),
		Witness:  permit2.ExactWitness{To: common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"), ValidAfter: big.NewInt(0)},
	}
	sig, err := permit2.Sign(context.Background(), signer, 84532, p)
	if err != nil {
		panic(err)
	}
	digest, _ := p.Digest(84532)
	owner, _ := permit2.Recover(digest, sig[:])
	calldata, _ := permit2.PackSettle(&permit2.Settlement{Owner: owner, Permit: p, Signature: sig[:]})
	fmt.Println(owner == signer.Address(), fmt.Sprintf("%x", calldata[:4]))
	fmt.Println(permit2.WitnessTypeString(p.Witness))
	// Output:
	// true 13cd3b53
	// Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)
}
