package config

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"

	"github.com/go402/go402/evm"
)

func (s *Signer) Source() string {
	switch {
	case s.PrivateKey != "":
		return "signer.privateKey in the configuration file"
	case s.Keystore != "":
		return "keystore " + s.Keystore
	default:
		return "environment variable " + s.PrivateKeyEnv
	}
}

// Load reads the settlement key from the configured source; env reads
// environment variables (os.Getenv in production). Errors name the source
// but never contain key material or the password.
func (s *Signer) Load(env func(string) string) (*ecdsa.PrivateKey, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	switch {
	case s.PrivateKey != "":
		if !s.AllowInsecureKeyInConfig {
			return nil, errors.New("signer: refusing signer.privateKey from the configuration file (set allowInsecureKeyInConfig: true to allow it)")
		}
		k, err := evm.ParsePrivateKey(s.PrivateKey.Value())
		if err != nil {
			return nil, fmt.Errorf("signer: signer.privateKey: %w", err)
		}
		return k, nil
	case s.Keystore != "":
		return s.loadKeystore(env)
	default:
		name := s.PrivateKeyEnv
		if name == "" {
			name = DefaultPrivateKeyEnv
		}
		v := env(name)
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("signer: environment variable %s is not set (it must hold the facilitator's hex private key)", name)
		}
		k, err := evm.ParsePrivateKey(v)
		if err != nil {
			return nil, fmt.Errorf("signer: environment variable %s: %w", name, err)
		}
		return k, nil
	}
}

func (s *Signer) loadKeystore(env func(string) string) (*ecdsa.PrivateKey, error) {
	var password string
	switch {
	case s.PasswordEnv != "":
		password = env(s.PasswordEnv)
		if password == "" {
			return nil, fmt.Errorf("signer: keystore password variable %s is not set", s.PasswordEnv)
		}
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("signer: reading the keystore password: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	default:
		return nil, errors.New("signer: keystore needs passwordEnv or passwordFile")
	}
	data, err := os.ReadFile(s.Keystore)
	if err != nil {
		return nil, fmt.Errorf("signer: reading the keystore: %w", err)
	}
	key, err := keystore.DecryptKey(data, password)
	switch {
	case errors.Is(err, keystore.ErrDecrypt):
		return nil, fmt.Errorf("signer: keystore %s: %w (wrong password?)", s.Keystore, err)
	case err != nil:
		// Do not wrap: parser errors may quote bytes of the file.
		return nil, fmt.Errorf("signer: keystore %s is not a valid encrypted go-ethereum keystore file", s.Keystore)
	}
	return key.PrivateKey, nil
}

// Load reads the receiver-authorizer key, or returns nil when none is
// configured. Errors name the variable, never its value.
func (r *ReceiverAuthorizer) Load(env func(string) string) (*ecdsa.PrivateKey, error) {
	if r.PrivateKeyEnv == "" {
		return nil, nil
	}
	if env == nil {
		env = func(string) string { return "" }
	}
	v := env(r.PrivateKeyEnv)
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("receiverAuthorizer: environment variable %s is not set", r.PrivateKeyEnv)
	}
	k, err := evm.ParsePrivateKey(v)
	if err != nil {
		return nil, fmt.Errorf("receiverAuthorizer: environment variable %s: %w", r.PrivateKeyEnv, err)
	}
	return k, nil
}
