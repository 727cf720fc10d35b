// Package config reads the configuration of the go402 facilitator binary
// (`go402 facilitator --config FILE`): a YAML file, overridden by
// environment variables, with defaults for everything but the networks.
// sample.yaml in this directory documents every key.
//
// Decoding, ${VAR} references, GO402_* environment overrides and error
// reporting are those of the shared kit, internal/yamlconf: errors name
// the file, the line and the field, such as
//
//	config.yaml:12: networks[0].rpcUrls: required
//
// and a value that came from an environment variable names the variable
// instead of a line. Unknown keys are errors, with a did-you-mean
// suggestion. The variable overriding a key is GO402_ and the key's path
// in upper snake case, without a final ".enabled" ([EnvOverrides] lists
// them: GO402_LISTEN, GO402_LOG_LEVEL, GO402_DEVNET...). Parse decodes
// and applies environment overrides and defaults; Validate checks the
// values without any I/O; Load does both for a file.
//
// The settlement key is never expected in the file: [Signer] names where it
// comes from (an environment variable by default, or an encrypted
// go-ethereum keystore), and [Signer.Load] reads it. No error of this
// package contains key material, API tokens or database passwords.
package config

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/internal/yamlconf"
	"github.com/go402/go402/x402"
)

// Defaults applied by Parse.
const (
	DefaultListen        = "127.0.0.1:4022"
	DefaultSQLitePath    = "./go402-facilitator.db"
	DefaultPrivateKeyEnv = "GO402_FACILITATOR_KEY"
	DefaultSettleTimeout = facilitator.DefaultSettleTimeout
	// DefaultReconcileInterval is how often unfinished settlements are
	// checked with the chain.
	DefaultReconcileInterval = facilitator.DefaultReconcileInterval
	// DefaultMaxBlockAge is readiness.maxBlockAge's default: a chain whose
	// latest block is older is stale (see Readiness).
	DefaultMaxBlockAge = 3 * time.Minute
	// ShutdownGrace is what the default shutdown wait adds to
	// settleTimeout: the time to record the outcome of a settlement that
	// ran to its limit.
	ShutdownGrace        = 30 * time.Second
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "text"
	DefaultDevnetChainID = 31337
	// DefaultBatchMaxSize is batch.maxSize when not set.
	DefaultBatchMaxSize = evm.DefaultBatchMaxSize
	// DefaultReadBatchSize is networks[i].readBatchSize when not set.
	DefaultReadBatchSize = evm.DefaultReadBatchSize
)

// Bounds of the batching keys.
const (
	// MaxBatchSize bounds batch.maxSize. A batch whose gas estimate
	// exceeds the sender's gas cap is split anyway.
	MaxBatchSize = 256
	// MaxBatchWindow bounds batch.window: every settlement that opens a
	// batch waits this long.
	MaxBatchWindow = time.Second
	// MaxReadBatchSize bounds networks[i].readBatchSize.
	MaxReadBatchSize = 1000
)

// Config is the facilitator binary's configuration.
type Config struct {
	// Listen is the HTTP listen address, host:port (port 0 picks a free
	// port). Key "listen".
	Listen string
	// MetricsListen, if set, is a separate host:port serving only GET
	// /metrics (Prometheus); the metrics are on Listen's /metrics too.
	// Key "metricsListen".
	MetricsListen string
	// Database is the ledger. Key "database".
	Database Database
	// Auth is the API authentication. Key "auth".
	Auth Auth
	// Signer says where the settlement key comes from. Key "signer".
	Signer Signer
	// ReceiverAuthorizer is the batch-settlement receiver-authorizer key
	// the facilitator offers servers. Key "receiverAuthorizer".
	ReceiverAuthorizer ReceiverAuthorizer
	// Networks are the chains served. Key "networks".
	Networks []Network
	// Instance names this facilitator in the ledger. It must be unique
	// among the instances sharing a database and should stay the same
	// across restarts. Empty means the host name. Key "instance".
	Instance string
	// SettleTimeout bounds one settlement. Key "settleTimeout".
	SettleTimeout time.Duration
	// ReconcileInterval is how often unfinished settlements (pending ones,
	// and claims abandoned by a crashed instance) are checked with the
	// chain. Key "reconcileInterval".
	ReconcileInterval time.Duration
	// ShutdownTimeout bounds the wait, on SIGINT or SIGTERM, for requests
	// and settlements in flight. Zero means SettleTimeout + ShutdownGrace
	// (see ShutdownWait). Key "shutdownTimeout".
	ShutdownTimeout time.Duration
	// LogLevel is debug, info, warn or error. Key "logLevel".
	LogLevel string
	// LogFormat is text or json. Key "logFormat".
	LogFormat string
	// Devnet runs an embedded development chain. Key "devnet".
	Devnet Devnet
	// Readiness tunes the checks of GET /ready. Key "readiness".
	Readiness Readiness

	origins yamlconf.Origins // the name used in messages, and where each key came from
}

// Readiness tunes GET /ready, which checks the ledger, each network's RPC
// endpoint and each signer's gas balance.
type Readiness struct {
	// MaxBlockAge is how old a network's latest block may be before its
	// endpoint counts as stale; 0 turns the age test off. The embedded
	// devnet, which mines on demand, is never judged by age. Key
	// "readiness.maxBlockAge"; default 3m.
	MaxBlockAge time.Duration
	// MinGasBalance is the native balance, in wei (a decimal integer),
	// each signer must hold on each network; "0" (the default) only
	// checks that the balance can be read. Key "readiness.minGasBalance".
	MinGasBalance string
}

// GasFloor is MinGasBalance as a number (nil when empty or invalid, which
// Validate reports).
func (r Readiness) GasFloor() *big.Int {
	v, ok := new(big.Int).SetString(strings.TrimSpace(r.MinGasBalance), 10)
	if !ok || v.Sign() < 0 {
		return nil
	}
	return v
}

// Database selects the ledger store: exactly one of SQLite and Postgres.
type Database struct {
	// SQLite is the path of a SQLite database file (relative paths are
	// relative to the working directory). Key "database.sqlite".
	SQLite string
	// Postgres is a PostgreSQL connection URL. Key "database.postgres".
	Postgres string
}

// Auth configures the API keys of POST /verify and POST /settle.
type Auth struct {
	// APIKeyHashes are hex SHA-256 hashes of the accepted bearer tokens
	// (`go402 facilitator hash-key` computes one). Empty means no
	// authentication. Key "auth.apiKeyHashes".
	APIKeyHashes []string
}

// Signer says where the facilitator's settlement key comes from: exactly
// one of PrivateKeyEnv (the default), Keystore or PrivateKey.
type Signer struct {
	// PrivateKeyEnv names the environment variable holding the hex private
	// key. Key "signer.privateKeyEnv"; default GO402_FACILITATOR_KEY when
	// no other source is set.
	PrivateKeyEnv string
	// Keystore is the path of an encrypted go-ethereum keystore file,
	// decrypted with the password from PasswordEnv or PasswordFile.
	// Key "signer.keystore".
	Keystore string
	// PasswordEnv names the environment variable holding the keystore
	// password. Key "signer.passwordEnv".
	PasswordEnv string
	// PasswordFile is a file holding the keystore password (a trailing
	// newline is ignored). Key "signer.passwordFile".
	PasswordFile string
	// PrivateKey is a hex private key written in the file itself. It is
	// refused unless AllowInsecureKeyInConfig is set. Key
	// "signer.privateKey".
	PrivateKey Secret
	// AllowInsecureKeyInConfig permits PrivateKey. Key
	// "signer.allowInsecureKeyInConfig".
	AllowInsecureKeyInConfig bool
}

// ReceiverAuthorizer says where the batch-settlement receiver-authorizer
// key comes from. With one, /supported advertises its address as the
// batch-settlement kind's extra.receiverAuthorizer, and the facilitator
// signs the claim batches and refunds of the servers whose channels name
// it (those that omit the signature). Without one (the default, as in the
// reference facilitator), servers sign their own. A facilitator holding it
// signs a refund for whoever can call /settle: set auth.apiKeyHashes.
type ReceiverAuthorizer struct {
	// PrivateKeyEnv names the environment variable holding the hex
	// private key; empty means no receiver authorizer. Key
	// "receiverAuthorizer.privateKeyEnv".
	PrivateKeyEnv string
}

// Network is one chain served by the facilitator.
type Network struct {
	// Network is the CAIP-2 id, "eip155:<chain id>" (an x402 v1 name such
	// as "base-sepolia" is converted). Key "networks[i].network".
	Network x402.Network
	// ChainID is the EIP-155 chain id. Key "networks[i].chainId". Parse
	// fills whichever of Network and ChainID is missing.
	ChainID uint64
	// RPCURLs are JSON-RPC endpoints; the first is used. Key
	// "networks[i].rpcUrls".
	RPCURLs []string
	// Assets are the accepted tokens; Parse defaults them to the network's
	// built-in stablecoins (evm.DefaultNetworks). Key "networks[i].assets".
	Assets []evm.Asset
	// Batch is batched settlement on this chain; off by default. Key
	// "networks[i].batch".
	Batch Batch
	// ReadBatchSize bounds the eth_calls in one JSON-RPC batch request
	// (the chain reads of concurrent verifies and settles go out together;
	// some providers limit batch sizes). Key "networks[i].readBatchSize";
	// default DefaultReadBatchSize.
	ReadBatchSize int
	// ERC6492Factories are the smart-wallet factories whose ERC-6492
	// counterfactual signatures are accepted: the facilitator simulates
	// the factory call at verify and sends it, with the transfer, at
	// settlement (see evm.ExactFacilitatorConfig.ERC6492Factories). Key
	// "networks[i].eip6492Factories"; default empty, which refuses every
	// undeployed wallet's signature (eip6492_factory_not_allowed). The
	// devnet allows its own factory, evm.DevnetWalletFactoryAddressHex.
	ERC6492Factories []common.Address
}

// Batch configures batched settlement on one chain (see
// [evm.BatchConfig]): the authorizations that queue up while a settlement
// transaction is being sent go out together in the next one, a call to
// Multicall3's aggregate3, sharing its base cost. A lone settlement is
// still a plain transferWithAuthorization. It needs a Multicall3 contract
// on the chain (checked at start-up) and tokens that emit EIP-3009's
// AuthorizationUsed event, as USDC does.
type Batch struct {
	// Enabled turns batching on. Key "batch.enabled"; default false on
	// configured networks and true on the devnet.
	Enabled bool
	// Multicall is the Multicall3 contract's address. Key
	// "batch.multicall"; default the canonical deployment,
	// evm.Multicall3AddressHex.
	Multicall common.Address
	// MaxSize bounds the authorizations in one transaction, from 1 to
	// MaxBatchSize. Key "batch.maxSize"; default DefaultBatchMaxSize.
	MaxSize int
	// Window is how long a batch stays open for more settlements after the
	// first one arrives, from 0 to MaxBatchWindow. Key "batch.window";
	// default 0 (a batch is whatever queued while the previous transaction
	// was being sent).
	Window time.Duration
}

// EVM returns b as the evm package's configuration: the zero BatchConfig
// (batching off) unless Enabled.
func (b Batch) EVM() evm.BatchConfig {
	if !b.Enabled {
		return evm.BatchConfig{}
	}
	return evm.BatchConfig{Multicall: b.Multicall, MaxSize: b.MaxSize, Window: b.Window}
}

// Devnet configures the embedded development chain (`--devnet`).
type Devnet struct {
	// Enabled runs an embedded devnet and serves it as the only network;
	// the signer is a funded devnet account. DEV ONLY. Key
	// "devnet.enabled".
	Enabled bool
	// ChainID is the devnet's chain id. Key "devnet.chainId"; default
	// 31337.
	ChainID uint64
	// Batch is batched settlement on the devnet, whose genesis holds
	// Multicall3 at the canonical address. Key "devnet.batch"; on by
	// default (batch.enabled: false turns it off).
	Batch Batch
}

// Secret is a string that never prints: every fmt verb, slog and JSON show
// "[redacted]". Value returns the content.
type Secret = yamlconf.Secret

// FieldError is a problem with one configuration key: "file:line: field:
// message", or "file: field (from SOURCE): message" for a value that came
// from an environment variable or a flag.
type FieldError = yamlconf.FieldError

// Load reads, parses and validates a configuration file, with environment
// overrides from the process environment.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("facilitator/config: %w", err)
	}
	c, err := Parse(path, data, os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes a YAML configuration named name (used in messages), then
// applies the environment overrides read through env (see [EnvOverrides]
// and sample.yaml) and the defaults. Empty data is a configuration of
// defaults. Parse reports unknown keys, malformed values and undefined
// ${VAR} references, several at once (joined); call Validate for the
// rest. env may be nil (no environment).
func Parse(name string, data []byte, env func(string) string) (*Config, error) {
	c := &Config{origins: yamlconf.Origins{File: name}}
	if err := yamlconf.Parse(&c.origins, data, env, c.schema(), envOverrides, c.Set); err != nil {
		return nil, err
	}
	c.applyDefaults()
	return c, nil
}

// envOverrides are the keys the environment overrides, in the order they
// are applied (see [yamlconf.EnvName] for the variables' names).
var envOverrides = yamlconf.Env{
	Keys: []string{
		"listen", "metricsListen", "database.sqlite", "database.postgres", "auth.apiKeyHashes",
		"signer.privateKeyEnv", "signer.keystore", "signer.passwordEnv", "signer.passwordFile",
		"receiverAuthorizer.privateKeyEnv", "instance", "settleTimeout", "reconcileInterval", "shutdownTimeout", "logLevel", "logFormat",
		"devnet.enabled", "devnet.chainId", "devnet.batch.enabled",
		"readiness.maxBlockAge", "readiness.minGasBalance",
	},
	Exclusive: [][]string{{"database.sqlite", "database.postgres"}},
	// Refused rather than ignored: ignoring it would serve without
	// authentication.
	Retired: map[string]string{"GO402_API_KEY_HASHES": yamlconf.EnvName("auth.apiKeyHashes")},
}

// EnvOverrides lists the environment variables Parse reads and the key
// each overrides, in the order they are applied. Each variable is
// GO402_ and the key's path in upper snake case, without a final
// ".enabled".
func EnvOverrides() [][2]string {
	o := make([][2]string, len(envOverrides.Keys))
	for i, k := range envOverrides.Keys {
		o[i] = [2]string{yamlconf.EnvName(k), k}
	}
	return o
}

// Set overrides a scalar key the way an environment variable does, and
// records source (such as "--listen") for error messages. Keys are the
// YAML paths: listen, database.sqlite, database.postgres,
// auth.apiKeyHashes (comma-separated), signer.privateKeyEnv,
// signer.keystore, signer.passwordEnv, signer.passwordFile,
// receiverAuthorizer.privateKeyEnv, instance,
// settleTimeout, reconcileInterval, shutdownTimeout, logLevel, logFormat,
// devnet.enabled, devnet.chainId, devnet.batch.enabled,
// readiness.maxBlockAge, readiness.minGasBalance. Setting one of the
// database keys replaces the whole database choice; likewise a signer key
// source or a password source. Call Validate afterwards.
func (c *Config) Set(key, value, source string) error {
	if err := c.set(key, value); err != nil {
		return &FieldError{File: c.origins.File, Source: source, Field: key, Msg: err.Error()}
	}
	at := yamlconf.Origin{Source: source}
	c.origins.Forget(key) // with the positions of replaced list items
	c.origins.Record(key, at)
	if parent, _, ok := strings.Cut(key, "."); ok {
		c.origins.Record(parent, at)
	}
	return nil
}

func (c *Config) set(key, value string) error {
	switch key {
	case "listen":
		c.Listen = value
	case "metricsListen":
		c.MetricsListen = value
	case "database.sqlite":
		c.Database = Database{SQLite: value}
	case "database.postgres":
		c.Database = Database{Postgres: value}
	case "auth.apiKeyHashes":
		c.Auth.APIKeyHashes = nil
		for h := range strings.SplitSeq(value, ",") {
			if h = strings.TrimSpace(h); h != "" {
				c.Auth.APIKeyHashes = append(c.Auth.APIKeyHashes, h)
			}
		}
	case "signer.privateKeyEnv":
		c.Signer.PrivateKeyEnv, c.Signer.Keystore, c.Signer.PrivateKey = value, "", ""
	case "signer.keystore":
		c.Signer.Keystore, c.Signer.PrivateKeyEnv, c.Signer.PrivateKey = value, "", ""
	case "signer.passwordEnv":
		c.Signer.PasswordEnv, c.Signer.PasswordFile = value, ""
	case "signer.passwordFile":
		c.Signer.PasswordFile, c.Signer.PasswordEnv = value, ""
	case "receiverAuthorizer.privateKeyEnv":
		c.ReceiverAuthorizer.PrivateKeyEnv = value
	case "instance":
		c.Instance = value
	case "settleTimeout", "reconcileInterval", "shutdownTimeout":
		d, err := yamlconf.ParseDuration(value)
		if err != nil {
			return err
		}
		switch key {
		case "settleTimeout":
			c.SettleTimeout = d
		case "reconcileInterval":
			c.ReconcileInterval = d
		default:
			c.ShutdownTimeout = d
		}
	case "readiness.maxBlockAge":
		d, err := yamlconf.ParseDuration(value)
		if err != nil {
			return err
		}
		c.Readiness.MaxBlockAge = d
	case "readiness.minGasBalance":
		c.Readiness.MinGasBalance = value
	case "logLevel":
		c.LogLevel = value
	case "logFormat":
		c.LogFormat = value
	case "devnet.enabled", "devnet.batch.enabled":
		b, err := yamlconf.ParseBool(value)
		if err != nil {
			return err
		}
		if key == "devnet.enabled" {
			c.Devnet.Enabled = b
		} else {
			c.Devnet.Batch.Enabled = b
		}
	case "devnet.chainId":
		id, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return errors.New("must be a positive decimal chain id")
		}
		c.Devnet.ChainID = id
	default:
		return errors.New("not a key that can be set this way")
	}
	return nil
}

// IsSet reports whether key (a YAML path such as "database" or "listen")
// was given in the file, by an environment variable or through Set, as
// opposed to left to its default.
func (c *Config) IsSet(key string) bool { return c.origins.IsSet(key) }

// Name returns the name the configuration was parsed under.
func (c *Config) Name() string { return c.origins.File }
