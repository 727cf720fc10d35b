package contracts

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestArtifactsFresh rebuilds the artifacts from src/ with the locked npm
// dependencies into a temporary directory and fails if they differ from the
// committed ones. Without node/npm or registry access it skips loudly, unless
// $CI is set, in which case it fails.
func TestArtifactsFresh(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "%s not found in PATH: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	// Work on a copy so that concurrent runs never share a node_modules.
	dir := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json", "build.mjs"} {
		copyFile(t, name, filepath.Join(dir, name))
	}
	srcs, err := filepath.Glob(filepath.Join("src", "*.sol"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no Solidity sources in src/ (err=%v)", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		copyFile(t, src, filepath.Join(dir, src))
	}

	npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	npm.Dir = dir
	if out, err := npm.CombinedOutput(); err != nil {
		skipOrFail(t, "npm ci failed (registry unreachable?): %v\n%s", err, out)
	}

	outDir := filepath.Join(dir, "out")
	build := exec.CommandContext(ctx, "node", "build.mjs", outDir)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs: %v\n%s", err, out)
	}

	// The build must write exactly the committed files, byte for byte: a
	// missing, extra or different file is stale.
	built, committed := dirFiles(t, outDir), dirFiles(t, "artifacts")
	for _, name := range []string{
		"TestUSDC.abi.json", "TestUSDC.bin", "Multicall3.abi.json", "Multicall3.runtime.bin",
		"x402BatchSettlement.abi.json", "x402BatchSettlement.runtime.bin",
		"ERC3009DepositCollector.abi.json", "ERC3009DepositCollector.runtime.bin",
		"Permit2.abi.json", "Permit2.runtime.bin",
		"x402ExactPermit2Proxy.abi.json", "x402ExactPermit2Proxy.runtime.bin",
		"x402UptoPermit2Proxy.abi.json", "x402UptoPermit2Proxy.runtime.bin",
		"TestPermitToken.abi.json", "TestPermitToken.bin",
	} {
		if !slices.Contains(built, name) {
			t.Errorf("build.mjs did not write %s", name)
		}
	}
	for _, name := range built {
		if !slices.Contains(committed, name) {
			t.Errorf("artifacts/%s is missing: a fresh build of src/ writes it; run `make contracts` and commit the result", name)
			continue
		}
		want, err := os.ReadFile(filepath.Join(outDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("artifacts", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("artifacts/%s is stale: it differs from a fresh build of src/; run `make contracts` and commit the result", name)
		}
	}
	for _, name := range committed {
		if !slices.Contains(built, name) {
			t.Errorf("artifacts/%s is not written by a fresh build of src/; delete it", name)
		}
	}
}

// dirFiles lists the names of the regular files in dir, sorted.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := "contracts freshness check NOT RUN: " + format
	if os.Getenv("CI") != "" {
		t.Fatalf(msg+" (CI is set, so this is an error)", args...)
	}
	t.Skipf("!!!!!!!! "+msg, args...)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedArtifacts(t *testing.T) {
	code := TestUSDCBytecode()
	if len(code) < 1000 {
		t.Fatalf("bytecode is only %d bytes", len(code))
	}
	code[0] ^= 0xff
	if TestUSDCBytecode()[0] == code[0] {
		t.Fatal("TestUSDCBytecode returned shared memory")
	}

	a := TestUSDCParsedABI()
	if !strings.Contains(TestUSDCABI(), `"transferWithAuthorization"`) {
		t.Fatal("ABI JSON lacks transferWithAuthorization")
	}

	// Both EIP-3009 overloads of each function, by their selectors.
	wantSigs := []string{
		"transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
		"transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
		"receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
		"receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)",
		"cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)",
		"cancelAuthorization(address,bytes32,bytes)",
		"authorizationState(address,bytes32)",
		"DOMAIN_SEPARATOR()",
		"version()",
		"name()",
		"symbol()",
		"decimals()",
		"mint(address,uint256)",
		"balanceOf(address)",
		"owner()",
	}
	for _, sig := range wantSigs {
		if _, err := a.MethodById(crypto.Keccak256([]byte(sig))[:4]); err != nil {
			t.Errorf("ABI lacks %s: %v", sig, err)
		}
	}
	for _, ev := range []string{"AuthorizationUsed", "AuthorizationCanceled", "Transfer", "Approval"} {
		if _, ok := a.Events[ev]; !ok {
			t.Errorf("ABI lacks event %s", ev)
		}
	}
	for _, e := range []string{"AuthorizationNotYetValid", "AuthorizationExpired", "AuthorizationAlreadyUsed", "InvalidSignature", "CallerNotPayee"} {
		if _, ok := a.Errors[e]; !ok {
			t.Errorf("ABI lacks error %s", e)
		}
	}
	var ctor []string
	for _, in := range a.Constructor.Inputs {
		ctor = append(ctor, in.Type.String())
	}
	if got := strings.Join(ctor, ","); got != "string,string,string,address" {
		t.Errorf("constructor inputs (%s), want (string,string,string,address)", got)
	}
}

func TestEmbeddedMulticall3(t *testing.T) {
	code := Multicall3RuntimeBytecode()
	if len(code) < 100 || len(code) > 24576 {
		t.Fatalf("runtime bytecode is %d bytes", len(code))
	}
	// Runtime code starts with the free memory pointer set-up, not with
	// the CODECOPY of a constructor.
	if !bytes.HasPrefix(code, []byte{0x60, 0x80, 0x60, 0x40, 0x52}) {
		t.Errorf("runtime bytecode starts with %x", code[:5])
	}
	code[0] ^= 0xff
	if Multicall3RuntimeBytecode()[0] == code[0] {
		t.Fatal("Multicall3RuntimeBytecode returned shared memory")
	}

	a, err := abi.JSON(strings.NewReader(Multicall3ABI()))
	if err != nil {
		t.Fatal(err)
	}
	// The selectors of the canonical Multicall3, with its output names.
	for sig, want := range map[string]struct {
		selector string
		outputs  string
	}{
		"aggregate3((address,bool,bytes)[])":   {"82ad56cb", "returnData:(bool,bytes)[]"},
		"tryAggregate(bool,(address,bytes)[])": {"bce38bd7", "returnData:(bool,bytes)[]"},
		"getBlockNumber()":                     {"42cbb15c", "blockNumber:uint256"},
		"getCurrentBlockTimestamp()":           {"0f28c97d", "timestamp:uint256"},
	} {
		id := crypto.Keccak256([]byte(sig))[:4]
		if got := fmt.Sprintf("%x", id); got != want.selector {
			t.Fatalf("selector of %s = %s, want %s", sig, got, want.selector)
		}
		m, err := a.MethodById(id)
		if err != nil {
			t.Errorf("ABI lacks %s: %v", sig, err)
			continue
		}
		var outs []string
		for _, o := range m.Outputs {
			outs = append(outs, o.Name+":"+o.Type.String())
		}
		if got := strings.Join(outs, ","); got != want.outputs {
			t.Errorf("%s outputs (%s), want (%s)", sig, got, want.outputs)
		}
		// The constructor-less runtime dispatches on the selector.
		if !bytes.Contains(Multicall3RuntimeBytecode(), append([]byte{0x63}, id...)) {
			t.Errorf("runtime bytecode does not PUSH4 the selector of %s", sig)
		}
	}
	if m := a.Methods["aggregate3"]; m.StateMutability != "payable" {
		t.Errorf("aggregate3 is %s, want payable", m.StateMutability)
	}
	if m := a.Methods["tryAggregate"]; m.StateMutability != "payable" {
		t.Errorf("tryAggregate is %s, want payable", m.StateMutability)
	}
	if len(a.Methods) != 4 || len(a.Events) != 0 || strings.Contains(Multicall3ABI(), `"constructor"`) {
		t.Errorf("ABI has %d methods, %d events, constructor %v; want exactly the 4 methods and nothing else", len(a.Methods), len(a.Events), strings.Contains(Multicall3ABI(), `"constructor"`))
	}
	if in := a.Methods["aggregate3"].Inputs[0].Type.Elem.TupleRawNames; !slices.Equal(in, []string{"target", "allowFailure", "callData"}) {
		t.Errorf("Call3 fields %v", in)
	}
}
