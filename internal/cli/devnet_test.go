package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/go402/go402/contracts"
)

func TestDevnetCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	path := filepath.Join(t.TempDir(), "devnet.json")

	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"devnet", "--listen", "127.0.0.1:0", "--info-file", path}, strings.NewReader(""), &stdout, &stderr)
	}()

	// Wait for the info file; it appears complete (renamed into place).
	var raw []byte
	deadline := time.After(60 * time.Second)
	for raw == nil {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			raw = b
			continue
		case !errors.Is(err, fs.ErrNotExist):
			t.Fatal(err)
		}
		select {
		case code := <-done:
			t.Fatalf("devnet exited early with code %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
		case <-deadline:
			cancel()
			t.Fatalf("no info file after 60s")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("info file mode %v, want 0600", st.Mode().Perm())
		}
	}

	var info struct {
		RPCURL  string `json:"rpcUrl"`
		ChainID uint64 `json:"chainId"`
		Network string `json:"network"`
		Token   struct {
			Address  string `json:"address"`
			Name     string `json:"name"`
			Version  string `json:"version"`
			Decimals uint8  `json:"decimals"`
		} `json:"token"`
		PermitToken struct {
			Address  string `json:"address"`
			Name     string `json:"name"`
			Version  string `json:"version"`
			Decimals uint8  `json:"decimals"`
		} `json:"permitToken"`
		Accounts []struct {
			Address    string `json:"address"`
			PrivateKey string `json:"privateKey"`
		} `json:"accounts"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("info file: %v\n%s", err, raw)
	}
	if !strings.HasPrefix(info.RPCURL, "http://127.0.0.1:") || info.ChainID != 31337 || info.Network != "eip155:31337" {
		t.Errorf("info header: %s", raw)
	}
	if !common.IsHexAddress(info.Token.Address) || info.Token.Name != "USDC" || info.Token.Version != "2" || info.Token.Decimals != 6 {
		t.Errorf("info token: %+v", info.Token)
	}
	if pt := info.PermitToken; !common.IsHexAddress(pt.Address) || pt.Address == info.Token.Address || pt.Name != "Test Permit Dollar" || pt.Version != "1" || pt.Decimals != 6 {
		t.Errorf("info permitToken: %+v", pt)
	}
	if len(info.Accounts) != 10 {
		t.Fatalf("%d accounts, want 10", len(info.Accounts))
	}
	for i, a := range info.Accounts {
		key, err := crypto.HexToECDSA(strings.TrimPrefix(a.PrivateKey, "0x"))
		if err != nil || !strings.HasPrefix(a.PrivateKey, "0x") {
			t.Fatalf("account %d private key %q: %v", i, a.PrivateKey, err)
		}
		if got := crypto.PubkeyToAddress(key.PublicKey).Hex(); got != a.Address {
			t.Errorf("account %d address %s, key gives %s", i, a.Address, got)
		}
	}

	// The chain is reachable over JSON-RPC and the token is funded.
	c, err := ethclient.DialContext(ctx, info.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, err := c.ChainID(ctx)
	if err != nil || id.Uint64() != 31337 {
		t.Fatalf("eth_chainId = %v, %v", id, err)
	}
	tokenABI := contracts.TestUSDCParsedABI()
	data, err := tokenABI.Pack("balanceOf", common.HexToAddress(info.Accounts[0].Address))
	if err != nil {
		t.Fatal(err)
	}
	token := common.HexToAddress(info.Token.Address)
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bal := new(big.Int).SetBytes(out); bal.Cmp(big.NewInt(1_000_000_000_000)) != 0 {
		t.Errorf("balanceOf(account 0) = %v (0x%s), want 1e12", bal, hexutil.Encode(out))
	}

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, &stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("devnet did not stop after cancel")
	}

	printed := stdout.String()
	for _, want := range []string{
		"DEV ONLY — these keys are public, never use them on a real network",
		info.RPCURL, "eip155:31337", info.Token.Address, info.Accounts[0].PrivateKey, info.Accounts[9].Address,
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("stdout lacks %q:\n%s", want, printed)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("info file not removed on exit: %v", err)
	}
	if strings.Contains(stderr.String(), info.Accounts[0].PrivateKey[2:]) {
		t.Error("a private key was logged to stderr")
	}
}

func TestDevnetUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--accounts", "0"},
		{"--accounts", "100000"},
		{"--chain-id", "0"},
		{"--listen", "0.0.0.0:8545"},
		{"--listen", ""},
		{"--addr", "0.0.0.0:8545"}, // the former name of --listen
		{"--addr", ""},
		{"--block-time", "500ms"},
		{"--nope"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(t.Context(), append([]string{"devnet"}, args...), strings.NewReader(""), &stdout, &stderr)
		if code != ExitUsage {
			t.Errorf("devnet %v: exit code %d, want %d (stderr %q)", args, code, ExitUsage, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("devnet %v printed to stdout: %q", args, stdout.String())
		}
	}
}

func TestFormatUnits(t *testing.T) {
	for _, c := range []struct {
		v    int64
		dec  int
		want string
	}{
		{1_000_000_000_000, 6, "1000000"},
		{1_500_000, 6, "1.5"},
		{1, 6, "0.000001"},
		{0, 6, "0"},
		{123, 0, "123"},
	} {
		if got := formatUnits(big.NewInt(c.v), c.dec); got != c.want {
			t.Errorf("formatUnits(%d, %d) = %q, want %q", c.v, c.dec, got, c.want)
		}
	}
}
