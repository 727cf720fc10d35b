package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/go402/go402/evm"
)

// maxKeystoreSize bounds the keystore file read; real ones are under 1 KiB.
const maxKeystoreSize = 1 << 20

// LoadKeyFromEnv returns a signer for the hex private key (64 hex digits,
// with or without 0x) in the environment variable name. Its errors name
// the variable and never contain any part of its value.
func LoadKeyFromEnv(name string) (evm.Signer, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("client: environment variable %s is not set", name)
	}
	s, err := evm.NewPrivateKeySigner(v)
	if err != nil {
		// evm's key parsing errors never quote the input.
		return nil, fmt.Errorf("client: environment variable %s: %w", name, err)
	}
	return s, nil
}

// LoadKeystore decrypts an encrypted go-ethereum keystore file (version 3
// JSON, as written by geth account new or clef) and returns a signer for
// its key. A wrong passphrase is an error wrapping keystore.ErrDecrypt.
// Errors never contain key material or the passphrase.
func LoadKeystore(path, passphrase string) (evm.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: keystore: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeystoreSize+1))
	if err != nil {
		return nil, fmt.Errorf("client: keystore %s: %w", path, err)
	}
	if len(data) > maxKeystoreSize {
		return nil, fmt.Errorf("client: keystore %s is larger than %d bytes", path, maxKeystoreSize)
	}
	key, err := keystore.DecryptKey(data, passphrase)
	switch {
	case errors.Is(err, keystore.ErrDecrypt):
		return nil, fmt.Errorf("client: keystore %s: %w (wrong passphrase?)", path, err)
	case err != nil:
		// Not wrapped: the parser's errors may quote bytes of the file.
		return nil, fmt.Errorf("client: keystore %s is not a valid encrypted go-ethereum keystore file", path)
	}
	s, err := evm.NewPrivateKeySignerFromECDSA(key.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("client: keystore %s: %w", path, err)
	}
	return s, nil
}
