package devnet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/evm/permit2"
)

// TestPermit2ProxiesAgainstOfficial checks go402's x402 Permit2 proxies
// against the pinned official @x402/evm 2.27 package (interop/node_modules,
// which `make test` installs; the test fails without it): every function,
// event and custom error of the official proxy ABIs is in go402's with the
// same selector and outputs, the official proxy and Permit2 addresses are
// go402's, and settle calldata the official ABI encodes over a payment
// signed with the official EIP-712 types settles on the devnet.
func TestPermit2ProxiesAgainstOfficial(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: the cross-check against @x402/evm cannot run: %v", err)
	}
	modules, err := filepath.Abs(filepath.Join("..", "interop", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "@x402", "evm", "package.json")); err != nil {
		t.Fatalf("interop/node_modules is not installed (run `make interop`): %v", err)
	}

	e := newP2Env(t)
	e.approvePermit2(e.payer)
	in, err := json.Marshal(map[string]any{
		"key":         hexutil.Encode(crypto.FromECDSA(e.payer.PrivateKey)),
		"chainId":     e.d.ChainID().Int64(),
		"token":       e.token.Hex(),
		"payee":       e.payee.Address.Hex(),
		"facilitator": e.facilitator.Address.Hex(),
		"amount":      "1000",
		"uptoAmount":  "250",
		"nonces":      map[string]string{"exact": "1001", "upto": "1002"},
		"deadline":    big.NewInt(e.headTime() + 3600).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "permit2_official.mjs"), modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var out struct {
		Address                        common.Address
		Permit2, ExactProxy, UptoProxy common.Address
		ExactABI, UptoABI              json.RawMessage
		ExactSettle, UptoSettle        hexutil.Bytes
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decoding node output: %v\n%s", err, raw)
	}
	if out.Address != e.payer.Address {
		t.Fatalf("viem derives %s from the payer key, want %s", out.Address, e.payer.Address)
	}
	if out.Permit2 != permit2.Address() || out.ExactProxy != permit2.ExactProxy() || out.UptoProxy != permit2.UptoProxy() {
		t.Errorf("official addresses Permit2 %s, exact %s, upto %s; go402's %s, %s, %s", out.Permit2, out.ExactProxy, out.UptoProxy,
			permit2.Address(), permit2.ExactProxy(), permit2.UptoProxy())
	}
	compareABI(t, "exact", out.ExactABI, exactProxyABI)
	compareABI(t, "upto", out.UptoABI, uptoProxyABI)

	before := e.tokenBalance(e.payee.Address)
	r := e.mustSend(e.facilitator, e.exactProxy, out.ExactSettle)
	wantTransferLog(t, r, e.token, e.payer.Address, e.payee.Address, 1000)
	r = e.mustSend(e.facilitator, e.upto, out.UptoSettle)
	wantTransferLog(t, r, e.token, e.payer.Address, e.payee.Address, 250)
	if got := e.tokenBalance(e.payee.Address) - before; got != 1250 {
		t.Errorf("payee received %d, want 1250", got)
	}
	// The official payments are spent: replaying them is InvalidNonce.
	e.wantRevertAt(e.facilitator, e.exactProxy, out.ExactSettle, "InvalidNonce()")
	e.wantRevertAt(e.facilitator, e.upto, out.UptoSettle, "InvalidNonce()")
}

// compareABI requires every function, event and error of the official ABI
// in go402's, with the same selector (or topic) and the same outputs.
func compareABI(t *testing.T, name string, officialJSON []byte, ours abi.ABI) {
	t.Helper()
	official, err := abi.JSON(bytes.NewReader(officialJSON))
	if err != nil {
		t.Fatalf("%s: official ABI does not parse: %v", name, err)
	}
	if len(official.Methods) == 0 || len(official.Errors) == 0 {
		t.Fatalf("%s: official ABI has %d functions and %d errors", name, len(official.Methods), len(official.Errors))
	}
	for _, m := range official.Methods {
		got, err := ours.MethodById(m.ID)
		if err != nil {
			t.Errorf("%s: go402 lacks %s", name, m.Sig)
			continue
		}
		if argTypes(got.Outputs) != argTypes(m.Outputs) {
			t.Errorf("%s: %s outputs (%s), official (%s)", name, m.Sig, argTypes(got.Outputs), argTypes(m.Outputs))
		}
	}
	for _, ev := range official.Events {
		if _, err := ours.EventByID(ev.ID); err != nil {
			t.Errorf("%s: go402 lacks event %s", name, ev.Sig)
		}
	}
	for _, oe := range official.Errors {
		found := false
		for _, e := range ours.Errors {
			found = found || e.ID == oe.ID
		}
		if !found {
			t.Errorf("%s: go402 lacks error %s", name, oe.Sig)
		}
	}
}

func argTypes(args abi.Arguments) string {
	var s []string
	for _, a := range args {
		s = append(s, a.Type.String())
	}
	return strings.Join(s, ",")
}
