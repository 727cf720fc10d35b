package contracts

import "testing"

func TestSmartWalletArtifacts(t *testing.T) {
	wallet := SmartWalletParsedABI()
	for _, m := range []string{"isValidSignature", "setOwner", "owner", "execute"} {
		if _, ok := wallet.Methods[m]; !ok {
			t.Errorf("SmartWallet ABI has no %s", m)
		}
	}
	if got := wallet.Methods["isValidSignature"].ID; string(got) != "\x16\x26\xba\x7e" {
		t.Errorf("isValidSignature selector = %x, want 1626ba7e (EIP-1271)", got)
	}
	if len(wallet.Constructor.Inputs) != 1 || wallet.Constructor.Inputs[0].Type.String() != "address" {
		t.Errorf("SmartWallet constructor inputs = %v, want (address)", wallet.Constructor.Inputs)
	}
	factory := SmartWalletFactoryParsedABI()
	for _, m := range []string{"createAccount", "getAddress"} {
		if _, ok := factory.Methods[m]; !ok {
			t.Errorf("SmartWalletFactory ABI has no %s", m)
		}
	}
	if len(factory.Constructor.Inputs) != 0 {
		t.Error("SmartWalletFactory must have no constructor: it is placed in genesis")
	}
	for name, get := range map[string]func() []byte{"SmartWallet": SmartWalletBytecode, "SmartWalletFactory": SmartWalletFactoryRuntimeBytecode} {
		code := get()
		if len(code) < 500 {
			t.Errorf("%s bytecode is only %d bytes", name, len(code))
		}
		code[0] ^= 0xff
		if get()[0] == code[0] {
			t.Errorf("%s bytecode accessor returned shared memory", name)
		}
	}
}
