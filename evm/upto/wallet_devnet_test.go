package upto_test

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/x402"
)

// TestSmartWalletPayer: an EIP-1271 wallet (deployed, Permit2 approved
// through its execute) pays upto; a signature its owner did not make is
// refused by the wallet; an undeployed wallet's ERC-6492 signature is
// refused when the factory is not allowed.
func TestSmartWalletPayer(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	usdc := e.net.Token()
	owner, err := evm.NewPrivateKeySignerFromECDSA(e.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := e.net.DeploySmartWallet(ctx, owner.Address(), big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.net.Mint(ctx, wallet, big.NewInt(1_000_000)); err != nil {
		t.Fatal(err)
	}
	// The wallet approves Permit2 through execute, sent by its owner.
	approve := crypto.Keccak256([]byte("approve(address,uint256)"))[:4]
	approve = append(approve, common.LeftPadBytes(evmPermit2().Bytes(), 32)...)
	approve = append(approve, common.LeftPadBytes(big.NewInt(1e12).Bytes(), 32)...)
	wabi, err := abi.JSON(strings.NewReader(`[{"type":"function","name":"execute","inputs":[{"name":"target","type":"address"},{"name":"value","type":"uint256"},{"name":"data","type":"bytes"}],"outputs":[{"name":"","type":"bytes"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := wabi.Pack("execute", usdc.Address, new(big.Int), approve)
	if err != nil {
		t.Fatal(err)
	}
	s, err := evm.NewSender(ctx, evm.SenderConfig{Backend: e.net.Client(), Key: e.payer.PrivateKey, ChainID: e.net.ChainID(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Send(ctx, wallet, data)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitReceipt(ctx, tx.Hash()); err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("wallet approve: %v", err)
	}

	req := e.requirements(t, "0.05 USDC")
	t.Run("EIP-1271", func(t *testing.T) {
		c := e.newClientFor(t, e.net.SmartWalletSigner(owner, big.NewInt(1)))
		p := e.pay(t, c, req)
		if v := e.verify(t, p, req); !v.IsValid || v.Payer != wallet.Hex() {
			t.Fatalf("verify: %+v", v)
		}
		before, err := e.net.TokenBalanceOf(ctx, usdc.Address, wallet)
		if err != nil {
			t.Fatal(err)
		}
		if s := e.settle(t, p, 4_321); !s.Success {
			t.Fatalf("settle: %+v", s)
		}
		after, _ := e.net.TokenBalanceOf(ctx, usdc.Address, wallet)
		if d := new(big.Int).Sub(before, after); d.Int64() != 4_321 {
			t.Errorf("wallet paid %s, want 4321", d)
		}
	})
	t.Run("wallet says no", func(t *testing.T) {
		// Signed by another key than the wallet's owner.
		other, _ := evm.NewPrivateKeySignerFromECDSA(e.other.PrivateKey)
		ws := e.net.SmartWalletSigner(owner, big.NewInt(1))
		ws.Owner = other
		p := e.pay(t, e.newClientFor(t, ws), req)
		if v := e.verify(t, p, req); v.IsValid || v.InvalidReason != x402.ReasonPermit2Signature {
			t.Errorf("verify: %s (%s), want %s", v.InvalidReason, v.InvalidMessage, x402.ReasonPermit2Signature)
		}
	})
	t.Run("ERC-6492 factory not allowed", func(t *testing.T) {
		p := e.pay(t, e.newClientFor(t, e.net.SmartWalletSigner(owner, big.NewInt(2))), req)
		if v := e.verify(t, p, req); v.IsValid || v.InvalidReason != x402.ReasonEIP6492FactoryNotAllowed {
			t.Errorf("verify: %s (%s), want %s", v.InvalidReason, v.InvalidMessage, x402.ReasonEIP6492FactoryNotAllowed)
		}
	})
	t.Run("ERC-6492 from an allowed factory", func(t *testing.T) {
		// The signature checks out through the simulated deployment; an
		// undeployed wallet has no Permit2 allowance yet, which verify
		// then reports.
		f, err := upto.NewFacilitator(ctx, upto.FacilitatorConfig{Network: e.network, Backend: e.net.Client(), Sender: e.sender, ERC6492Factories: []common.Address{evm.DevnetWalletFactoryAddress()}})
		if err != nil {
			t.Fatal(err)
		}
		ws := e.net.SmartWalletSigner(owner, big.NewInt(3))
		if err := e.net.Mint(ctx, ws.Address(), big.NewInt(1_000_000)); err != nil {
			t.Fatal(err)
		}
		p := e.pay(t, e.newClientFor(t, ws), req)
		v, err := f.Verify(ctx, mustPayment(t, p, req))
		if err != nil {
			t.Fatal(err)
		}
		if v.IsValid || v.InvalidReason != x402.ReasonPermit2AllowanceRequired {
			t.Errorf("verify: %s (%s), want %s", v.InvalidReason, v.InvalidMessage, x402.ReasonPermit2AllowanceRequired)
		}
	})
}
