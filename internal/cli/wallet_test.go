package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/evm"
)

func TestWalletNewKeystoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "payer.json")
	t.Setenv("GO402_TEST_WALLET_PASS", "correct horse battery staple")

	r := payCLI(t, "", "wallet", "new", "--keystore", path, "--password-env", "GO402_TEST_WALLET_PASS", "--light")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	addr := strings.TrimSpace(r.stdout)
	if !common.IsHexAddress(addr) || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout = %q, want only the address", r.stdout)
	}
	if runtime.GOOS != "windows" {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("keystore mode: %v %v", st, err)
		}
	}
	var ks struct {
		Address string `json:"address"`
		Crypto  struct {
			KDF string `json:"kdf"`
		} `json:"crypto"`
		Version int `json:"version"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ks); err != nil || ks.Version != 3 || ks.Crypto.KDF != "scrypt" || common.HexToAddress(ks.Address) != common.HexToAddress(addr) {
		t.Errorf("keystore %s: %v", b, err)
	}

	r = payCLI(t, "", "wallet", "address", "--keystore", path, "--password-env", "GO402_TEST_WALLET_PASS")
	if r.code != 0 || strings.TrimSpace(r.stdout) != addr {
		t.Errorf("wallet address: exit %d, %q, want %s", r.code, r.stdout, addr)
	}

	// Never overwritten.
	r = payCLI(t, "", "wallet", "new", "--keystore", path, "--password-env", "GO402_TEST_WALLET_PASS", "--light")
	if r.code != ExitError || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second wallet new: exit %d", r.code)
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Error("the keystore was overwritten")
	}

	// A wrong passphrase fails.
	t.Setenv("GO402_TEST_WALLET_PASS", "wrong")
	r = payCLI(t, "", "wallet", "address", "--keystore", path, "--password-env", "GO402_TEST_WALLET_PASS")
	if r.code != ExitError || r.stdout != "" {
		t.Errorf("wrong passphrase: exit %d, stdout %q", r.code, r.stdout)
	}

	// No passphrase: nothing written.
	t.Setenv("GO402_TEST_WALLET_PASS", "")
	other := filepath.Join(dir, "other.json")
	r = payCLI(t, "", "wallet", "new", "--keystore", other, "--password-env", "GO402_TEST_WALLET_PASS", "--light")
	if _, err := os.Stat(other); r.code != ExitError || err == nil {
		t.Errorf("empty passphrase: exit %d, file %v", r.code, err)
	}
}

func TestWalletNewPlain(t *testing.T) {
	r := payCLI(t, "", "wallet", "new")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var addr, key string
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "address":
			addr = f[1]
		case len(f) == 3 && f[0] == "private" && f[1] == "key":
			key = f[2]
		}
	}
	if !strings.Contains(r.stdout, "WARNING") || r.stderr != "" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	s, err := evm.NewPrivateKeySigner(key)
	if err != nil || s.Address() != common.HexToAddress(addr) || !common.IsHexAddress(addr) {
		t.Fatalf("key does not match address %s: %v", addr, err)
	}

	// wallet address reads it back from the environment.
	t.Setenv("GO402_TEST_WALLET_KEY", key)
	r = payCLI(t, "", "wallet", "address", "--key-env", "GO402_TEST_WALLET_KEY")
	if r.code != 0 || strings.TrimSpace(r.stdout) != s.Address().Hex() {
		t.Errorf("wallet address: exit %d, %q", r.code, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, strings.TrimPrefix(key, "0x")) {
		t.Error("wallet address printed the key")
	}
}

func TestWalletBalanceDevnet(t *testing.T) {
	s := startPayShop(t)
	t.Setenv(defaultKeyEnv, s.payerKey)

	check := func(r payRun, who common.Address) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		for _, want := range []string{who.Hex(), s.info.Network, "1000000 USDC", "1000000000000 atomic", s.token.Hex(), "10000 ETH"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout has no %q", want)
			}
		}
	}
	// The payer key's balance, through the facilitator's info file.
	check(payCLI(t, "", "wallet", "balance", "--devnet-info", s.infoPath), s.payer)

	// Another account, through a go402 devnet info file.
	plain := filepath.Join(t.TempDir(), "devnet.json")
	b, err := json.Marshal(s.info.Devnet)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, b, 0o600); err != nil {
		t.Fatal(err)
	}
	other := common.HexToAddress(s.info.Devnet.Accounts[1].Address)
	check(payCLI(t, "", "wallet", "balance", "--devnet-info", plain, "--address", other.Hex()), other)

	// Through --rpc with an explicit asset (not in the registry: its
	// decimals and symbol come from the chain).
	check(payCLI(t, "", "wallet", "balance", "--rpc", s.info.Devnet.RPCURL, "--network", s.info.Network, "--asset", s.token.Hex()), s.payer)

	// An address with nothing.
	empty := common.BytesToAddress(crypto.Keccak256([]byte("go402 wallet test empty")))
	r := payCLI(t, "", "wallet", "balance", "--devnet-info", plain, "--address", empty.Hex())
	if r.code != 0 || !strings.Contains(r.stdout, "0 USDC") || !strings.Contains(r.stdout, "0 ETH") {
		t.Errorf("exit %d", r.code)
	}

	// The wrong network.
	r = payCLI(t, "", "wallet", "balance", "--rpc", s.info.Devnet.RPCURL, "--network", "eip155:1", "--asset", s.token.Hex())
	if r.code != ExitError || !strings.Contains(r.stderr, "not eip155:1") {
		t.Errorf("wrong network: exit %d", r.code)
	}
	// No default asset for an unknown chain.
	r = payCLI(t, "", "wallet", "balance", "--rpc", s.info.Devnet.RPCURL)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--asset") {
		t.Errorf("no asset: exit %d", r.code)
	}
}

func TestWalletUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"wallet"},
		{"wallet", "spend"},
		{"wallet", "new", "extra"},
		{"wallet", "new", "--light"},
		{"wallet", "new", "--password-env", "X"},
		{"wallet", "address", "--key-env", "A", "--keystore", "k"},
		{"wallet", "address", "--password-env", "A"},
		{"wallet", "balance"},
		{"wallet", "balance", "--rpc", "http://a", "--devnet-info", "f"},
		{"wallet", "balance", "--rpc", "http://a", "--address", "nope"},
		{"wallet", "balance", "--rpc", "http://a", "--asset", "nope"},
		{"wallet", "balance", "--rpc", "http://a", "--network", "base"},
		{"wallet", "balance", "--rpc", "http://a", "--address", "0x0000000000000000000000000000000000000001", "--key-env", "X"},
	} {
		var stdout, stderr syncBuffer
		if code := Run(t.Context(), args, strings.NewReader(""), &stdout, &stderr); code != ExitUsage || stdout.String() != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}
