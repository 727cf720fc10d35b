package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// testKeyHex is a throwaway key used only by these tests.
const testKeyHex = "0x8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63"

// envMap returns an env function reading m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// doc strips the leading newline of a raw-string YAML document, so that its
// first line is line 1.
func doc(s string) []byte { return []byte(strings.TrimPrefix(s, "\n")) }

const network = `
networks:
  - network: eip155:84532
    rpcUrls: [https://sepolia.base.org]
`

func mustParse(t *testing.T, data []byte, env map[string]string) *Config {
	t.Helper()
	c, err := Parse("test.yaml", data, envMap(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestSampleParsesAndValidates(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("sample.yaml", data, nil)
	if err != nil {
		t.Fatalf("Parse(sample.yaml): %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(sample.yaml): %v", err)
	}
	if c.Listen != DefaultListen || c.Database.SQLite != DefaultSQLitePath || c.Signer.PrivateKeyEnv != DefaultPrivateKeyEnv ||
		c.SettleTimeout != DefaultSettleTimeout || c.LogLevel != DefaultLogLevel || c.LogFormat != DefaultLogFormat ||
		c.Devnet.Enabled || c.Devnet.ChainID != DefaultDevnetChainID {
		t.Errorf("sample.yaml should show the defaults, got %+v", c)
	}
	if len(c.Networks) != 1 || c.Networks[0].Network != "eip155:84532" || c.Networks[0].ChainID != 84532 || len(c.Networks[0].Assets) != 1 {
		t.Errorf("networks = %+v", c.Networks)
	}
	// Every environment override is documented in the header.
	for _, o := range EnvOverrides() {
		if !bytes.Contains(data, []byte(o[0])) || !bytes.Contains(data, []byte(o[1])) {
			t.Errorf("sample.yaml does not document %s (%s)", o[0], o[1])
		}
	}
}

func TestLoadTestdata(t *testing.T) {
	t.Setenv("PGPASSWORD", "s3cret")
	for _, name := range []string{"minimal.yaml", "full.yaml"} {
		c, err := Load(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(c.Networks) == 0 {
			t.Fatalf("%s: no networks", name)
		}
	}
	c, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.Postgres != "postgres://go402:s3cret@db.internal/go402?sslmode=verify-full" || c.Database.SQLite != "" {
		t.Errorf("database = %+v", c.Database)
	}
	if c.Networks[0].Network != "eip155:8453" || c.Networks[0].Assets[0].Name != "USD Coin" {
		t.Errorf("chainId-only network not completed from the built-in table: %+v", c.Networks[0])
	}
	if b := c.Networks[0].Batch; b != (Batch{Enabled: true, Multicall: evm.Multicall3Address(), MaxSize: 24, Window: 5 * time.Millisecond}) || c.Networks[0].ReadBatchSize != 50 {
		t.Errorf("networks[0]: batch %+v, readBatchSize %d", b, c.Networks[0].ReadBatchSize)
	}
	if b := c.Networks[1].Batch; b.Enabled || c.Networks[1].ReadBatchSize != evm.DefaultReadBatchSize {
		t.Errorf("networks[1]: batch %+v, readBatchSize %d; want the defaults", b, c.Networks[1].ReadBatchSize)
	}
	if got := c.Networks[1].Assets[0]; got.Address != common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e") || got.Decimals != 6 || got.Version != "2" {
		t.Errorf("asset = %+v", got)
	}
	if c.SettleTimeout != 90*time.Second || c.SlogLevel() != slog.LevelDebug || c.LogFormat != "json" || len(c.Auth.APIKeyHashes) != 2 {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadInvalidReportsEveryProblemWithItsLine(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "invalid.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	name := filepath.Join("testdata", "invalid.yaml")
	for _, want := range []string{
		name + ":1: listen: must be host:port",
		name + ":3: database.sqlite: must be a plain file path",
		name + ":5: signer.privateKey: refusing a private key",
		name + ":7: networks[0].assets: required: eip155:999999 has no built-in stablecoins",
		name + ":8: networks[0].rpcUrls: required",
		name + ":9: settleTimeout: must be a positive duration",
		name + ":10: logLevel: must be one of",
		name + ":11: logFormat: must be text or json",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "1111111111") {
		t.Errorf("error quotes the private key:\n%v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, doc(network), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen:        "127.0.0.1:4022",
		Database:      Database{SQLite: "./go402-facilitator.db"},
		Signer:        Signer{PrivateKeyEnv: "GO402_FACILITATOR_KEY"},
		SettleTimeout: 2 * time.Minute,
		LogLevel:      "info",
		LogFormat:     "text",
		Devnet:        Devnet{ChainID: 31337, Batch: Batch{Enabled: true, Multicall: evm.Multicall3Address(), MaxSize: 16}},
	}
	if c.Listen != want.Listen || c.Database != want.Database || c.Signer != want.Signer || c.SettleTimeout != want.SettleTimeout ||
		c.LogLevel != want.LogLevel || c.LogFormat != want.LogFormat || c.Devnet != want.Devnet || c.Auth.APIKeyHashes != nil {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	n := c.Networks[0]
	if n.ChainID != 84532 || len(n.Assets) != 1 || n.Assets[0].Address != common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e") || n.Assets[0].Name != "USDC" {
		t.Errorf("network defaults: %+v", n)
	}
	// Batching is off on configured networks, with the evm defaults ready.
	if n.Batch != (Batch{Multicall: evm.Multicall3Address(), MaxSize: evm.DefaultBatchMaxSize}) || n.ReadBatchSize != evm.DefaultReadBatchSize {
		t.Errorf("network batching defaults: batch %+v, readBatchSize %d", n.Batch, n.ReadBatchSize)
	}
	if n.Batch.EVM() != (evm.BatchConfig{}) {
		t.Errorf("disabled batch gives %+v, want the zero evm.BatchConfig", n.Batch.EVM())
	}
	if c.IsSet("database") || c.IsSet("listen") || !c.IsSet("networks") {
		t.Errorf("IsSet: database %v listen %v networks %v", c.IsSet("database"), c.IsSet("listen"), c.IsSet("networks"))
	}

	// Empty input: defaults only; valid with the devnet.
	c = mustParse(t, nil, nil)
	c.Devnet.Enabled = true
	if err := c.Validate(); err != nil {
		t.Errorf("empty config with devnet: %v", err)
	}
	c.Devnet.Enabled = false
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "test.yaml: networks: at least one network is required") {
		t.Errorf("empty config without devnet: %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string // substring of the error; "test.yaml:LINE: field: message"
	}{
		{"listen without port", "listen: localhost\n" + network, nil, "test.yaml:1: listen: must be host:port"},
		{"listen bad port", "listen: 127.0.0.1:99999\n" + network, nil, "test.yaml:1: listen: the port must be a number from 0 to 65535"},
		{"metricsListen without port", "metricsListen: localhost\n" + network, nil, "test.yaml:1: metricsListen: must be host:port"},
		{"two databases", "database:\n  sqlite: a.db\n  postgres: postgres://x@y/z\n" + network, nil, "test.yaml:1: database: set exactly one of sqlite and postgres"},
		{"sqlite memory", "database:\n  sqlite: \":memory:\"\n" + network, nil, "test.yaml:2: database.sqlite: must be a plain file path"},
		{"sqlite uri", "database:\n  sqlite: file:x.db?mode=rwc\n" + network, nil, "test.yaml:2: database.sqlite: must be a plain file path"},
		{"postgres garbage", "database:\n  postgres: hunter2\n" + network, nil, "test.yaml:2: database.postgres: must be a postgres:// URL"},
		{"api key hash", "auth:\n  apiKeyHashes:\n    - 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n    - not-a-hash\n" + network, nil,
			"test.yaml:4: auth.apiKeyHashes[1]: not a hex SHA-256"},
		{"private key refused", "signer:\n  privateKey: " + testKeyHex + "\n" + network, nil, "test.yaml:2: signer.privateKey: refusing a private key written in the configuration file"},
		{"two key sources", "signer:\n  privateKeyEnv: K\n  keystore: k.json\n  passwordEnv: P\n" + network, nil, "test.yaml:1: signer: set exactly one of privateKeyEnv, keystore and privateKey"},
		{"key in privateKeyEnv", "signer:\n  privateKeyEnv: " + testKeyHex + "\n" + network, nil, "test.yaml:2: signer.privateKeyEnv: must be the name of an environment variable"},
		{"password in passwordEnv", "signer:\n  keystore: k.json\n  passwordEnv: hunter 2\n" + network, nil, "test.yaml:3: signer.passwordEnv: must be the name of an environment variable"},
		{"keystore without password", "signer:\n  keystore: k.json\n" + network, nil, "test.yaml:2: signer.keystore: needs passwordEnv or passwordFile"},
		{"two password sources", "signer:\n  keystore: k.json\n  passwordEnv: P\n  passwordFile: p.txt\n" + network, nil, "test.yaml:1: signer: set only one of passwordEnv and passwordFile"},
		{"passwordEnv without keystore", "signer:\n  passwordEnv: P\n" + network, nil, "test.yaml:2: signer.passwordEnv: is only used with keystore"},
		{"passwordFile without keystore", "signer:\n  passwordFile: p.txt\n" + network, nil, "test.yaml:2: signer.passwordFile: is only used with keystore"},
		{"zero settle timeout", "settleTimeout: 0s\n" + network, nil, "test.yaml:1: settleTimeout: must be a positive duration"},
		{"negative settle timeout", "settleTimeout: -1m\n" + network, nil, "test.yaml:1: settleTimeout: must be a positive duration"},
		{"log level", "logLevel: verbose\n" + network, nil, "test.yaml:1: logLevel: must be one of debug, info, warn, error"},
		{"log format", "logFormat: xml\n" + network, nil, "test.yaml:1: logFormat: must be text or json"},
		{"devnet chain id", "devnet:\n  enabled: true\n  chainId: 0\n", nil, "test.yaml:3: devnet.chainId: must be a positive chain id"},
		{"devnet with networks", "devnet:\n  enabled: true\n" + network, nil, "test.yaml:4: networks: must be empty when the devnet is enabled"},
		{"no networks", "listen: 127.0.0.1:1\n", nil, "test.yaml: networks: at least one network is required"},
		{"empty networks", "networks: []\n", nil, "test.yaml:1: networks: at least one network is required"},
		{"network missing", "networks:\n  - rpcUrls: [http://a]\n", nil, "test.yaml:2: networks[0].network: required (or chainId)"},
		{"network not evm", "networks:\n  - network: solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp\n    rpcUrls: [http://a]\n", nil,
			"test.yaml:2: networks[0].network: must be an EVM network"},
		{"network and chainId disagree", "networks:\n  - network: eip155:8453\n    chainId: 84532\n    rpcUrls: [http://a]\n", nil,
			"test.yaml:3: networks[0].chainId: 84532 does not match network eip155:8453"},
		{"network twice", "networks:\n  - network: eip155:8453\n    rpcUrls: [http://a]\n  - network: base\n    rpcUrls: [http://b]\n", nil,
			"test.yaml:4: networks[1].network: eip155:8453 is listed twice"},
		{"rpcUrls missing", "networks:\n  - network: eip155:8453\n", nil, "test.yaml:2: networks[0].rpcUrls: required"},
		{"rpcUrl not a URL", "networks:\n  - network: eip155:8453\n    rpcUrls:\n      - http://a\n      - mainnet.example/apikey\n", nil,
			"test.yaml:5: networks[0].rpcUrls[1]: must be an http(s):// or ws(s):// URL"},
		{"assets required", "networks:\n  - chainId: 999999\n    rpcUrls: [http://a]\n", nil, "test.yaml:2: networks[0].assets: required: eip155:999999 has no built-in stablecoins"},
		{"asset address missing", "networks:\n  - chainId: 999999\n    rpcUrls: [http://a]\n    assets:\n      - {name: USDC, version: \"2\"}\n", nil,
			"test.yaml:5: networks[0].assets[0].address: required"},
		{"asset twice", "networks:\n  - chainId: 999999\n    rpcUrls: [http://a]\n    assets:\n" +
			"      - {address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\", name: USDC, version: \"2\"}\n" +
			"      - {address: \"0x036cbd53842c5426634e7929541ec2318f3dcf7e\", name: USDC, version: \"2\"}\n", nil,
			"test.yaml:6: networks[0].assets[1].address: 0x036CbD53842c5426634e7929541eC2318f3dCF7e is listed twice"},
		{"asset name missing", "networks:\n  - chainId: 999999\n    rpcUrls: [http://a]\n    assets:\n      - address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\"\n        version: \"2\"\n", nil,
			"test.yaml:5: networks[0].assets[0].name: required"},
		{"asset version missing", "networks:\n  - chainId: 999999\n    rpcUrls: [http://a]\n    assets:\n      - address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\"\n        name: USDC\n", nil,
			"test.yaml:5: networks[0].assets[0].version: required"},
		{"asset decimals", "networks:\n  - chainId: 999999\n    rpcUrls: [http://a]\n    assets:\n      - {address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\", name: U, version: \"1\", decimals: 78}\n", nil,
			"test.yaml:5: networks[0].assets[0].decimals: must be at most 77"},
		{"asset transfer method", "networks:\n  - chainId: 999999\n    rpcUrls: [http://a]\n    assets:\n      - address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\"\n        name: U\n        version: \"1\"\n        transferMethod: wire\n", nil,
			"test.yaml:8: networks[0].assets[0].transferMethod: must be eip3009 or permit2"},
		{"zero reconcile interval", "reconcileInterval: 0s\n" + network, nil, "test.yaml:1: reconcileInterval: must be a positive duration"},
		{"negative block age", "readiness: {maxBlockAge: -1s}\n" + network, nil, "test.yaml:1: readiness.maxBlockAge: must be a positive duration"},
		{"gas floor not a number", "readiness: {minGasBalance: 0.01 ETH}\n" + network, nil, "test.yaml:1: readiness.minGasBalance: must be a non-negative whole number of wei"},
		{"negative gas floor", "readiness: {minGasBalance: \"-1\"}\n" + network, nil, "test.yaml:1: readiness.minGasBalance: must be a non-negative whole number of wei"},
		{"env gas floor", network, map[string]string{"GO402_READINESS_MIN_GAS_BALANCE": "lots"}, "test.yaml: readiness.minGasBalance (from GO402_READINESS_MIN_GAS_BALANCE): must be a non-negative"},
		{"negative shutdown timeout", "shutdownTimeout: -1s\n" + network, nil, "test.yaml:1: shutdownTimeout: must be a positive duration"},
		{"instance with a space", "instance: \"a b\"\n" + network, nil, "test.yaml:1: instance: must be printable, without spaces"},
		{"instance too long", "instance: " + strings.Repeat("x", 129) + "\n" + network, nil, "test.yaml:1: instance: must be at most 128 bytes"},
		{"env instance", network, map[string]string{"GO402_INSTANCE": "tab\there"}, "test.yaml: instance (from GO402_INSTANCE): must be printable"},
		{"env listen", network, map[string]string{"GO402_LISTEN": "nowhere"}, "test.yaml: listen (from GO402_LISTEN): must be host:port"},
		{"env api key hashes", network, map[string]string{"GO402_AUTH_API_KEY_HASHES": "abc"}, "test.yaml: auth.apiKeyHashes[0] (from GO402_AUTH_API_KEY_HASHES): not a hex SHA-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("test.yaml", doc(tt.yaml), envMap(tt.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = c.Validate()
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Errorf("error is not a *FieldError with a field: %#v", err)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(testKeyHex, "0x")) || strings.Contains(err.Error(), "hunter") ||
				strings.Contains(err.Error(), "apikey") {
				t.Errorf("error quotes a secret: %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{"unknown top-level key", "listen: 127.0.0.1:1\nlisten_addr: x\n", nil, "test.yaml:2: listen_addr: unknown key (did you mean listen?)"},
		{"unknown nested key", network + "    rpcUrl: [http://a]\n", nil, "test.yaml:4: networks[0].rpcUrl: unknown key (did you mean rpcUrls?)"},
		{"unknown key in asset", "networks:\n  - chainId: 1\n    rpcUrls: [http://a]\n    assets:\n      - {address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\", colour: blue}\n", nil,
			"test.yaml:5: networks[0].assets[0].colour: unknown key"},
		{"case of key", "LogLevel: debug\n", nil, "test.yaml:1: LogLevel: unknown key (did you mean logLevel?)"},
		{"duplicate key", "listen: a:1\nlisten: b:2\n", nil, "test.yaml:2: listen: duplicate key"},
		{"list for a string", "listen: [a, b]\n", nil, "test.yaml:1: listen: must be a single value"},
		{"string for a list", "networks: eip155:1\n", nil, "test.yaml:1: networks: must be a list"},
		{"scalar for a mapping", "database: x.db\n", nil, "test.yaml:1: database: database must be a mapping"},
		{"top level not a mapping", "- a\n- b\n", nil, "test.yaml:1: the top level must be a mapping"},
		{"bad duration", "settleTimeout: 120\n", nil, "test.yaml:1: settleTimeout: must be a duration with a unit"},
		{"bad chain id", "networks:\n  - chainId: -3\n", nil, "test.yaml:2: networks[0].chainId: must be a non-negative decimal integer"},
		{"bad decimals", "networks:\n  - chainId: 1\n    assets:\n      - {decimals: 300}\n", nil, "test.yaml:4: networks[0].assets[0].decimals: must be a non-negative decimal integer below 2^8"},
		{"bad bool", "signer:\n  allowInsecureKeyInConfig: sure\n", nil, "test.yaml:2: signer.allowInsecureKeyInConfig: must be true or false"},
		{"bad address", "networks:\n  - chainId: 1\n    assets:\n      - address: 0x1234\n", nil, "test.yaml:4: networks[0].assets[0].address: must be a 0x-prefixed 20-byte hex address"},
		{"bad checksum", "networks:\n  - chainId: 1\n    assets:\n      - address: \"0x036CbD53842c5426634e7929541eC2318f3dCF7E\"\n", nil,
			"test.yaml:4: networks[0].assets[0].address: mixed-case address with a wrong EIP-55 checksum"},
		{"yaml syntax", "listen: 127.0.0.1:1\nnetworks:\n  - network: [eip155:1\n", nil, "test.yaml:"},
		{"tab indentation", "database:\n\tsqlite: x\n", nil, "test.yaml:2: invalid YAML"},
		{"two documents", "listen: a:1\n---\nlisten: b:2\n", nil, "test.yaml:2: invalid YAML: a single document is expected (remove the second ---)"},
		{"non-scalar key", "? [a]\n: b\n", nil, "test.yaml:1: keys must be plain names"},
		{"unset variable", "database:\n  postgres: postgres://u:${PGPASS}@h/d\n", nil, "test.yaml:2: database.postgres: environment variable PGPASS (referenced as ${PGPASS}) is not set"},
		{"unterminated variable", "listen: ${HOST:1\n", nil, "test.yaml:1: listen: unterminated ${"},
		{"bad variable name", "listen: ${1x}:1\n", nil, "test.yaml:1: listen: ${...} must hold an environment variable name"},
		{"env bad duration", network, map[string]string{"GO402_SETTLE_TIMEOUT": "soon"}, "test.yaml: settleTimeout (from GO402_SETTLE_TIMEOUT): must be a duration"},
		{"env bad bool", network, map[string]string{"GO402_DEVNET": "yes please"}, "test.yaml: devnet.enabled (from GO402_DEVNET): must be true or false"},
		{"env two databases", network, map[string]string{"GO402_DATABASE_SQLITE": "a.db", "GO402_DATABASE_POSTGRES": "postgres://h/d"},
			"database (from GO402_DATABASE_SQLITE and GO402_DATABASE_POSTGRES): set only one of them"},
		// A renamed variable is refused, not ignored: ignoring it would
		// serve without authentication.
		{"env retired api key hashes", network, map[string]string{"GO402_API_KEY_HASHES": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
			"test.yaml: GO402_API_KEY_HASHES is no longer read: rename it GO402_AUTH_API_KEY_HASHES"},
		{"file and env problems together", "bogus: 1\n", map[string]string{"GO402_LOG_LEVEL": "loud", "GO402_DEVNET": "maybe"},
			"test.yaml: devnet.enabled (from GO402_DEVNET): must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", doc(tt.yaml), envMap(tt.env))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestParseReportsSeveralErrors(t *testing.T) {
	_, err := Parse("test.yaml", doc("listen: [x]\nbogus: 1\nlogLevel: {a: b}\n"), nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"test.yaml:1: listen", "test.yaml:2: bogus", "test.yaml:3: logLevel"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	base := doc(`
listen: 127.0.0.1:4022
database:
  postgres: postgres://h/d
signer:
  keystore: k.json
  passwordFile: p.txt
settleTimeout: 1m
logLevel: info
logFormat: text
` + network)
	env := map[string]string{
		"GO402_LISTEN":              "0.0.0.0:9000",
		"GO402_DATABASE_SQLITE":     "/var/lib/go402/ledger.db",
		"GO402_AUTH_API_KEY_HASHES": " 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 ,",
		"GO402_SIGNER_PASSWORD_ENV": "KS_PASS",
		"GO402_SETTLE_TIMEOUT":      "45s",
		"GO402_LOG_LEVEL":           "warn",
		"GO402_LOG_FORMAT":          "json",
	}
	c := mustParse(t, base, env)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.Database != (Database{SQLite: "/var/lib/go402/ledger.db"}) ||
		!slices.Equal(c.Auth.APIKeyHashes, []string{"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}) ||
		c.Signer != (Signer{Keystore: "k.json", PasswordEnv: "KS_PASS"}) ||
		c.SettleTimeout != 45*time.Second || c.LogLevel != "warn" || c.SlogLevel() != slog.LevelWarn || c.LogFormat != "json" {
		t.Errorf("overrides not applied: %+v", c)
	}

	// A key-source override replaces the file's source.
	c = mustParse(t, base, map[string]string{"GO402_SIGNER_PRIVATE_KEY_ENV": "MY_KEY"})
	if c.Signer != (Signer{PrivateKeyEnv: "MY_KEY", PasswordFile: "p.txt"}) {
		t.Errorf("signer = %+v", c.Signer)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "signer.passwordFile: is only used with keystore") {
		t.Errorf("leftover password file not reported: %v", err)
	}
	c = mustParse(t, doc(network), map[string]string{"GO402_SIGNER_KEYSTORE": "/k.json", "GO402_SIGNER_PASSWORD_FILE": "/p"})
	if c.Signer != (Signer{Keystore: "/k.json", PasswordFile: "/p"}) {
		t.Errorf("signer = %+v", c.Signer)
	}

	// Devnet through the environment; postgres replaces sqlite.
	c = mustParse(t, nil, map[string]string{"GO402_DEVNET": "true", "GO402_DEVNET_CHAIN_ID": "84532", "GO402_DATABASE_POSTGRES": "postgres://h/d"})
	if !c.Devnet.Enabled || c.Devnet.ChainID != 84532 || c.Database != (Database{Postgres: "postgres://h/d"}) || !c.IsSet("database") {
		t.Errorf("devnet/database from env: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}

	// Empty variables count as unset.
	c = mustParse(t, base, map[string]string{"GO402_LISTEN": "", "GO402_LOG_LEVEL": ""})
	if c.Listen != "127.0.0.1:4022" || c.LogLevel != "info" {
		t.Errorf("empty variables applied: %+v", c)
	}
}

func TestSet(t *testing.T) {
	c := mustParse(t, doc("listen: 127.0.0.1:1\n"+network), nil)
	if err := c.Set("listen", "bad", "--listen"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("devnet.enabled", "false", "--devnet"); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "test.yaml: listen (from --listen): must be host:port") {
		t.Errorf("Validate after Set: %v", err)
	}
	if err := c.Set("settleTimeout", "x", "--settle-timeout"); err == nil || err.Error() != "test.yaml: settleTimeout (from --settle-timeout): must be a duration with a unit, such as 90s or 2m" {
		t.Errorf("Set bad duration: %v", err)
	}
	if err := c.Set("networks", "x", "--networks"); err == nil {
		t.Error("Set accepted a non-scalar key")
	}
	if err := c.Set("database.sqlite", "/tmp/x.db", "--db"); err != nil || !c.IsSet("database") || c.Database.SQLite != "/tmp/x.db" {
		t.Errorf("Set database: %v %+v", err, c.Database)
	}
}

func TestExpand(t *testing.T) {
	c := mustParse(t, doc(`
listen: ${HOST}:${PORT}
database:
  sqlite: $${literal}/${DIR}/ledger.db
`+network), map[string]string{"HOST": "127.0.0.1", "PORT": "8402", "DIR": "/data"})
	if c.Listen != "127.0.0.1:8402" || c.Database.SQLite != "${literal}//data/ledger.db" {
		t.Errorf("expansion: listen %q sqlite %q", c.Listen, c.Database.SQLite)
	}
	// The private key is never expanded (nor allowed by default).
	c = mustParse(t, doc("signer:\n  privateKey: ${K}\n  allowInsecureKeyInConfig: true\n"), nil)
	if c.Signer.PrivateKey.Value() != "${K}" {
		t.Errorf("privateKey expanded to %q", c.Signer.PrivateKey.Value())
	}
}

func TestAliases(t *testing.T) {
	c := mustParse(t, doc(`
networks:
  - network: eip155:8453
    rpcUrls: &rpc [https://a.example]
  - network: eip155:84532
    rpcUrls: *rpc
`), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Networks[1].RPCURLs[0] != "https://a.example" {
		t.Errorf("alias not resolved: %+v", c.Networks[1])
	}
	// An aliased list item is reported at the alias, not at the anchor.
	c = mustParse(t, doc("networks:\n  - &n {network: eip155:8453, rpcUrls: [http://a]}\n  - *n\n"), nil)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "test.yaml:3: networks[1].network: eip155:8453 is listed twice") {
		t.Errorf("duplicate through an alias: %v", err)
	}
}

func TestSignerFromEnv(t *testing.T) {
	want, err := evm.ParsePrivateKey(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	s := &Signer{PrivateKeyEnv: "MY_KEY"}
	k, err := s.Load(envMap(map[string]string{"MY_KEY": testKeyHex + "\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(want) {
		t.Error("wrong key")
	}
	if got := s.Source(); got != "environment variable MY_KEY" {
		t.Errorf("Source = %q", got)
	}
	// The default variable.
	if k, err := (&Signer{}).Load(envMap(map[string]string{DefaultPrivateKeyEnv: testKeyHex})); err != nil || !k.Equal(want) {
		t.Errorf("default variable: %v", err)
	}
	if _, err := s.Load(envMap(nil)); err == nil || !strings.Contains(err.Error(), "environment variable MY_KEY is not set") {
		t.Errorf("unset: %v", err)
	}
	// A malformed key: the error names the variable, never the value.
	bad := strings.Replace(testKeyHex, "8f2a", "zz2a", 1)
	_, err = s.Load(envMap(map[string]string{"MY_KEY": bad}))
	if err == nil || !errors.Is(err, evm.ErrInvalidPrivateKey) || strings.Contains(err.Error(), "2a5594") {
		t.Errorf("malformed: %v", err)
	}
}

func TestSignerPrivateKeyInConfig(t *testing.T) {
	data := doc("signer:\n  privateKey: " + testKeyHex + "\n" + network)
	c := mustParse(t, data, nil)
	if err := c.Validate(); err == nil {
		t.Fatal("a private key in the file was accepted by default")
	}
	if _, err := c.Signer.Load(nil); err == nil {
		t.Fatal("Signer.Load returned a key from the file without allowInsecureKeyInConfig")
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c.Signer), fmt.Sprintf("%s", c.Signer.PrivateKey)} {
		if strings.Contains(s, "8f2a55") {
			t.Errorf("formatting leaks the key: %s", s)
		}
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "signer", c.Signer.PrivateKey)
	js, _ := json.Marshal(c.Signer)
	if strings.Contains(logs.String(), "8f2a55") || strings.Contains(string(js), "8f2a55") {
		t.Errorf("slog or JSON leaks the key: %s %s", logs.String(), js)
	}

	c = mustParse(t, doc("signer:\n  privateKey: "+testKeyHex+"\n  allowInsecureKeyInConfig: true\n"+network), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	k, err := c.Signer.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if crypto.PubkeyToAddress(k.PublicKey) != addrOf(t, testKeyHex) {
		t.Error("wrong key")
	}
}

func addrOf(t *testing.T, hexKey string) common.Address {
	t.Helper()
	k, err := evm.ParsePrivateKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(k.PublicKey)
}

func TestSignerKeystore(t *testing.T) {
	dir := t.TempDir()
	priv, err := evm.ParsePrivateKey(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(priv.PublicKey)
	blob, err := keystore.EncryptKey(&keystore.Key{Address: addr, PrivateKey: priv}, "correct horse", keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	ksPath := filepath.Join(dir, "keystore.json")
	if err := os.WriteFile(ksPath, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	pwPath := filepath.Join(dir, "password.txt")
	if err := os.WriteFile(pwPath, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Through a parsed configuration, password from the environment.
	c := mustParse(t, doc("signer:\n  keystore: "+ksPath+"\n  passwordEnv: KS_PASS\n"+network), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	k, err := c.Signer.Load(envMap(map[string]string{"KS_PASS": "correct horse"}))
	if err != nil {
		t.Fatal(err)
	}
	if crypto.PubkeyToAddress(k.PublicKey) != addr {
		t.Error("keystore decrypted to the wrong key")
	}
	if got := c.Signer.Source(); got != "keystore "+ksPath {
		t.Errorf("Source = %q", got)
	}

	// Password from a file (trailing newline ignored).
	if k, err := (&Signer{Keystore: ksPath, PasswordFile: pwPath}).Load(nil); err != nil || crypto.PubkeyToAddress(k.PublicKey) != addr {
		t.Errorf("password file: %v", err)
	}

	// Wrong password.
	_, err = (&Signer{Keystore: ksPath, PasswordEnv: "KS_PASS"}).Load(envMap(map[string]string{"KS_PASS": "wrong"}))
	if !errors.Is(err, keystore.ErrDecrypt) {
		t.Errorf("wrong password: %v", err)
	}
	// Unset password variable.
	if _, err := (&Signer{Keystore: ksPath, PasswordEnv: "KS_PASS"}).Load(nil); err == nil || !strings.Contains(err.Error(), "KS_PASS is not set") {
		t.Errorf("unset password: %v", err)
	}
	// Not a keystore (a plain key file): the error must not quote it.
	plain := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(plain, []byte(testKeyHex), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = (&Signer{Keystore: plain, PasswordFile: pwPath}).Load(nil)
	if err == nil || strings.Contains(err.Error(), "8f2a") || strings.Contains(err.Error(), "0x") {
		t.Errorf("plain key file: %v", err)
	}
	// Missing file.
	if _, err := (&Signer{Keystore: filepath.Join(dir, "nope.json"), PasswordFile: pwPath}).Load(nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing keystore: %v", err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "c.yaml", Line: 12, Field: "networks[0].rpcUrls", Msg: "required"}, "c.yaml:12: networks[0].rpcUrls: required"},
		{FieldError{File: "c.yaml", Source: "GO402_LISTEN", Field: "listen", Msg: "bad"}, "c.yaml: listen (from GO402_LISTEN): bad"},
		{FieldError{Field: "listen", Msg: "bad"}, "listen: bad"},
		{FieldError{File: "c.yaml", Line: 3, Msg: "invalid YAML: x"}, "c.yaml:3: invalid YAML: x"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestNetworkV1NameAndChainID(t *testing.T) {
	c := mustParse(t, doc("networks:\n  - network: base-sepolia\n    rpcUrls: [wss://a.example]\n  - chainId: 137\n    rpcUrls: [http://b]\n"), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Networks[0].Network != "eip155:84532" || c.Networks[0].ChainID != 84532 || c.Networks[1].Network != x402.EIP155(137) {
		t.Errorf("networks = %+v", c.Networks)
	}
}

func TestInstanceAndTimings(t *testing.T) {
	c := mustParse(t, doc(network), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Instance != "" || c.ReconcileInterval != DefaultReconcileInterval || c.ShutdownTimeout != 0 ||
		c.ShutdownWait() != DefaultSettleTimeout+ShutdownGrace {
		t.Errorf("defaults: instance %q, reconcile %v, shutdown %v (wait %v)", c.Instance, c.ReconcileInterval, c.ShutdownTimeout, c.ShutdownWait())
	}
	// The default shutdown wait follows the settle timeout.
	c = mustParse(t, doc("settleTimeout: 5m\n"+network), nil)
	if c.ShutdownWait() != 5*time.Minute+ShutdownGrace {
		t.Errorf("shutdown wait with settleTimeout 5m: %v", c.ShutdownWait())
	}

	c = mustParse(t, doc("instance: facilitator-1\nreconcileInterval: 10s\nshutdownTimeout: 4m\n"+network), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Instance != "facilitator-1" || c.ReconcileInterval != 10*time.Second || c.ShutdownWait() != 4*time.Minute || !c.IsSet("instance") {
		t.Errorf("from the file: %+v", c)
	}
	// The environment overrides the file (one name per replica, one file).
	c = mustParse(t, doc("instance: facilitator-1\n"+network), map[string]string{
		"GO402_INSTANCE": "pod-7", "GO402_RECONCILE_INTERVAL": "5s", "GO402_SHUTDOWN_TIMEOUT": "90s",
	})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Instance != "pod-7" || c.ReconcileInterval != 5*time.Second || c.ShutdownWait() != 90*time.Second {
		t.Errorf("from the environment: %+v", c)
	}
	if _, err := Parse("test.yaml", doc(network), envMap(map[string]string{"GO402_RECONCILE_INTERVAL": "often"})); err == nil ||
		!strings.Contains(err.Error(), "reconcileInterval (from GO402_RECONCILE_INTERVAL): must be a duration") {
		t.Errorf("bad GO402_RECONCILE_INTERVAL: %v", err)
	}
}

func TestBatching(t *testing.T) {
	c := mustParse(t, doc(`
networks:
  - network: eip155:8453
    rpcUrls: [https://mainnet.base.org]
    batch:
      enabled: true
      maxSize: 32
      window: 5ms
    readBatchSize: 40
  - network: eip155:84532
    rpcUrls: [https://sepolia.base.org]
    batch:
      enabled: true
      multicall: "0x0000000000000000000000000000000000c0ffee"
devnet:
  batch:
    window: 2ms
`), nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n0, n1 := c.Networks[0], c.Networks[1]
	want0 := Batch{Enabled: true, Multicall: evm.Multicall3Address(), MaxSize: 32, Window: 5 * time.Millisecond}
	if n0.Batch != want0 || n0.ReadBatchSize != 40 {
		t.Errorf("networks[0]: batch %+v, readBatchSize %d; want %+v, 40", n0.Batch, n0.ReadBatchSize, want0)
	}
	if got := n0.Batch.EVM(); got != (evm.BatchConfig{Multicall: evm.Multicall3Address(), MaxSize: 32, Window: 5 * time.Millisecond}) {
		t.Errorf("networks[0].batch.EVM() = %+v", got)
	}
	want1 := Batch{Enabled: true, Multicall: common.HexToAddress("0xc0ffee"), MaxSize: evm.DefaultBatchMaxSize}
	if n1.Batch != want1 || n1.ReadBatchSize != evm.DefaultReadBatchSize {
		t.Errorf("networks[1]: batch %+v, readBatchSize %d; want %+v, %d", n1.Batch, n1.ReadBatchSize, want1, evm.DefaultReadBatchSize)
	}
	// The devnet batches unless told not to; the other keys still apply.
	if d := c.Devnet.Batch; d != (Batch{Enabled: true, Multicall: evm.Multicall3Address(), MaxSize: 16, Window: 2 * time.Millisecond}) {
		t.Errorf("devnet.batch = %+v", d)
	}
	for _, tc := range []struct {
		yaml string
		env  map[string]string
		want bool
	}{
		{"devnet:\n  batch:\n    enabled: false\n", nil, false},
		{"devnet:\n  batch:\n    enabled: true\n", nil, true},
		{"", map[string]string{"GO402_DEVNET_BATCH": "false"}, false},
		{"devnet:\n  batch:\n    enabled: false\n", map[string]string{"GO402_DEVNET_BATCH": "true"}, true},
	} {
		c := mustParse(t, doc(tc.yaml), tc.env)
		if c.Devnet.Batch.Enabled != tc.want {
			t.Errorf("%q with %v: devnet.batch.enabled = %v, want %v", tc.yaml, tc.env, c.Devnet.Batch.Enabled, tc.want)
		}
	}
	c = mustParse(t, nil, nil)
	if err := c.Set("devnet.batch.enabled", "false", "--test"); err != nil || c.Devnet.Batch.Enabled {
		t.Errorf("Set devnet.batch.enabled false: %v, %+v", err, c.Devnet.Batch)
	}
}

func TestBatchingErrors(t *testing.T) {
	const head = "networks:\n  - network: eip155:8453\n    rpcUrls: [http://a]\n"
	validation := []struct {
		name, yaml, want string
		env              map[string]string
	}{
		{"max size zero", head + "    batch:\n      enabled: true\n      maxSize: 0\n",
			"test.yaml:6: networks[0].batch.maxSize: must be from 1 to 256 (default 16)", nil},
		{"max size too big", head + "    batch:\n      maxSize: 300\n",
			"test.yaml:5: networks[0].batch.maxSize: must be from 1 to 256", nil},
		{"window too long", head + "    batch:\n      enabled: true\n      window: 2s\n",
			"test.yaml:6: networks[0].batch.window: must be a duration from 0 to 1s", nil},
		{"negative window", head + "    batch:\n      window: -1ms\n",
			"test.yaml:5: networks[0].batch.window: must be a duration from 0 to 1s", nil},
		{"zero multicall", head + "    batch:\n      enabled: true\n      multicall: \"0x0000000000000000000000000000000000000000\"\n",
			"test.yaml:6: networks[0].batch.multicall: must not be the zero address; leave it out for the canonical Multicall3, 0xcA11bde05977b3631167028862bE2a173976CA11", nil},
		{"read batch size zero", head + "    readBatchSize: 0\n",
			"test.yaml:4: networks[0].readBatchSize: must be from 1 to 1000 (default 96)", nil},
		{"read batch size too big", head + "    readBatchSize: 5000\n",
			"test.yaml:4: networks[0].readBatchSize: must be from 1 to 1000", nil},
		{"second network", head + "  - network: eip155:84532\n    rpcUrls: [http://b]\n    batch: {enabled: true, maxSize: 999}\n",
			"test.yaml:6: networks[1].batch.maxSize: must be from 1 to 256", nil},
		{"devnet max size", "devnet:\n  enabled: true\n  batch:\n    maxSize: 0\n",
			"test.yaml:4: devnet.batch.maxSize: must be from 1 to 256", nil},
	}
	for _, tt := range validation {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("test.yaml", doc(tt.yaml), envMap(tt.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v\nwant it to contain:\n%s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Line == 0 {
				t.Errorf("error is not a *FieldError with a field and a line: %#v", err)
			}
		})
	}

	parse := []struct {
		name, yaml, want string
		env              map[string]string
	}{
		{"unknown batch key", head + "    batch:\n      size: 4\n",
			"test.yaml:5: networks[0].batch.size: unknown key (known keys: enabled, maxSize, multicall, window)", nil},
		{"batch not a mapping", head + "    batch: true\n",
			"test.yaml:4: networks[0].batch: networks[0].batch must be a mapping", nil},
		{"bad enabled", head + "    batch:\n      enabled: yes please\n",
			"test.yaml:5: networks[0].batch.enabled: must be true or false", nil},
		{"bad multicall", head + "    batch:\n      multicall: 0xca11\n",
			"test.yaml:5: networks[0].batch.multicall: must be a 0x-prefixed 20-byte hex address", nil},
		{"multicall checksum", head + "    batch:\n      multicall: \"0xcA11bde05977b3631167028862bE2a173976CA1A\"\n",
			"test.yaml:5: networks[0].batch.multicall: mixed-case address with a wrong EIP-55 checksum", nil},
		{"window without unit", head + "    batch:\n      window: 5\n",
			"test.yaml:5: networks[0].batch.window: must be a duration with a unit", nil},
		{"negative max size", head + "    batch:\n      maxSize: -1\n",
			"test.yaml:5: networks[0].batch.maxSize: must be a non-negative decimal integer", nil},
		{"read batch size text", head + "    readBatchSize: many\n",
			"test.yaml:4: networks[0].readBatchSize: must be a non-negative decimal integer", nil},
		{"env devnet batch", "", "test.yaml: devnet.batch.enabled (from GO402_DEVNET_BATCH): must be true or false",
			map[string]string{"GO402_DEVNET_BATCH": "sometimes"}},
	}
	for _, tt := range parse {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", doc(tt.yaml), envMap(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

// readiness defaults to a 3-minute block age and a zero gas floor; the
// file and the environment set them.
func TestReadinessKeys(t *testing.T) {
	network := "networks:\n  - network: eip155:84532\n    chainId: 84532\n    rpcUrls: [https://a.example]\n"
	c := mustParse(t, []byte(network), nil)
	if c.Readiness.MaxBlockAge != DefaultMaxBlockAge || c.Readiness.GasFloor() == nil || c.Readiness.GasFloor().Sign() != 0 {
		t.Errorf("defaults: %+v", c.Readiness)
	}
	c = mustParse(t, []byte("readiness: {maxBlockAge: 0s, minGasBalance: \"1000\"}\n"+network), nil)
	if c.Readiness.MaxBlockAge != 0 || c.Readiness.GasFloor().Int64() != 1000 {
		t.Errorf("file: %+v", c.Readiness)
	}
	c = mustParse(t, []byte(network), map[string]string{"GO402_READINESS_MAX_BLOCK_AGE": "90s", "GO402_READINESS_MIN_GAS_BALANCE": "7"})
	if c.Readiness.MaxBlockAge != 90*time.Second || c.Readiness.GasFloor().Int64() != 7 {
		t.Errorf("environment: %+v", c.Readiness)
	}
}
