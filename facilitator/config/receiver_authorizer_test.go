package config

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

func TestReceiverAuthorizer(t *testing.T) {
	const key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
	base := "devnet:\n  enabled: true\n"
	cases := []struct {
		name, yaml string
		env        map[string]string
		flag       string // --receiver-authorizer-key-env
		wantEnv    string
		invalid    string // Validate's message, if any
		loadErr    string
	}{
		{name: "none by default", yaml: base},
		{name: "from the file", yaml: base + "receiverAuthorizer:\n  privateKeyEnv: RA_KEY\n", env: map[string]string{"RA_KEY": key}, wantEnv: "RA_KEY"},
		{name: "from the environment", yaml: base, env: map[string]string{"GO402_RECEIVER_AUTHORIZER_PRIVATE_KEY_ENV": "RA_KEY", "RA_KEY": key}, wantEnv: "RA_KEY"},
		{name: "from the flag", yaml: base, flag: "RA2", env: map[string]string{"RA2": key}, wantEnv: "RA2"},
		{name: "a key pasted in place of the name", yaml: base + "receiverAuthorizer:\n  privateKeyEnv: " + key + "\n", wantEnv: key, invalid: "receiverAuthorizer.privateKeyEnv"},
		{name: "variable unset", yaml: base + "receiverAuthorizer:\n  privateKeyEnv: RA_KEY\n", wantEnv: "RA_KEY", loadErr: "RA_KEY is not set"},
		{name: "not a key", yaml: base + "receiverAuthorizer:\n  privateKeyEnv: RA_KEY\n", env: map[string]string{"RA_KEY": "0x1234"}, wantEnv: "RA_KEY", loadErr: "RA_KEY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mustParse(t, []byte(c.yaml), c.env)
			if c.flag != "" {
				if err := cfg.Set("receiverAuthorizer.privateKeyEnv", c.flag, "--receiver-authorizer-key-env"); err != nil {
					t.Fatal(err)
				}
			}
			if cfg.ReceiverAuthorizer.PrivateKeyEnv != c.wantEnv {
				t.Fatalf("privateKeyEnv = %q, want %q", cfg.ReceiverAuthorizer.PrivateKeyEnv, c.wantEnv)
			}
			err := cfg.Validate()
			if c.invalid != "" {
				if err == nil || !strings.Contains(err.Error(), c.invalid) || strings.Contains(err.Error(), key[2:]) {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, err := cfg.ReceiverAuthorizer.Load(func(n string) string { return c.env[n] })
			switch {
			case c.loadErr != "":
				if err == nil || !strings.Contains(err.Error(), c.loadErr) {
					t.Fatalf("Load: %v, want %q", err, c.loadErr)
				}
			case err != nil:
				t.Fatal(err)
			case c.wantEnv == "" && k != nil:
				t.Fatal("a key without configuration")
			case c.wantEnv != "" && (k == nil || crypto.PubkeyToAddress(k.PublicKey).Hex() != "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"):
				t.Fatalf("loaded %v", k)
			}
		})
	}
}
