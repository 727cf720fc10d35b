package contracts

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/crypto"
)

// The interfaces go402's Permit2 contracts must match, transcribed from the
// canonical Permit2 (the signature-transfer functions the x402 proxies and
// SDKs call, with their well-known selectors) and from the x402 reference
// proxies' ABIs (@x402/evm 2.27 x402ExactPermit2ProxyABI and
// x402UptoPermit2ProxyABI, plus the EIP2612PermitFailedWith* events of the
// reference base contract).
var (
	permit2Functions = []abiFunc{
		{"DOMAIN_SEPARATOR()", "3644e515", "bytes32"},
		{"nonceBitmap(address,uint256)", "4fe02b44", "uint256"},
		{"invalidateUnorderedNonces(uint256,uint256)", "3ff9dcb1", ""},
		{"permitTransferFrom(((address,uint256),uint256,uint256),(address,uint256),address,bytes)", "30f28b7a", ""},
		{"permitWitnessTransferFrom(((address,uint256),uint256,uint256),(address,uint256),address,bytes32,string,bytes)", "137c29fe", ""},
	}
	permit2Events = []string{"UnorderedNonceInvalidation(address,uint256,uint256)"}
	permit2Errors = map[string]string{ // signature -> selector
		"InvalidNonce()":             "756688fe",
		"SignatureExpired(uint256)":  "cd21db4f",
		"InvalidAmount(uint256)":     "3728b83d",
		"InvalidSignatureLength()":   "4be6321b",
		"InvalidSignature()":         "8baa579f",
		"InvalidSigner()":            "815e1d64",
		"InvalidContractSignature()": "b0669cbc",
	}

	proxyViews = []abiFunc{
		{"PERMIT2()", "", "address"},
		{"WITNESS_TYPEHASH()", "", "bytes32"},
		{"WITNESS_TYPE_STRING()", "", "string"},
	}
	exactProxyFunctions = append([]abiFunc{
		{"settle(((address,uint256),uint256,uint256),address,(address,uint256),bytes)", "", ""},
		{"settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),((address,uint256),uint256,uint256),address,(address,uint256),bytes)", "", ""},
	}, proxyViews...)
	uptoProxyFunctions = append([]abiFunc{
		{"settle(((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)", "", ""},
		{"settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)", "", ""},
	}, proxyViews...)
	proxyEvents = []string{
		"Settled()",
		"SettledWithPermit()",
		"EIP2612PermitFailedWithReason(address,address,string)",
		"EIP2612PermitFailedWithPanic(address,address,uint256)",
		"EIP2612PermitFailedWithData(address,address,bytes)",
	}
	exactProxyErrors = []string{
		"InvalidAmount", "InvalidDestination", "InvalidOwner", "InvalidPermit2Address", "PaymentTooEarly",
		"Permit2612AmountMismatch", "ReentrancyGuardReentrantCall",
	}
	uptoProxyErrors = append([]string{"AmountExceedsPermitted", "UnauthorizedFacilitator"}, exactProxyErrors...)
)

// abiFunc is a function signature, its selector in hex when it is a
// well-known one to check ("" to skip) and its outputs as outputsOf renders
// them.
type abiFunc struct{ sig, selector, outputs string }

// checkFunctions requires exactly the functions fns in a.
func checkFunctions(t *testing.T, what string, a abi.ABI, fns []abiFunc) {
	t.Helper()
	for _, f := range fns {
		id := crypto.Keccak256([]byte(f.sig))[:4]
		if f.selector != "" && hex.EncodeToString(id) != f.selector {
			t.Errorf("%s: selector of %s is %x, want %s (a typo in the test)", what, f.sig, id, f.selector)
		}
		m, err := a.MethodById(id)
		if err != nil {
			t.Errorf("%s: ABI lacks %s: %v", what, f.sig, err)
			continue
		}
		if got := outputsOf(m); got != f.outputs {
			t.Errorf("%s: %s outputs (%s), want (%s)", what, f.sig, got, f.outputs)
		}
	}
	if len(a.Methods) != len(fns) {
		t.Errorf("%s: ABI has %d functions, want %d", what, len(a.Methods), len(fns))
	}
}

// checkEvents requires the events sigs, non-anonymous, and no others.
func checkEvents(t *testing.T, what string, a abi.ABI, sigs []string) {
	t.Helper()
	for _, sig := range sigs {
		ev, err := a.EventByID(crypto.Keccak256Hash([]byte(sig)))
		if err != nil || ev.Anonymous {
			t.Errorf("%s: ABI lacks event %s: %v", what, sig, err)
		}
	}
	if len(a.Events) != len(sigs) {
		t.Errorf("%s: ABI has %d events, want %d", what, len(a.Events), len(sigs))
	}
}

// checkRuntime checks a genesis runtime artifact: runtime code (not init
// code), within the EIP-170 size limit, returned as a fresh copy.
func checkRuntime(t *testing.T, what string, get func() []byte) []byte {
	t.Helper()
	code := get()
	if len(code) < 500 || len(code) > 24576 {
		t.Fatalf("%s: runtime bytecode is %d bytes", what, len(code))
	}
	if !bytes.HasPrefix(code, []byte{0x60, 0x80, 0x60, 0x40, 0x52}) {
		t.Errorf("%s: runtime bytecode starts with %x, not the free memory pointer set-up", what, code[:5])
	}
	code[0] ^= 0xff
	if get()[0] == code[0] {
		t.Fatalf("%s: bytecode accessor returned shared memory", what)
	}
	return get()
}

func TestEmbeddedPermit2(t *testing.T) {
	checkRuntime(t, "Permit2", Permit2RuntimeBytecode)
	a := Permit2ParsedABI()
	checkFunctions(t, "Permit2", a, permit2Functions)
	checkEvents(t, "Permit2", a, permit2Events)
	for sig, sel := range permit2Errors {
		if got := hex.EncodeToString(crypto.Keccak256([]byte(sig))[:4]); got != sel {
			t.Errorf("selector of %s is %s, want %s (a typo in the test)", sig, got, sel)
		}
		found := false
		for _, e := range a.Errors {
			found = found || e.Sig == sig
		}
		if !found {
			t.Errorf("Permit2 ABI lacks error %s", sig)
		}
	}
	if len(a.Errors) != len(permit2Errors) {
		t.Errorf("Permit2 ABI has %d errors, want %d", len(a.Errors), len(permit2Errors))
	}
	if len(a.Constructor.Inputs) != 0 {
		t.Error("Permit2 has constructor arguments; it must be genesis-safe")
	}
}

func TestEmbeddedPermit2Proxies(t *testing.T) {
	// The canonical Permit2 address, which the proxies push as a constant
	// (PUSH15: its first five bytes are zero).
	permit2 := []byte{0x6e, 0x22, 0xd4, 0x73, 0x03, 0x0f, 0x11, 0x6d, 0xde, 0xe9, 0xf6, 0xb4, 0x3a, 0xc7, 0x8b, 0xa3}
	for _, tc := range []struct {
		name   string
		code   func() []byte
		abi    abi.ABI
		fns    []abiFunc
		errors []string
	}{
		{"x402ExactPermit2Proxy", ExactPermit2ProxyRuntimeBytecode, ExactPermit2ProxyParsedABI(), exactProxyFunctions, exactProxyErrors},
		{"x402UptoPermit2Proxy", UptoPermit2ProxyRuntimeBytecode, UptoPermit2ProxyParsedABI(), uptoProxyFunctions, uptoProxyErrors},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := checkRuntime(t, tc.name, tc.code)
			if !bytes.Contains(code, permit2) {
				t.Error("runtime bytecode does not push the canonical Permit2 address")
			}
			checkFunctions(t, tc.name, tc.abi, tc.fns)
			checkEvents(t, tc.name, tc.abi, proxyEvents)
			for _, name := range tc.errors {
				if e, ok := tc.abi.Errors[name]; !ok || len(e.Inputs) != 0 {
					t.Errorf("ABI lacks error %s() (found %v)", name, ok)
				}
			}
			if len(tc.abi.Errors) != len(tc.errors) {
				t.Errorf("ABI has %d errors, want %d", len(tc.abi.Errors), len(tc.errors))
			}
			if len(tc.abi.Constructor.Inputs) != 0 {
				t.Error("constructor arguments; the proxy must be genesis-safe")
			}
		})
	}
}

func TestEmbeddedTestPermitToken(t *testing.T) {
	code := TestPermitTokenBytecode()
	if len(code) < 1000 {
		t.Fatalf("creation bytecode is only %d bytes", len(code))
	}
	code[0] ^= 0xff
	if TestPermitTokenBytecode()[0] == code[0] {
		t.Fatal("TestPermitTokenBytecode returned shared memory")
	}
	a := TestPermitTokenParsedABI()
	for _, sig := range []string{
		"permit(address,address,uint256,uint256,uint8,bytes32,bytes32)",
		"nonces(address)", "DOMAIN_SEPARATOR()", "eip712Domain()", "version()", "name()", "symbol()", "decimals()",
		"mint(address,uint256)", "balanceOf(address)", "allowance(address,address)", "approve(address,uint256)",
		"transfer(address,uint256)", "transferFrom(address,address,uint256)", "owner()",
	} {
		if _, err := a.MethodById(crypto.Keccak256([]byte(sig))[:4]); err != nil {
			t.Errorf("ABI lacks %s: %v", sig, err)
		}
	}
	// No EIP-3009: it is paid through Permit2.
	for _, name := range []string{"transferWithAuthorization", "receiveWithAuthorization", "authorizationState"} {
		if _, ok := a.Methods[name]; ok {
			t.Errorf("ABI has %s; the Permit2 test token must not implement EIP-3009", name)
		}
	}
	var ctor []string
	for _, in := range a.Constructor.Inputs {
		ctor = append(ctor, in.Type.String())
	}
	if got := joinComma(ctor); got != "string,string,address" {
		t.Errorf("constructor inputs (%s), want (string,string,address)", got)
	}
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
