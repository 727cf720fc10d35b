package evm_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/contracts"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// allowDevnetFactory is the facilitator configuration of the devnet.
func allowDevnetFactory(c *evm.ExactFacilitatorConfig) {
	c.ERC6492Factories = []common.Address{evm.DevnetWalletFactoryAddress()}
}

// walletClient returns an exact client paying from the devnet wallet of
// owner and salt (funded with 1 token), and the wallet's address.
func (w *world) walletClient(t *testing.T, owner devnet.Account, salt int64) (*evm.ExactClient, *evm.SmartWalletSigner) {
	t.Helper()
	key, err := evm.NewPrivateKeySignerFromECDSA(owner.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	s := w.net.SmartWalletSigner(key, big.NewInt(salt))
	if err := w.net.Mint(t.Context(), s.Wallet, big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func (w *world) code(t *testing.T, a common.Address) []byte {
	t.Helper()
	code, err := w.net.Client().CodeAt(t.Context(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// signatureOf returns the decoded signature of a payment.
func signatureOf(t *testing.T, p *x402.Payment) []byte {
	t.Helper()
	var e evm.ExactPayload
	if err := p.Payload.Decode(&e); err != nil {
		t.Fatal(err)
	}
	return hexutil.MustDecode(e.Signature)
}

// settleOK verifies and settles p and checks that value moved from payer
// to payee; it returns the receipt.
func (w *world) settleOK(t *testing.T, p *x402.Payment, payer common.Address) *types.Receipt {
	t.Helper()
	ctx := t.Context()
	v, err := w.fac.Verify(ctx, p)
	if err != nil || !v.IsValid || v.Payer != payer.Hex() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	payerBefore, payeeBefore := w.balance(t, payer), w.balance(t, w.payee)
	s, err := w.fac.Settle(ctx, p, x402.SettleHooks{})
	if err != nil || !s.Success || s.Payer != payer.Hex() {
		t.Fatalf("settle: %+v %v", s, err)
	}
	r, err := w.net.Client().TransactionReceipt(ctx, common.HexToHash(s.Transaction))
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt: %+v %v", r, err)
	}
	price := p.Requirements.Amount.Big()
	if got := new(big.Int).Sub(payerBefore, w.balance(t, payer)); got.Cmp(price) != 0 {
		t.Errorf("payer paid %s, want %s", got, price)
	}
	if got := new(big.Int).Sub(w.balance(t, w.payee), payeeBefore); got.Cmp(price) != 0 {
		t.Errorf("payee received %s, want %s", got, price)
	}
	return r
}

// expectRefused checks that verify and settle both refuse p with reason
// and that settle sends nothing.
func (w *world) expectRefused(t *testing.T, p *x402.Payment, reason x402.Reason) {
	t.Helper()
	v, err := w.fac.Verify(t.Context(), p)
	if err != nil || v.IsValid || v.InvalidReason != reason {
		t.Errorf("verify: got %+v %v, want reason %s", v, err, reason)
	}
	s, err := w.fac.Settle(t.Context(), p, x402.SettleHooks{})
	if err != nil || s.Success || s.ErrorReason != reason || s.Transaction != "" {
		t.Errorf("settle: got %+v %v, want reason %s and no transaction", s, err, reason)
	}
}

func TestSmartWalletEIP1271PaysAndReplayIsRefused(t *testing.T) {
	w := newWorld(t, 0, allowDevnetFactory)
	ctx := t.Context()
	owner := w.net.Accounts()[2]
	wallet, err := w.net.DeploySmartWallet(ctx, owner.Address, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	c, s := w.walletClient(t, owner, 1)
	if s.Wallet != wallet || len(w.code(t, wallet)) == 0 {
		t.Fatalf("wallet %s, signer's %s, code %d bytes", wallet, s.Wallet, len(w.code(t, wallet)))
	}
	req := w.requirements(t, "$0.001")
	p := pay(t, c, req)
	if sig := signatureOf(t, p); len(sig) != evm.SignatureLength {
		t.Fatalf("a deployed wallet's signature is %d bytes, want the owner's 65", len(sig))
	}
	r := w.settleOK(t, p, wallet)
	t.Logf("EIP-1271 settlement gas used: %d", r.GasUsed)
	w.expectRefused(t, p, x402.ReasonExactEVMNonceAlreadyUsed)
}

func TestSmartWalletERC6492DeploysAtSettlement(t *testing.T) {
	w := newWorld(t, 0, allowDevnetFactory)
	owner := w.net.Accounts()[2]
	c, s := w.walletClient(t, owner, 2)
	req := w.requirements(t, "$0.001")

	p := pay(t, c, req)
	if sig := signatureOf(t, p); !evm.IsERC6492(sig) {
		t.Fatalf("an undeployed wallet's signature is not ERC-6492 wrapped: %x", sig)
	}
	v, err := w.fac.Verify(t.Context(), p)
	if err != nil || !v.IsValid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if len(w.code(t, s.Wallet)) != 0 {
		t.Fatal("verify deployed the wallet")
	}
	r := w.settleOK(t, p, s.Wallet)
	t.Logf("ERC-6492 deploy + settlement gas used: %d", r.GasUsed)
	if len(w.code(t, s.Wallet)) == 0 {
		t.Fatal("settle did not deploy the wallet")
	}
	w.expectRefused(t, p, x402.ReasonExactEVMNonceAlreadyUsed)

	// Deployed now: the next payment is a plain EIP-1271 one.
	p2 := pay(t, c, req)
	if sig := signatureOf(t, p2); len(sig) != evm.SignatureLength {
		t.Fatalf("after deployment the signature is %d bytes, want 65", len(sig))
	}
	r2 := w.settleOK(t, p2, s.Wallet)
	if to := w.txTo(t, r2); to != w.asset.Address {
		t.Errorf("second settlement went to %s, want the token", to)
	}
}

// txTo is the recipient of a receipt's transaction.
func (w *world) txTo(t *testing.T, r *types.Receipt) common.Address {
	t.Helper()
	tx, _, err := w.net.Client().TransactionByHash(t.Context(), r.TxHash)
	if err != nil {
		t.Fatal(err)
	}
	return *tx.To()
}

func TestSmartWalletERC6492DeployedMeanwhile(t *testing.T) {
	w := newWorld(t, 0, allowDevnetFactory)
	ctx := t.Context()
	owner := w.net.Accounts()[2]
	c, s := w.walletClient(t, owner, 3)
	p := pay(t, c, w.requirements(t, "$0.001"))
	if v, err := w.fac.Verify(ctx, p); err != nil || !v.IsValid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	// Someone else deploys the wallet between verify and settle: the
	// settlement just transfers, with the inner signature.
	if _, err := w.net.DeploySmartWallet(ctx, owner.Address, big.NewInt(3)); err != nil {
		t.Fatal(err)
	}
	r := w.settleOK(t, p, s.Wallet)
	if to := w.txTo(t, r); to != w.asset.Address {
		t.Errorf("settlement sent to %s, want a plain transfer to the token %s", to, w.asset.Address)
	}
}

func TestSmartWalletERC6492ConcurrentSettlesPayOnce(t *testing.T) {
	w := newWorld(t, 0, allowDevnetFactory)
	owner := w.net.Accounts()[2]
	c, s := w.walletClient(t, owner, 4)
	req := w.requirements(t, "$0.001")
	p := pay(t, c, req)
	before := w.balance(t, s.Wallet)
	var wg sync.WaitGroup
	out := make([]*x402.SettleResponse, 4)
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := *p // each caller decodes on its own
			resp, err := w.fac.Settle(context.WithoutCancel(t.Context()), &q, x402.SettleHooks{})
			if err != nil {
				t.Errorf("settle %d: %v", i, err)
				return
			}
			out[i] = resp
		}()
	}
	wg.Wait()
	wins := 0
	for _, r := range out {
		if r != nil && r.Success {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d settlements succeeded, want 1: %+v", wins, out)
	}
	if got := new(big.Int).Sub(before, w.balance(t, s.Wallet)); got.Cmp(req.Amount.Big()) != 0 {
		t.Errorf("wallet paid %s, want %s once", got, req.Amount)
	}
}

func TestSmartWalletERC6492FactoryNotAllowed(t *testing.T) {
	w := newWorld(t, 0, nil) // no factory allowed
	c, s := w.walletClient(t, w.net.Accounts()[2], 5)
	w.expectRefused(t, pay(t, c, w.requirements(t, "$0.001")), x402.ReasonEIP6492FactoryNotAllowed)
	if len(w.code(t, s.Wallet)) != 0 {
		t.Error("a refused settlement deployed the wallet")
	}
}

func TestSmartWalletThatSaysNo(t *testing.T) {
	w := newWorld(t, 0, allowDevnetFactory)
	ctx := t.Context()
	accts := w.net.Accounts()
	owner, next := accts[2], accts[3]
	wallet, err := w.net.DeploySmartWallet(ctx, owner.Address, big.NewInt(6))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := w.walletClient(t, owner, 6)
	// The owner hands the wallet to another key: the old key's
	// signatures are refused by isValidSignature.
	data, err := contracts.SmartWalletParsedABI().Pack("setOwner", next.Address)
	if err != nil {
		t.Fatal(err)
	}
	ownerSender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: w.net.Client(), Key: owner.PrivateKey, ChainID: w.net.ChainID()})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := ownerSender.Send(ctx, wallet, data)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ownerSender.WaitReceipt(ctx, tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("setOwner: %+v %v", r, err)
	}
	w.expectRefused(t, pay(t, c, w.requirements(t, "$0.001")), x402.ReasonExactEVMSignature)
}

func TestSmartWalletERC6492WrongDeployment(t *testing.T) {
	w := newWorld(t, 0, allowDevnetFactory)
	owner := w.net.Accounts()[2]
	_, s := w.walletClient(t, owner, 7)
	// The wrapper's factory call deploys the wallet of salt 8, not the
	// payer (salt 7).
	s.FactoryCalldata = devnet.SmartWalletFactoryCalldata(owner.Address, big.NewInt(8))
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	p := pay(t, c, w.requirements(t, "$0.001"))
	w.expectRefused(t, p, x402.ReasonExactEVMSignature)
	v, _ := w.fac.Verify(t.Context(), p)
	t.Logf("refusal: %s", v.InvalidMessage)
	if len(w.code(t, s.Wallet)) != 0 {
		t.Error("the payer's wallet exists")
	}
}

func TestVerifyTypedSignatureKinds(t *testing.T) {
	w := newWorld(t, 0, nil)
	ctx := t.Context()
	accts := w.net.Accounts()
	owner, _ := evm.NewPrivateKeySignerFromECDSA(accts[2].PrivateKey)
	deployed, err := w.net.DeploySmartWallet(ctx, owner.Address(), big.NewInt(10))
	if err != nil {
		t.Fatal(err)
	}
	digest := [32]byte{1, 2, 3}
	ownerSig, err := owner.SignDigest(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	undeployed := devnet.SmartWalletAddress(owner.Address(), big.NewInt(11))
	wrap := func(salt int64) []byte {
		w := &evm.ERC6492Signature{Factory: evm.DevnetWalletFactoryAddress(),
			FactoryCalldata: devnet.SmartWalletFactoryCalldata(owner.Address(), big.NewInt(salt)), Signature: ownerSig}
		return w.Bytes()
	}
	allow := evm.SignatureOptions{AllowedFactories: []common.Address{evm.DevnetWalletFactoryAddress()}, Multicall: evm.Multicall3Address()}
	for _, tc := range []struct {
		name   string
		signer common.Address
		sig    []byte
		opts   evm.SignatureOptions
		kind   evm.SignatureKind
		reason x402.Reason // for a refusal
	}{
		{"eoa", owner.Address(), ownerSig, evm.SignatureOptions{}, evm.SignatureEOA, ""},
		{"eoa eip-2098 compact", owner.Address(), compact(ownerSig), evm.SignatureOptions{}, evm.SignatureEOA, ""},
		{"eip1271", deployed, ownerSig, evm.SignatureOptions{}, evm.SignatureEIP1271, ""},
		{"erc6492 deployed wallet, no allowlist needed", deployed, wrap(10), evm.SignatureOptions{}, evm.SignatureERC6492, ""},
		{"erc6492 undeployed", undeployed, wrap(11), allow, evm.SignatureERC6492, ""},
		{"erc6492 factory not allowed", undeployed, wrap(11), evm.SignatureOptions{Multicall: evm.Multicall3Address()}, 0, x402.ReasonEIP6492FactoryNotAllowed},
		{"erc6492 without a simulator", undeployed, wrap(11), evm.SignatureOptions{AllowedFactories: allow.AllowedFactories}, 0, x402.ReasonExactEVMUndeployedSmartWallet},
		{"erc6492 deploys another wallet", undeployed, wrap(12), allow, 0, x402.ReasonExactEVMSignature},
		{"erc6492 factory call reverts", undeployed, (&evm.ERC6492Signature{Factory: evm.DevnetWalletFactoryAddress(),
			FactoryCalldata: []byte{0xde, 0xad, 0xbe, 0xef}, Signature: ownerSig}).Bytes(), allow, 0, x402.ReasonSmartWalletDeploymentFailed},
		{"erc6492 malformed wrapper", undeployed, append([]byte{1}, wrap(11)...), allow, 0, x402.ReasonExactEVMSignature},
		{"eoa of another key", accts[3].Address, ownerSig, evm.SignatureOptions{}, 0, x402.ReasonExactEVMSignature},
		{"contract without isValidSignature (reverts)", w.asset.Address, append(ownerSig, 0), evm.SignatureOptions{}, 0, x402.ReasonExactEVMSignature},
		{"long signature of an eoa", accts[3].Address, append(ownerSig, 0), evm.SignatureOptions{}, 0, x402.ReasonExactEVMUndeployedSmartWallet},
		{"eip1271 wrong digest signature", deployed, append([]byte{}, ownerSig[:64]...), evm.SignatureOptions{}, 0, x402.ReasonExactEVMSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, err := evm.VerifyTypedSignature(ctx, w.net.Client(), tc.signer, digest, tc.sig, tc.opts)
			if tc.reason == "" {
				if err != nil || kind != tc.kind {
					t.Fatalf("got %v, %v; want %v", kind, err, tc.kind)
				}
				return
			}
			if got := evm.SignatureReason(err, x402.ReasonExactEVMSignature); err == nil || got != tc.reason {
				t.Fatalf("got %v, %v (reason %s); want reason %s", kind, err, got, tc.reason)
			}
		})
	}
	if len(w.code(t, undeployed)) != 0 {
		t.Error("verification deployed a wallet")
	}
}

// With batched settlement on, EIP-1271 payments share a batch with EOA
// ones (the bytes overload inside aggregate3), and an ERC-6492 payment that
// deploys is sent on its own; all are paid once.
func TestSmartWalletPaymentsWithBatching(t *testing.T) {
	w := newWorld(t, 0, func(c *evm.ExactFacilitatorConfig) {
		allowDevnetFactory(c)
		c.Batch = evm.BatchConfig{Multicall: evm.Multicall3Address(), Window: 300 * time.Millisecond}
	})
	ctx := t.Context()
	accts := w.net.Accounts()
	if _, err := w.net.DeploySmartWallet(ctx, accts[2].Address, big.NewInt(20)); err != nil {
		t.Fatal(err)
	}
	c1271, s1271 := w.walletClient(t, accts[2], 20)
	c6492, s6492 := w.walletClient(t, accts[3], 21)
	req := w.requirements(t, "$0.001")
	payments := []*x402.Payment{pay(t, w.client, req), pay(t, c1271, req), pay(t, c6492, req)}
	payers := []common.Address{w.payer.Address, s1271.Wallet, s6492.Wallet}
	before := make([]*big.Int, len(payers))
	for i, p := range payers {
		before[i] = w.balance(t, p)
	}
	out := make([]*x402.SettleResponse, len(payments))
	errs := make([]error, len(payments))
	var wg sync.WaitGroup
	for i, p := range payments {
		wg.Go(func() { out[i], errs[i] = w.fac.Settle(ctx, p, x402.SettleHooks{}) })
	}
	wg.Wait()
	for i := range payments {
		if errs[i] != nil || !out[i].Success {
			t.Fatalf("settlement %d: %+v %v", i, out[i], errs[i])
		}
		if got := new(big.Int).Sub(before[i], w.balance(t, payers[i])); got.Cmp(req.Amount.Big()) != 0 {
			t.Errorf("payer %d paid %s, want %s", i, got, req.Amount)
		}
	}
	if out[0].Transaction != out[1].Transaction {
		t.Logf("the EOA and EIP-1271 payments were not batched together (%s, %s)", out[0].Transaction, out[1].Transaction)
	}
	if out[2].Transaction == out[0].Transaction || out[2].Transaction == out[1].Transaction {
		t.Error("the deploying ERC-6492 settlement shared a batch")
	}
}

// compact is the EIP-2098 form of a 65-byte signature.
func compact(sig []byte) []byte {
	out := append([]byte(nil), sig[:64]...)
	if sig[64] == 28 || sig[64] == 1 {
		out[32] |= 0x80
	}
	return out
}

// An EOA's EIP-2098 compact signature is verified locally and settled
// through the (v, r, s) overload.
func TestCompactSignaturePays(t *testing.T) {
	w := newWorld(t, 0, nil)
	for range 2 { // both parities, most likely
		p := mutatePayload(t, pay(t, w.client, w.requirements(t, "$0.001")), func(e *evm.ExactPayload) {
			e.Signature = hexutil.Encode(compact(hexutil.MustDecode(e.Signature)))
		})
		if sig := signatureOf(t, p); len(sig) != evm.CompactSignatureLength {
			t.Fatalf("signature is %d bytes", len(sig))
		}
		w.settleOK(t, p, w.payer.Address)
		w.expectRefused(t, p, x402.ReasonExactEVMNonceAlreadyUsed)
	}
}
