package evm_test

import (
	"context"
	"fmt"
	"log"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
)

// A smart-wallet payer on the devnet: the owner key signs, the wallet (not
// deployed yet) pays, and VerifyTypedSignature tells how its signature was
// checked. The same call serves EIP-3009 and Permit2 digests.
func ExampleVerifyTypedSignature() {
	ctx := context.Background()
	net, err := devnet.Start(ctx, devnet.Config{Accounts: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer net.Close()
	owner, err := evm.NewPrivateKeySignerFromECDSA(net.Accounts()[0].PrivateKey)
	if err != nil {
		log.Fatal(err)
	}
	wallet := net.SmartWalletSigner(owner, big.NewInt(1)) // ERC-6492 until deployed
	digest := common.Hash{0x42}                           // an EIP-712 digest
	sig, err := wallet.SignDigest(ctx, digest)
	if err != nil {
		log.Fatal(err)
	}
	opts := evm.SignatureOptions{
		AllowedFactories: []common.Address{evm.DevnetWalletFactoryAddress()},
		Multicall:        evm.Multicall3Address(),
	}
	kind, err := evm.VerifyTypedSignature(ctx, net.Client(), wallet.Address(), digest, sig, opts)
	fmt.Println(kind, err)

	// Without the factory on the allowlist the signature is refused.
	_, err = evm.VerifyTypedSignature(ctx, net.Client(), wallet.Address(), digest, sig, evm.SignatureOptions{Multicall: evm.Multicall3Address()})
	fmt.Println(evm.SignatureReason(err, "invalid_exact_evm_signature"))

	// The owner's own signature is an EOA one.
	ownerSig, _ := owner.SignDigest(ctx, digest)
	kind, err = evm.VerifyTypedSignature(ctx, nil, owner.Address(), digest, ownerSig, evm.SignatureOptions{})
	fmt.Println(kind, err)
	// Output:
	// erc6492 <nil>
	// eip6492_factory_not_allowed
	// eoa <nil>
}

// An ERC-6492 wrapper: the factory and calldata that deploy the wallet,
// around the wallet's own signature.
func ExampleParseERC6492() {
	w := &evm.ERC6492Signature{
		Factory:         evm.DevnetWalletFactoryAddress(),
		FactoryCalldata: []byte{0x5f, 0xbf, 0xb9, 0xcf}, // createAccount(...), shortened
		Signature:       make([]byte, 65),
	}
	sig := w.Bytes()
	fmt.Println(len(sig), evm.IsERC6492(sig))
	parsed, err := evm.ParseERC6492(sig)
	fmt.Println(parsed.Factory, len(parsed.FactoryCalldata), len(parsed.Signature), err)
	// Output:
	// 320 true
	// 0x6492FAC700000000000000000000000000000001 4 65 <nil>
}
