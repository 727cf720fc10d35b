// Package config reads the configuration of the go402 facilitator binary
// (`go402 facilitator --config FILE`): a YAML file, overridden by
// environment variables, with defaults for everything but the networks.
// sample.yaml in this directory documents every key.
//
// Errors name the file, the line and the field, such as
//
//	config.yaml:12: networks[0].rpcUrls: required
//
// and a value that came from an environment variable names the variable
// instead of a line. Unknown keys are errors. Parse decodes and applies
// environment overrides and defaults; Validate checks the values without
// any I/O; Load does both for a file.
//
// The settlement key is never expected in the file: [Signer] names where it
// comes from (an environment variable by default, or an encrypted
// go-ethereum keystore), and [Signer.Load] reads it. No error of this
// package contains key material, API tokens or database passwords.
package config

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"gopkg.in/yaml.v3"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
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
	// Database is the ledger. Key "database".
	Database Database
	// Auth is the API authentication. Key "auth".
	Auth Auth
	// Signer says where the settlement key comes from. Key "signer".
	Signer Signer
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

	name  string            // the file name used in messages
	where map[string]origin // where each key's value came from
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
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String returns "[redacted]" (or "" for an empty secret).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString is String.
func (s Secret) GoString() string { return s.String() }

// Format prints String whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue hides the secret from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the secret from encoding/json.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// origin is where a key's value came from: a line of the file, or another
// source such as an environment variable or a flag.
type origin struct {
	line int
	from string
}

// FieldError is a problem with one configuration key.
type FieldError struct {
	// File is the configuration's name as given to Parse.
	File string
	// Line is the line of the value (or of its parent when the key is
	// missing) in File; 0 if unknown or not from the file.
	Line int
	// Source is the environment variable or flag the value came from, if
	// it did not come from the file.
	Source string
	// Field is the key's path, such as "networks[0].rpcUrls".
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Source != "" {
			fmt.Fprintf(&b, " (from %s)", e.Source)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, parses and validates a configuration file, with environment
// overrides from the process environment.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
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
// applies the environment overrides read through env (see sample.yaml for
// the variables) and the defaults. Empty data is a configuration of
// defaults. Parse reports unknown keys, malformed values and undefined
// ${VAR} references, several at once (joined); call Validate for the
// rest. env may be nil (no environment).
func Parse(name string, data []byte, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := &Config{name: name, where: map[string]origin{}}
	d := &decoder{name: name, env: env, cfg: c}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = next.Line
		}
		return nil, &FieldError{File: name, Line: line, Msg: "invalid YAML: want a single document (remove the second ---)"}
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		d.top(root.Content[0])
	}
	d.applyEnv()
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	c.applyDefaults()
	return c, nil
}

// yamlError turns a YAML syntax error ("yaml: line 3: ...") into
// "name:3: invalid YAML: ...".
func yamlError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, text, ok := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); ok && err == nil {
			return &FieldError{File: name, Line: line, Msg: "invalid YAML: " + text}
		}
	}
	return &FieldError{File: name, Msg: "invalid YAML: " + msg}
}

// Set overrides a scalar key the way an environment variable does, and
// records source (such as "--listen") for error messages. Keys are the
// YAML paths: listen, database.sqlite, database.postgres,
// auth.apiKeyHashes (comma-separated), signer.privateKeyEnv,
// signer.keystore, signer.passwordEnv, signer.passwordFile, instance,
// settleTimeout, reconcileInterval, shutdownTimeout, logLevel, logFormat,
// devnet.enabled, devnet.chainId, devnet.batch.enabled. Setting one of the
// database keys replaces the whole database choice; likewise a signer key
// source or a password source. Call Validate afterwards.
func (c *Config) Set(key, value, source string) error {
	if c.where == nil {
		c.where = map[string]origin{}
	}
	if err := c.set(key, value); err != nil {
		return &FieldError{File: c.name, Source: source, Field: key, Msg: err.Error()}
	}
	for k := range c.where {
		if strings.HasPrefix(k, key+"[") || strings.HasPrefix(k, key+".") {
			delete(c.where, k) // positions of replaced list items
		}
	}
	c.where[key] = origin{from: source}
	if parent, _, ok := strings.Cut(key, "."); ok {
		c.where[parent] = origin{from: source}
	}
	return nil
}

func (c *Config) set(key, value string) error {
	switch key {
	case "listen":
		c.Listen = value
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
	case "instance":
		c.Instance = value
	case "settleTimeout", "reconcileInterval", "shutdownTimeout":
		d, err := parseDuration(value)
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
	case "logLevel":
		c.LogLevel = value
	case "logFormat":
		c.LogFormat = value
	case "devnet.enabled", "devnet.batch.enabled":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return errors.New("must be true or false")
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

// EnvOverrides lists the environment variables Parse reads and the key
// each overrides, in the order they are applied.
func EnvOverrides() [][2]string {
	return [][2]string{
		{"GO402_LISTEN", "listen"},
		{"GO402_DATABASE_SQLITE", "database.sqlite"},
		{"GO402_DATABASE_POSTGRES", "database.postgres"},
		{"GO402_API_KEY_HASHES", "auth.apiKeyHashes"},
		{"GO402_SIGNER_PRIVATE_KEY_ENV", "signer.privateKeyEnv"},
		{"GO402_SIGNER_KEYSTORE", "signer.keystore"},
		{"GO402_SIGNER_PASSWORD_ENV", "signer.passwordEnv"},
		{"GO402_SIGNER_PASSWORD_FILE", "signer.passwordFile"},
		{"GO402_INSTANCE", "instance"},
		{"GO402_SETTLE_TIMEOUT", "settleTimeout"},
		{"GO402_RECONCILE_INTERVAL", "reconcileInterval"},
		{"GO402_SHUTDOWN_TIMEOUT", "shutdownTimeout"},
		{"GO402_LOG_LEVEL", "logLevel"},
		{"GO402_LOG_FORMAT", "logFormat"},
		{"GO402_DEVNET", "devnet.enabled"},
		{"GO402_DEVNET_CHAIN_ID", "devnet.chainId"},
		{"GO402_DEVNET_BATCH", "devnet.batch.enabled"},
	}
}

// applyEnv applies the environment overrides (empty variables are unset).
func (d *decoder) applyEnv() {
	if d.env("GO402_DATABASE_SQLITE") != "" && d.env("GO402_DATABASE_POSTGRES") != "" {
		d.errs = append(d.errs, &FieldError{File: d.name, Source: "GO402_DATABASE_SQLITE and GO402_DATABASE_POSTGRES", Field: "database", Msg: "set only one of them"})
		return
	}
	for _, o := range EnvOverrides() {
		v := d.env(o[0])
		if v == "" {
			continue
		}
		if err := d.cfg.Set(o[1], v, o[0]); err != nil {
			d.errs = append(d.errs, err)
		}
	}
}

// IsSet reports whether key (a YAML path such as "database" or "listen")
// was given in the file, by an environment variable or through Set, as
// opposed to left to its default.
func (c *Config) IsSet(key string) bool {
	_, ok := c.where[key]
	return ok
}

// Name returns the name the configuration was parsed under.
func (c *Config) Name() string { return c.name }

// applyDefaults fills the keys left empty.
func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Database.SQLite == "" && c.Database.Postgres == "" {
		c.Database.SQLite = DefaultSQLitePath
	}
	s := &c.Signer
	if s.PrivateKeyEnv == "" && s.Keystore == "" && s.PrivateKey == "" {
		s.PrivateKeyEnv = DefaultPrivateKeyEnv
	}
	if c.SettleTimeout == 0 && !c.IsSet("settleTimeout") {
		c.SettleTimeout = DefaultSettleTimeout
	}
	if c.ReconcileInterval == 0 && !c.IsSet("reconcileInterval") {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.LogFormat == "" {
		c.LogFormat = DefaultLogFormat
	}
	if c.Devnet.ChainID == 0 && !c.IsSet("devnet.chainId") {
		c.Devnet.ChainID = DefaultDevnetChainID
	}
	if !c.IsSet("devnet.batch.enabled") {
		c.Devnet.Batch.Enabled = true
	}
	c.batchDefaults(&c.Devnet.Batch, "devnet.batch")
	defaults := evm.DefaultNetworks()
	for i := range c.Networks {
		n := &c.Networks[i]
		p := fmt.Sprintf("networks[%d]", i)
		c.batchDefaults(&n.Batch, p+".batch")
		if n.ReadBatchSize == 0 && !c.IsSet(p+".readBatchSize") {
			n.ReadBatchSize = DefaultReadBatchSize
		}
		if n.Network != "" {
			canon := n.Network.Canonical()
			if id, err := canon.ChainID(); err == nil {
				n.Network = canon
				if n.ChainID == 0 && !c.IsSet(fmt.Sprintf("networks[%d].chainId", i)) {
					n.ChainID = id
				}
			}
		} else if n.ChainID != 0 {
			n.Network = x402.EIP155(n.ChainID)
		}
		if len(n.Assets) == 0 && n.Network != "" {
			if nc, err := defaults.Lookup(n.Network); err == nil && nc.ChainID == n.ChainID {
				n.Assets = nc.Assets
			}
		}
	}
}

// batchDefaults fills the batching keys under path left unset (a value
// given as 0 is left for Validate to refuse).
func (c *Config) batchDefaults(b *Batch, path string) {
	if b.Multicall == (common.Address{}) && !c.IsSet(path+".multicall") {
		b.Multicall = evm.Multicall3Address()
	}
	if b.MaxSize == 0 && !c.IsSet(path+".maxSize") {
		b.MaxSize = DefaultBatchMaxSize
	}
}

// ShutdownWait is how long a shutdown waits for requests and settlements
// in flight: ShutdownTimeout, or if zero SettleTimeout + ShutdownGrace, so
// that a settlement that started just before the signal can finish and be
// recorded.
func (c *Config) ShutdownWait() time.Duration {
	if c.ShutdownTimeout > 0 {
		return c.ShutdownTimeout
	}
	return c.SettleTimeout + ShutdownGrace
}

// maxInstanceLen bounds the instance name.
const maxInstanceLen = 128

func (c *Config) validateInstance(v *validator) {
	if c.Instance == "" {
		return
	}
	if len(c.Instance) > maxInstanceLen {
		v.fail("instance", fmt.Sprintf("must be at most %d bytes", maxInstanceLen))
		return
	}
	for _, r := range c.Instance {
		if r <= ' ' || r == 0x7f || r == '\ufffd' {
			v.fail("instance", "must be printable, without spaces (a name such as facilitator-1)")
			return
		}
	}
}

// SlogLevel returns LogLevel as a slog level (info if unknown).
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Validate checks every value, without any I/O (it does not read the
// signer's key or contact a node), and returns all the problems found,
// joined, each a *FieldError naming the key and its line.
func (c *Config) Validate() error {
	v := &validator{c: c}
	c.validateListen(v)
	c.validateDatabase(v)
	for i, h := range c.Auth.APIKeyHashes {
		if b, err := hex.DecodeString(strings.TrimSpace(h)); err != nil || len(b) != 32 {
			v.fail(fmt.Sprintf("auth.apiKeyHashes[%d]", i),
				"not a hex SHA-256 (64 hex digits); `go402 facilitator hash-key` prints the hash of a token")
		}
	}
	c.validateSigner(v)
	if c.SettleTimeout <= 0 {
		v.fail("settleTimeout", "must be a positive duration such as 2m")
	}
	if c.ReconcileInterval <= 0 {
		v.fail("reconcileInterval", "must be a positive duration such as 30s")
	}
	if c.ShutdownTimeout < 0 {
		v.fail("shutdownTimeout", "must be a positive duration such as 3m, or 0 for settleTimeout + 30s")
	}
	c.validateInstance(v)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		v.fail("logLevel", "must be one of debug, info, warn, error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		v.fail("logFormat", "must be text or json")
	}
	if c.Devnet.ChainID == 0 {
		v.fail("devnet.chainId", "must be a positive chain id")
	}
	validateBatch(v, c.Devnet.Batch, "devnet.batch")
	c.validateNetworks(v)
	return errors.Join(v.errs...)
}

type validator struct {
	c    *Config
	errs []error
}

// fail reports a problem with key, located where key (or its closest
// recorded parent) came from.
func (v *validator) fail(key, msg string) {
	e := &FieldError{File: v.c.name, Field: key, Msg: msg}
	for k := key; ; {
		if o, ok := v.c.where[k]; ok {
			e.Line, e.Source = o.line, o.from
			break
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	v.errs = append(v.errs, e)
}

func (c *Config) validateListen(v *validator) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		v.fail("listen", "must be host:port, such as 127.0.0.1:4022")
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.fail("listen", "the port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, " /") {
		v.fail("listen", "the host must be an IP address or a host name")
	}
}

func (c *Config) validateDatabase(v *validator) {
	db := c.Database
	switch {
	case db.SQLite != "" && db.Postgres != "":
		v.fail("database", "set exactly one of sqlite and postgres")
	case db.SQLite == ":memory:", strings.HasPrefix(db.SQLite, "file:"), strings.Contains(db.SQLite, "?"):
		v.fail("database.sqlite", "must be a plain file path (no :memory:, file: URI or '?'): the ledger must survive restarts")
	case db.Postgres != "" && !strings.HasPrefix(db.Postgres, "postgres://") && !strings.HasPrefix(db.Postgres, "postgresql://") && !strings.Contains(db.Postgres, "="):
		// Never quote the value: it may hold a password.
		v.fail("database.postgres", "must be a postgres:// URL or key=value connection string")
	}
}

// isEnvName reports whether s is a portable environment variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func (c *Config) validateSigner(v *validator) {
	s := c.Signer
	if s.PrivateKey != "" && !s.AllowInsecureKeyInConfig {
		v.fail("signer.privateKey", "refusing a private key written in the configuration file; "+
			"use privateKeyEnv or keystore (or set allowInsecureKeyInConfig: true)")
	}
	if c.Devnet.Enabled {
		return // the devnet supplies the signer
	}
	sources := 0
	for _, set := range []bool{s.PrivateKeyEnv != "", s.Keystore != "", s.PrivateKey != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		v.fail("signer", "set exactly one of privateKeyEnv, keystore and privateKey")
	}
	if s.PrivateKeyEnv != "" && !isEnvName(s.PrivateKeyEnv) {
		// Never quote the value: a key pasted here by mistake must not leak.
		v.fail("signer.privateKeyEnv", "must be the name of an environment variable (letters, digits and _), not the key itself")
	}
	if s.PasswordEnv != "" && !isEnvName(s.PasswordEnv) {
		v.fail("signer.passwordEnv", "must be the name of an environment variable (letters, digits and _), not the password itself")
	}
	switch {
	case s.Keystore != "" && s.PasswordEnv == "" && s.PasswordFile == "":
		v.fail("signer.keystore", "needs passwordEnv or passwordFile")
	case s.PasswordEnv != "" && s.PasswordFile != "":
		v.fail("signer", "set only one of passwordEnv and passwordFile")
	case s.Keystore == "" && s.PasswordEnv != "":
		v.fail("signer.passwordEnv", "is only used with keystore")
	case s.Keystore == "" && s.PasswordFile != "":
		v.fail("signer.passwordFile", "is only used with keystore")
	}
}

func (c *Config) validateNetworks(v *validator) {
	if c.Devnet.Enabled {
		if len(c.Networks) > 0 {
			v.fail("networks", "must be empty when the devnet is enabled: the devnet is the only network served")
		}
		return
	}
	if len(c.Networks) == 0 {
		v.fail("networks", "at least one network is required (or run with --devnet)")
		return
	}
	seen := map[x402.Network]bool{}
	for i, n := range c.Networks {
		p := fmt.Sprintf("networks[%d]", i)
		switch {
		case n.Network == "" && n.ChainID == 0:
			v.fail(p+".network", "required (or chainId)")
		case n.Network != "":
			id, err := n.Network.ChainID()
			switch {
			case err != nil:
				v.fail(p+".network", "must be an EVM network, eip155:<chain id> (or an x402 v1 name such as base-sepolia)")
			case id == 0:
				v.fail(p+".network", "the chain id must be positive")
			case n.ChainID != 0 && n.ChainID != id:
				v.fail(p+".chainId", fmt.Sprintf("%d does not match network %s", n.ChainID, n.Network))
			case seen[n.Network]:
				v.fail(p+".network", fmt.Sprintf("%s is listed twice", n.Network))
			}
			seen[n.Network] = true
		}
		if len(n.RPCURLs) == 0 {
			v.fail(p+".rpcUrls", "required")
		}
		validateBatch(v, n.Batch, p+".batch")
		if n.ReadBatchSize < 1 || n.ReadBatchSize > MaxReadBatchSize {
			v.fail(p+".readBatchSize", fmt.Sprintf("must be from 1 to %d (default %d)", MaxReadBatchSize, DefaultReadBatchSize))
		}
		for j, raw := range n.RPCURLs {
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" || !slices.Contains([]string{"http", "https", "ws", "wss"}, u.Scheme) {
				// Never quote the URL: providers put API keys in it.
				v.fail(fmt.Sprintf("%s.rpcUrls[%d]", p, j), "must be an http(s):// or ws(s):// URL")
			}
		}
		if len(n.Assets) == 0 {
			if n.Network != "" {
				v.fail(p+".assets", fmt.Sprintf("required: %s has no built-in stablecoins", n.Network))
			}
			continue
		}
		addrs := map[common.Address]bool{}
		for j, a := range n.Assets {
			ap := fmt.Sprintf("%s.assets[%d]", p, j)
			switch {
			case a.Address == (common.Address{}):
				v.fail(ap+".address", "required (a 0x-prefixed 20-byte hex address)")
			case addrs[a.Address]:
				v.fail(ap+".address", fmt.Sprintf("%s is listed twice", a.Address.Hex()))
			}
			addrs[a.Address] = true
			if a.Name == "" {
				v.fail(ap+".name", "required (the token's EIP-712 domain name, such as USDC or \"USD Coin\")")
			}
			if a.Version == "" {
				v.fail(ap+".version", "required (the token's EIP-712 domain version, such as \"2\")")
			}
			if a.Decimals > 77 {
				v.fail(ap+".decimals", "must be at most 77")
			}
			if a.TransferMethod != "" && a.TransferMethod != evm.TransferEIP3009 && a.TransferMethod != evm.TransferPermit2 {
				v.fail(ap+".transferMethod", "must be eip3009 or permit2")
			}
		}
	}
}

// validateBatch checks the batching keys under path, enabled or not.
func validateBatch(v *validator, b Batch, path string) {
	if b.Multicall == (common.Address{}) {
		v.fail(path+".multicall", "must not be the zero address; leave it out for the canonical Multicall3, "+evm.Multicall3AddressHex)
	}
	if b.MaxSize < 1 || b.MaxSize > MaxBatchSize {
		v.fail(path+".maxSize", fmt.Sprintf("must be from 1 to %d (default %d)", MaxBatchSize, DefaultBatchMaxSize))
	}
	if b.Window < 0 || b.Window > MaxBatchWindow {
		v.fail(path+".window", fmt.Sprintf("must be a duration from 0 to %v, such as 5ms: each batch waits this long for more settlements", MaxBatchWindow))
	}
}

// Source describes where the key comes from, for logs (never the key).
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

// parseDuration parses a Go duration with a unit, such as 90s or 2m.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("must be a duration with a unit, such as 90s or 2m")
	}
	return d, nil
}

// decoder walks the YAML node tree into a Config, recording the line of
// every key and collecting errors.
type decoder struct {
	name string
	env  func(string) string
	cfg  *Config
	errs []error
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{File: d.name, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// mark records where path's value is.
func (d *decoder) mark(path string, n *yaml.Node) { d.cfg.where[path] = origin{line: n.Line} }

// remark moves everything decoded under path to line: what an alias
// brought in is reported at the alias, not at its anchor.
func (d *decoder) remark(path string, line int) {
	for k, o := range d.cfg.where {
		if o.line > 0 && (strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[")) {
			d.cfg.where[k] = origin{line: line}
		}
	}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// fields decodes a mapping: each key must be in handlers and appear once.
// A null value leaves the key unset.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, path string)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := path
		if what == "" {
			what = "the top level"
		}
		d.fail(n, path, "%s must be a mapping of keys to values", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		p := join(path, k.Value)
		h, ok := handlers[k.Value]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.fail(k, path, "keys must be plain names")
			continue
		case !ok:
			d.fail(k, p, "unknown key%s", suggest(k.Value, handlers))
			continue
		case seen[k.Value]:
			d.fail(k, p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		if isNull(v) {
			continue
		}
		d.mark(p, k) // the key's line: for a mapping or list value, where it starts
		h(v, p)
		if n.Content[i+1].Kind == yaml.AliasNode {
			d.remark(p, k.Line)
		}
	}
}

// suggest returns " (did you mean X?)" for a key that differs from a known
// one only in case or by a missing or extra suffix.
func suggest(key string, known map[string]func(*yaml.Node, string)) string {
	lk := strings.ToLower(key)
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		lo := strings.ToLower(k)
		if lo == lk || (len(lk) >= 4 && (strings.HasPrefix(lo, lk) || strings.HasPrefix(lk, lo))) {
			return fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

// str decodes a scalar as a string, expanding ${VAR} references.
func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be a single value, not a list or mapping")
		return
	}
	*dst = d.expand(n, path, n.Value)
}

// secret decodes a secret scalar: never expanded, never quoted.
func (d *decoder) secret(n *yaml.Node, path string, dst *Secret) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be a single value")
		return
	}
	*dst = Secret(n.Value)
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	var s string
	d.str(n, path, &s)
	b, err := strconv.ParseBool(s)
	if n.Kind == yaml.ScalarNode && err != nil {
		d.fail(n, path, "must be true or false")
	}
	*dst = b
}

func (d *decoder) uint(n *yaml.Node, path string, bits int, dst func(uint64)) {
	var s string
	d.str(n, path, &s)
	if n.Kind != yaml.ScalarNode {
		return
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		d.fail(n, path, "must be a non-negative decimal integer below 2^%d", bits)
		return
	}
	dst(v)
}

func (d *decoder) duration(n *yaml.Node, path string, dst *time.Duration) {
	var s string
	d.str(n, path, &s)
	if n.Kind != yaml.ScalarNode {
		return
	}
	v, err := parseDuration(s)
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	*dst = v
}

// list decodes a sequence, calling item for each element.
func (d *decoder) list(n *yaml.Node, path string, item func(i int, v *yaml.Node, path string)) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list (- item lines, or [a, b])")
		return
	}
	for i, v := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.mark(p, v)
		item(i, resolve(v), p)
		if v.Kind == yaml.AliasNode {
			d.remark(p, v.Line)
		}
	}
}

func (d *decoder) strings(n *yaml.Node, path string, dst *[]string) {
	d.list(n, path, func(_ int, v *yaml.Node, p string) {
		var s string
		d.str(v, p, &s)
		if s == "" && v.Kind == yaml.ScalarNode {
			d.fail(v, p, "must not be empty")
			return
		}
		*dst = append(*dst, s)
	})
}

// expand replaces ${NAME} with the environment variable NAME ("$${" is a
// literal "${"). An unset or empty variable is an error.
func (d *decoder) expand(n *yaml.Node, path, s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			d.fail(n, path, "unterminated ${ (write $${ for a literal ${)")
			return b.String()
		}
		name := s[i+2 : i+end]
		switch v := d.env(name); {
		case !isEnvName(name):
			d.fail(n, path, "${...} must hold an environment variable name")
		case v == "":
			d.fail(n, path, "environment variable %s (referenced as ${%s}) is not set", name, name)
		default:
			b.WriteString(v)
		}
		s = s[i+end+1:]
	}
}

// top decodes the document's top-level mapping.
func (d *decoder) top(n *yaml.Node) {
	c := d.cfg
	d.fields(n, "", map[string]func(*yaml.Node, string){
		"listen": func(v *yaml.Node, p string) { d.str(v, p, &c.Listen) },
		"database": func(v *yaml.Node, p string) {
			d.fields(v, p, map[string]func(*yaml.Node, string){
				"sqlite":   func(v *yaml.Node, p string) { d.str(v, p, &c.Database.SQLite) },
				"postgres": func(v *yaml.Node, p string) { d.str(v, p, &c.Database.Postgres) },
			})
		},
		"auth": func(v *yaml.Node, p string) {
			d.fields(v, p, map[string]func(*yaml.Node, string){
				"apiKeyHashes": func(v *yaml.Node, p string) { d.strings(v, p, &c.Auth.APIKeyHashes) },
			})
		},
		"signer": func(v *yaml.Node, p string) {
			s := &c.Signer
			d.fields(v, p, map[string]func(*yaml.Node, string){
				"privateKeyEnv":            func(v *yaml.Node, p string) { d.str(v, p, &s.PrivateKeyEnv) },
				"keystore":                 func(v *yaml.Node, p string) { d.str(v, p, &s.Keystore) },
				"passwordEnv":              func(v *yaml.Node, p string) { d.str(v, p, &s.PasswordEnv) },
				"passwordFile":             func(v *yaml.Node, p string) { d.str(v, p, &s.PasswordFile) },
				"privateKey":               func(v *yaml.Node, p string) { d.secret(v, p, &s.PrivateKey) },
				"allowInsecureKeyInConfig": func(v *yaml.Node, p string) { d.boolean(v, p, &s.AllowInsecureKeyInConfig) },
			})
		},
		"networks": func(v *yaml.Node, p string) {
			d.list(v, p, func(_ int, v *yaml.Node, p string) { c.Networks = append(c.Networks, d.network(v, p)) })
		},
		"instance":          func(v *yaml.Node, p string) { d.str(v, p, &c.Instance) },
		"settleTimeout":     func(v *yaml.Node, p string) { d.duration(v, p, &c.SettleTimeout) },
		"reconcileInterval": func(v *yaml.Node, p string) { d.duration(v, p, &c.ReconcileInterval) },
		"shutdownTimeout":   func(v *yaml.Node, p string) { d.duration(v, p, &c.ShutdownTimeout) },
		"logLevel":          func(v *yaml.Node, p string) { d.str(v, p, &c.LogLevel) },
		"logFormat":         func(v *yaml.Node, p string) { d.str(v, p, &c.LogFormat) },
		"devnet": func(v *yaml.Node, p string) {
			d.fields(v, p, map[string]func(*yaml.Node, string){
				"enabled": func(v *yaml.Node, p string) { d.boolean(v, p, &c.Devnet.Enabled) },
				"chainId": func(v *yaml.Node, p string) { d.uint(v, p, 64, func(x uint64) { c.Devnet.ChainID = x }) },
				"batch":   func(v *yaml.Node, p string) { d.batch(v, p, &c.Devnet.Batch) },
			})
		},
	})
}

func (d *decoder) network(n *yaml.Node, path string) Network {
	var net Network
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"network": func(v *yaml.Node, p string) {
			var s string
			d.str(v, p, &s)
			net.Network = x402.Network(s)
		},
		"chainId": func(v *yaml.Node, p string) { d.uint(v, p, 64, func(x uint64) { net.ChainID = x }) },
		"rpcUrls": func(v *yaml.Node, p string) { d.strings(v, p, &net.RPCURLs) },
		"assets": func(v *yaml.Node, p string) {
			d.list(v, p, func(_ int, v *yaml.Node, p string) { net.Assets = append(net.Assets, d.asset(v, p)) })
		},
		"batch":         func(v *yaml.Node, p string) { d.batch(v, p, &net.Batch) },
		"readBatchSize": func(v *yaml.Node, p string) { d.uint(v, p, 31, func(x uint64) { net.ReadBatchSize = int(x) }) },
	})
	return net
}

func (d *decoder) batch(n *yaml.Node, path string, b *Batch) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"enabled":   func(v *yaml.Node, p string) { d.boolean(v, p, &b.Enabled) },
		"multicall": func(v *yaml.Node, p string) { d.address(v, p, &b.Multicall) },
		"maxSize":   func(v *yaml.Node, p string) { d.uint(v, p, 31, func(x uint64) { b.MaxSize = int(x) }) },
		"window":    func(v *yaml.Node, p string) { d.duration(v, p, &b.Window) },
	})
}

// address decodes a 0x-prefixed hex address, refusing a mixed-case one
// whose EIP-55 checksum is wrong.
func (d *decoder) address(n *yaml.Node, path string, dst *common.Address) {
	var s string
	d.str(n, path, &s)
	if n.Kind != yaml.ScalarNode {
		return
	}
	if !common.IsHexAddress(s) || !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		d.fail(n, path, "must be a 0x-prefixed 20-byte hex address")
		return
	}
	*dst = common.HexToAddress(s)
	if hexDigits := s[2:]; hexDigits != strings.ToLower(hexDigits) && hexDigits != strings.ToUpper(hexDigits) && dst.Hex() != s {
		d.fail(n, path, "mixed-case address with a wrong EIP-55 checksum (a typo?); the checksummed form is %s", dst.Hex())
	}
}

func (d *decoder) asset(n *yaml.Node, path string) evm.Asset {
	var a evm.Asset
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"address":        func(v *yaml.Node, p string) { d.address(v, p, &a.Address) },
		"name":           func(v *yaml.Node, p string) { d.str(v, p, &a.Name) },
		"version":        func(v *yaml.Node, p string) { d.str(v, p, &a.Version) },
		"symbol":         func(v *yaml.Node, p string) { d.str(v, p, &a.Symbol) },
		"transferMethod": func(v *yaml.Node, p string) { d.str(v, p, &a.TransferMethod) },
		"decimals":       func(v *yaml.Node, p string) { d.uint(v, p, 8, func(x uint64) { a.Decimals = uint8(x) }) },
	})
	return a
}
