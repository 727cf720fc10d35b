package client_test

import (
	"crypto/ecdsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/client"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func TestLoadKeystoreRoundTrip(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	// Light scrypt parameters keep the test fast.
	data, err := keystore.EncryptKey(&keystore.Key{Address: addr, PrivateKey: key}, "correct horse", 1<<4, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := client.LoadKeystore(path, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if s.Address() != addr {
		t.Errorf("address %s, want %s", s.Address(), addr)
	}
	_, err = client.LoadKeystore(path, "hunter2")
	if !errors.Is(err, keystore.ErrDecrypt) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("wrong passphrase: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := writeFile(bad, `{"crypto":"SECRETBYTES"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := client.LoadKeystore(bad, "x"); err == nil || strings.Contains(err.Error(), "SECRETBYTES") {
		t.Errorf("garbage keystore: %v", err)
	}
	if _, err := client.LoadKeystore(filepath.Join(t.TempDir(), "missing"), "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing keystore: %v", err)
	}
}

func TestLoadKeyFromEnv(t *testing.T) {
	const good = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	t.Setenv("GO402_TEST_KEY", good+"\n")
	s, err := client.LoadKeyFromEnv("GO402_TEST_KEY")
	if err != nil {
		t.Fatal(err)
	}
	if want := crypto.PubkeyToAddress(mustECDSA(t, good[2:]).PublicKey); s.Address() != want {
		t.Errorf("address %s, want %s", s.Address(), want)
	}
	for name, v := range map[string]string{
		"not hex":   "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231z",
		"too short": "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f3623",
		"zero":      strings.Repeat("0", 64),
		"too long":  good + "ab",
	} {
		t.Setenv("GO402_TEST_KEY", v)
		_, err := client.LoadKeyFromEnv("GO402_TEST_KEY")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "GO402_TEST_KEY") {
			t.Errorf("%s: %q does not name the variable", name, msg)
		}
		// No run of 6 characters of the value appears in the error.
		for i := 0; i+6 <= len(v); i++ {
			if strings.Contains(msg, v[i:i+6]) {
				t.Errorf("%s: error %q leaks key material %q", name, msg, v[i:i+6])
				break
			}
		}
	}
	t.Setenv("GO402_TEST_KEY", "")
	if _, err := client.LoadKeyFromEnv("GO402_TEST_KEY"); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Errorf("empty: %v", err)
	}
}

func mustECDSA(t *testing.T, hex string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.HexToECDSA(hex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
