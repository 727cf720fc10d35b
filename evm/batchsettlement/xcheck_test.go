package batchsettlement

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// officialNodeModules returns interop/node_modules, which holds the pinned
// official packages (`make test` installs them through `make interop`). The
// cross-check must run: a missing node or package fails the test.
func officialNodeModules(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: the cross-check against @x402/evm cannot run: %v", err)
	}
	modules, err = filepath.Abs(filepath.Join("..", "..", "interop", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "@x402", "evm", "package.json")); err != nil {
		t.Fatalf("interop/node_modules is not installed (run `make interop`): %v", err)
	}
	return node, modules
}

// Fixed inputs of the cross-check. The key is a well-known test key.
const xcheckKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

func xcheckConfig(payer common.Address) ChannelConfig {
	return ChannelConfig{
		Payer:              payer,
		PayerAuthorizer:    payer,
		Receiver:           common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
		ReceiverAuthorizer: payer,
		Token:              common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
		WithdrawDelay:      86400,
		Salt:               common.HexToHash("0x00000000000000000000000000000000000000000000000000000000000000a5"),
	}
}

type xcheckOut struct {
	Address       common.Address           `json:"address"`
	ChannelID     common.Hash              `json:"channelId"`
	Voucher       json.RawMessage          `json:"voucher"`
	VoucherDigest common.Hash              `json:"voucherDigest"`
	RefundSig     hexutil.Bytes            `json:"refundSig"`
	RefundDigest  common.Hash              `json:"refundDigest"`
	ClaimSig      hexutil.Bytes            `json:"claimSig"`
	ClaimDigest   common.Hash              `json:"claimDigest"`
	DepositNonce  common.Hash              `json:"depositNonce"`
	CollectorData hexutil.Bytes            `json:"collectorData"`
	Deposit       x402.Object              `json:"deposit"`
	Guards        map[string]any           `json:"guardResults"`
	Calldata      map[string]hexutil.Bytes `json:"calldata"`
	FromGoReq     x402.Object              `json:"fromGoRequirements"`
	OfficialReq   x402.PaymentRequirements `json:"officialRequirements"`
}

// TestCrossCheckOfficial compares, byte for byte, the channel id, the
// voucher, refund and claim-batch digests and signatures, the ERC-3009
// deposit nonce and the collectorData with those @x402/evm 2.27 computes
// for the same inputs and key; checks that a deposit payload signed by the
// official client parses and verifies here; and that go402's payloads pass
// the official type guards and channel-id binding.
func TestCrossCheckOfficial(t *testing.T) {
	node, modules := officialNodeModules(t)
	ctx := context.Background()
	signer, err := evm.NewPrivateKeySigner(xcheckKey)
	if err != nil {
		t.Fatal(err)
	}
	const chainID = 84532
	cfg := xcheckConfig(signer.Address())
	id := ChannelID(cfg, chainID)
	sep := DomainSeparator(chainID)
	maxClaimable := x402.NewAmount(123456789)
	voucher, err := SignVoucher(ctx, signer, chainID, id, maxClaimable)
	if err != nil {
		t.Fatal(err)
	}
	refundNonce, refundAmount := x402.NewAmount(3), x402.NewAmount(777)
	refundSig, err := SignRefund(ctx, signer, chainID, id, refundNonce, refundAmount)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.Salt = common.HexToHash("0x01")
	claims := []VoucherClaim{
		{Channel: cfg, MaxClaimableAmount: maxClaimable, Signature: voucher.Signature, TotalClaimed: x402.NewAmount(100)},
		{Channel: cfg2, MaxClaimableAmount: x402.NewAmount(5000), Signature: voucher.Signature, TotalClaimed: x402.NewAmount(5000)},
	}
	claimSig, err := SignClaimBatch(ctx, signer, chainID, claims)
	if err != nil {
		t.Fatal(err)
	}
	salt := common.HexToHash("0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	token := evm.Domain{Name: "USDC", Version: "2", ChainID: chainID, VerifyingContract: cfg.Token}
	dep, err := SignERC3009Deposit(ctx, signer, token, cfg, DepositTerms{Amount: x402.NewAmount(10_000_000), ValidAfter: 0, ValidBefore: 1_900_000_000, Salt: salt})
	if err != nil {
		t.Fatal(err)
	}
	goDeposit := &DepositPayload{ChannelConfig: cfg, Voucher: voucher, Deposit: Deposit{Amount: x402.NewAmount(10_000_000), Authorization: DepositAuthorization{ERC3009Authorization: dep}}}
	goRefund := &RefundPayload{ChannelConfig: cfg, Voucher: voucher, Amount: &refundAmount, RefundNonce: &refundNonce,
		Claims: claims[:1], RefundAuthorizerSignature: refundSig[:], ClaimAuthorizerSignature: claimSig[:]}
	goPayloads := map[string]any{
		"deposit":        goDeposit,
		"voucher":        &VoucherPayload{ChannelConfig: cfg, Voucher: voucher},
		"refund":         &RefundPayload{ChannelConfig: cfg, Voucher: voucher},
		"enrichedRefund": goRefund,
		"claim":          &ClaimPayload{Claims: claims, ClaimAuthorizerSignature: claimSig[:]},
		"settle":         &SettlePayload{Receiver: cfg.Receiver, Token: cfg.Token},
	}
	srv := &Server{ReceiverAuthorizer: cfg.ReceiverAuthorizer, WithdrawDelay: cfg.WithdrawDelay}
	price, _ := x402.ParsePrice("$0.01")
	goReq, err := srv.Requirements("eip155:84532", price, cfg.Receiver.Hex(), 120)
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(map[string]any{
		"goRequirements": goReq,
		"key":            xcheckKey, "chainId": chainID, "config": cfg, "maxClaimable": maxClaimable,
		"refundNonce": refundNonce, "refundAmount": refundAmount, "claims": claims,
		"salt": salt.Hex(), "validAfter": "0", "validBefore": "1900000000", "depositSignature": hexutil.Encode(dep.Signature),
		"tokenName": token.Name, "tokenVersion": token.Version, "depositAmount": "10000000",
		"goPayloads": goPayloads,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, node, filepath.Join("testdata", "xcheck.mjs"), modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var out xcheckOut
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decoding node output: %v\n%s", err, raw)
	}

	if out.Address != signer.Address() {
		t.Fatalf("key derives %s in viem, %s here", out.Address, signer.Address())
	}
	check := func(what string, got, want []byte) {
		t.Helper()
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n go402    %x\n official %x", what, got, want)
		}
	}
	check("channelId", id[:], out.ChannelID[:])
	check("voucher digest", VoucherDigest(sep, id, maxClaimable).Bytes(), out.VoucherDigest[:])
	var officialVoucher Voucher
	if err := json.Unmarshal(out.Voucher, &officialVoucher); err != nil {
		t.Fatalf("official voucher does not parse: %v (%s)", err, out.Voucher)
	}
	check("voucher channelId", officialVoucher.ChannelID[:], id[:])
	if officialVoucher.MaxClaimableAmount != maxClaimable {
		t.Errorf("voucher amount %s, want %s", officialVoucher.MaxClaimableAmount, maxClaimable)
	}
	check("voucher signature", voucher.Signature, officialVoucher.Signature)
	check("refund digest", RefundDigest(sep, id, refundNonce, refundAmount).Bytes(), out.RefundDigest[:])
	check("refund signature", refundSig[:], out.RefundSig)
	check("claim batch digest", ClaimBatchDigest(sep, ClaimEntries(sep, claims)).Bytes(), out.ClaimDigest[:])
	check("claim batch signature", claimSig[:], out.ClaimSig)
	nonce := ERC3009DepositNonce(id, salt)
	check("ERC-3009 deposit nonce", nonce[:], out.DepositNonce[:])
	check("collectorData", ERC3009CollectorData(dep), out.CollectorData)

	// The official client's deposit payload parses and verifies here.
	p, err := ParsePayload(out.Deposit)
	if err != nil {
		t.Fatalf("official deposit payload does not parse: %v\n%s", err, out.Deposit)
	}
	d, ok := p.(*DepositPayload)
	if !ok {
		t.Fatalf("official deposit parsed as %T", p)
	}
	if d.ChannelConfig != cfg {
		t.Errorf("official deposit config %+v, want %+v", d.ChannelConfig, cfg)
	}
	v := NewChannelVerifier(d.ChannelConfig, chainID)
	if err := v.VerifySignature(&d.Voucher); err != nil {
		t.Errorf("official deposit's voucher: %v", err)
	}
	if err := VerifyERC3009Deposit(token, d, v.ChannelID()); err != nil {
		t.Errorf("official deposit's ReceiveWithAuthorization: %v", err)
	}
	if _, err := EncodeDeposit(d); err != nil {
		t.Errorf("encoding the official deposit: %v", err)
	}

	// The calldata of the contract calls, as the official facilitator
	// encodes them from go402's payloads.
	calls := map[string]func() ([]byte, error){
		"deposit":            func() ([]byte, error) { return EncodeDeposit(goDeposit) },
		"claimWithSignature": func() ([]byte, error) { return EncodeClaimWithSignature(claims, claimSig[:]) },
		"refundWithSignature": func() ([]byte, error) {
			return EncodeRefundWithSignature(&cfg, refundAmount, refundNonce, refundSig[:])
		},
		"settle":   func() ([]byte, error) { return EncodeSettle(cfg.Receiver, cfg.Token) },
		"channels": func() ([]byte, error) { return EncodeChannels(id) },
		"multicall": func() ([]byte, error) {
			c, err := EncodeClaimWithSignature(claims, claimSig[:])
			if err != nil {
				return nil, err
			}
			r, err := EncodeRefundWithSignature(&cfg, refundAmount, refundNonce, refundSig[:])
			if err != nil {
				return nil, err
			}
			return EncodeMulticall(c, r)
		},
	}
	for name, enc := range calls {
		got, err := enc()
		if err != nil {
			t.Errorf("encoding %s: %v", name, err)
			continue
		}
		if len(out.Calldata[name]) == 0 {
			t.Errorf("no official calldata for %s", name)
		}
		check(name+" calldata", got, out.Calldata[name])
	}

	checkOfficialPaysGoRequirements(t, out.FromGoReq, &goReq, token)

	// The official server's requirements parse, with its defaults.
	ox, err := ParseRequirementsExtra(out.OfficialReq.Extra)
	if err != nil {
		t.Fatalf("official 402 extra: %v (%s)", err, out.OfficialReq.Extra)
	}
	if ox.ReceiverAuthorizer != signer.Address() || ox.WithdrawDelay != DefaultWithdrawDelay || ox.MinDeposit == nil ||
		*ox.MinDeposit != x402.NewAmount(100000) || ox.Name != token.Name || ox.Version != token.Version {
		t.Errorf("official 402 extra read as %+v (%s)", ox, out.OfficialReq.Extra)
	}

	for _, k := range []string{"deposit", "voucher", "refund", "enrichedRefund", "claim", "settle"} {
		if out.Guards[k] != true {
			t.Errorf("official type guard rejects go402's %s payload (%v)", k, out.Guards[k])
		}
	}
	if b := out.Guards["depositBinding"]; b != "" {
		t.Errorf("official channel-id binding of go402's deposit: %v", b)
	}
}

// checkOfficialPaysGoRequirements checks the deposit the official client
// signed for go402's requirements: it binds to a channel on go402's terms,
// deposits the announced minDeposit, and signs a voucher for the price.
func checkOfficialPaysGoRequirements(t *testing.T, obj x402.Object, req *x402.PaymentRequirements, token evm.Domain) {
	t.Helper()
	p, err := ParseChannelPayload(obj)
	if err != nil {
		t.Fatalf("official payment of go402's requirements does not parse: %v\n%s", err, obj)
	}
	d, ok := p.(*DepositPayload)
	if !ok {
		t.Fatalf("official client sent a %s payload, want a deposit", p.Type())
	}
	extra, err := ParseRequirementsExtra(req.Extra)
	if err != nil {
		t.Fatal(err)
	}
	v, err := BindChannel(d, 84532)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckRequirements(req, extra); err != nil {
		t.Errorf("official channel config is not on go402's terms: %v", err)
	}
	if d.Deposit.Amount != *extra.MinDeposit {
		t.Errorf("official deposit %s, announced minDeposit %s", d.Deposit.Amount, extra.MinDeposit)
	}
	t.Logf("official client deposits %s and signs a voucher for %s on go402's terms", d.Deposit.Amount, d.Voucher.MaxClaimableAmount)
	e := Expectation{Price: req.Amount, Balance: d.Deposit.Amount}
	if err := v.Verify(&d.Voucher, &e); err != nil {
		t.Errorf("official first voucher: %v", err)
	}
	if err := VerifyERC3009Deposit(token, d, v.ChannelID()); err != nil {
		t.Errorf("official deposit authorization: %v", err)
	}
}
