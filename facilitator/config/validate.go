package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/yamlconf"
	"github.com/go402/go402/x402"
)

// maxInstanceLen bounds the instance name.
const maxInstanceLen = 128

func (c *Config) validateInstance(v *yamlconf.Check) {
	if c.Instance == "" {
		return
	}
	if len(c.Instance) > maxInstanceLen {
		v.Failf("instance", "must be at most %d bytes", maxInstanceLen)
		return
	}
	for _, r := range c.Instance {
		if r <= ' ' || r == 0x7f || r == '\ufffd' {
			v.Failf("instance", "must be printable, without spaces (a name such as facilitator-1)")
			return
		}
	}
}

// joined, each a *FieldError naming the key and its line.
func (c *Config) Validate() error {
	v := yamlconf.NewCheck(&c.origins)
	c.validateListen(v)
	if c.MetricsListen != "" {
		validateHostPort(v, "metricsListen", c.MetricsListen)
	}
	c.validateDatabase(v)
	for i, h := range c.Auth.APIKeyHashes {
		if b, err := hex.DecodeString(strings.TrimSpace(h)); err != nil || len(b) != 32 {
			v.Failf(fmt.Sprintf("auth.apiKeyHashes[%d]", i), "not a hex SHA-256 (64 hex digits); `go402 facilitator hash-key` prints the hash of a token")
		}
	}
	c.validateSigner(v)
	if e := c.ReceiverAuthorizer.PrivateKeyEnv; e != "" && !yamlconf.IsEnvName(e) {
		// Never quote the value: a key pasted here by mistake must not leak.
		v.Failf("receiverAuthorizer.privateKeyEnv", "must be the name of an environment variable (letters, digits and _), not the key itself")
	}
	if c.SettleTimeout <= 0 {
		v.Failf("settleTimeout", "must be a positive duration such as 2m")
	}
	if c.ReconcileInterval <= 0 {
		v.Failf("reconcileInterval", "must be a positive duration such as 30s")
	}
	if c.ShutdownTimeout < 0 {
		v.Failf("shutdownTimeout", "must be a positive duration such as 3m, or 0 for settleTimeout + 30s")
	}
	c.validateInstance(v)
	if c.Readiness.MaxBlockAge < 0 {
		v.Failf("readiness.maxBlockAge", "must be a positive duration such as 3m, or 0 to skip the block age test")
	}
	if c.Readiness.GasFloor() == nil {
		v.Failf("readiness.minGasBalance", "must be a non-negative whole number of wei, such as 10000000000000000 (0.01 ETH)")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		v.Failf("logLevel", "must be one of debug, info, warn, error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		v.Failf("logFormat", "must be text or json")
	}
	if c.Devnet.ChainID == 0 {
		v.Failf("devnet.chainId", "must be a positive chain id")
	}
	validateBatch(v, c.Devnet.Batch, "devnet.batch")
	c.validateNetworks(v)
	return v.Err()
}

func (c *Config) validateListen(v *yamlconf.Check) { validateHostPort(v, "listen", c.Listen) }

// validateHostPort checks the listen address addr of key.
func validateHostPort(v *yamlconf.Check, key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.Failf(key, "must be host:port, such as 127.0.0.1:4022")
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.Failf(key, "the port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, " /") {
		v.Failf(key, "the host must be an IP address or a host name")
	}
}

func (c *Config) validateDatabase(v *yamlconf.Check) {
	db := c.Database
	switch {
	case db.SQLite != "" && db.Postgres != "":
		v.Failf("database", "set exactly one of sqlite and postgres")
	case db.SQLite == ":memory:", strings.HasPrefix(db.SQLite, "file:"), strings.Contains(db.SQLite, "?"):
		v.Failf("database.sqlite", "must be a plain file path (no :memory:, file: URI or '?'): the ledger must survive restarts")
	case db.Postgres != "" && !strings.HasPrefix(db.Postgres, "postgres://") && !strings.HasPrefix(db.Postgres, "postgresql://") && !strings.Contains(db.Postgres, "="):
		// Never quote the value: it may hold a password.
		v.Failf("database.postgres", "must be a postgres:// URL or key=value connection string")
	}
}

func (c *Config) validateSigner(v *yamlconf.Check) {
	s := c.Signer
	if s.PrivateKey != "" && !s.AllowInsecureKeyInConfig {
		v.Failf("signer.privateKey", "refusing a private key written in the configuration file; "+
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
		v.Failf("signer", "set exactly one of privateKeyEnv, keystore and privateKey")
	}
	if s.PrivateKeyEnv != "" && !yamlconf.IsEnvName(s.PrivateKeyEnv) {
		// Never quote the value: a key pasted here by mistake must not leak.
		v.Failf("signer.privateKeyEnv", "must be the name of an environment variable (letters, digits and _), not the key itself")
	}
	if s.PasswordEnv != "" && !yamlconf.IsEnvName(s.PasswordEnv) {
		v.Failf("signer.passwordEnv", "must be the name of an environment variable (letters, digits and _), not the password itself")
	}
	switch {
	case s.Keystore != "" && s.PasswordEnv == "" && s.PasswordFile == "":
		v.Failf("signer.keystore", "needs passwordEnv or passwordFile")
	case s.PasswordEnv != "" && s.PasswordFile != "":
		v.Failf("signer", "set only one of passwordEnv and passwordFile")
	case s.Keystore == "" && s.PasswordEnv != "":
		v.Failf("signer.passwordEnv", "is only used with keystore")
	case s.Keystore == "" && s.PasswordFile != "":
		v.Failf("signer.passwordFile", "is only used with keystore")
	}
}

func (c *Config) validateNetworks(v *yamlconf.Check) {
	if c.Devnet.Enabled {
		if len(c.Networks) > 0 {
			v.Failf("networks", "must be empty when the devnet is enabled: the devnet is the only network served")
		}
		return
	}
	if len(c.Networks) == 0 {
		v.Failf("networks", "at least one network is required (or run with --devnet)")
		return
	}
	seen := map[x402.Network]bool{}
	for i, n := range c.Networks {
		p := fmt.Sprintf("networks[%d]", i)
		switch {
		case n.Network == "" && n.ChainID == 0:
			v.Failf(p+".network", "required (or chainId)")
		case n.Network != "":
			id, err := n.Network.ChainID()
			switch {
			case err != nil:
				v.Failf(p+".network", "must be an EVM network, eip155:<chain id> (or an x402 v1 name such as base-sepolia)")
			case id == 0:
				v.Failf(p+".network", "the chain id must be positive")
			case n.ChainID != 0 && n.ChainID != id:
				v.Failf(p+".chainId", "%d does not match network %s", n.ChainID, n.Network)
			case seen[n.Network]:
				v.Failf(p+".network", "%s is listed twice", n.Network)
			}
			seen[n.Network] = true
		}
		if len(n.RPCURLs) == 0 {
			v.Failf(p+".rpcUrls", "required")
		}
		validateBatch(v, n.Batch, p+".batch")
		if n.ReadBatchSize < 1 || n.ReadBatchSize > MaxReadBatchSize {
			v.Failf(p+".readBatchSize", "must be from 1 to %d (default %d)", MaxReadBatchSize, DefaultReadBatchSize)
		}
		for j, raw := range n.RPCURLs {
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" || !slices.Contains([]string{"http", "https", "ws", "wss"}, u.Scheme) {
				// Never quote the URL: providers put API keys in it.
				v.Failf(fmt.Sprintf("%s.rpcUrls[%d]", p, j), "must be an http(s):// or ws(s):// URL")
			}
		}
		if len(n.Assets) == 0 {
			if n.Network != "" {
				v.Failf(p+".assets", "required: %s has no built-in stablecoins", n.Network)
			}
			continue
		}
		for _, pr := range evm.CheckAssets(n.Assets) {
			v.Failf(fmt.Sprintf("%s.assets[%d].%s", p, pr.Index, pr.Field), "%s", pr.Message)
		}
	}
}

// validateBatch checks the batching keys under path, enabled or not.
func validateBatch(v *yamlconf.Check, b Batch, path string) {
	if b.Multicall == (common.Address{}) {
		v.Failf(path+".multicall", "must not be the zero address; leave it out for the canonical Multicall3, %s", evm.Multicall3AddressHex)
	}
	if b.MaxSize < 1 || b.MaxSize > MaxBatchSize {
		v.Failf(path+".maxSize", "must be from 1 to %d (default %d)", MaxBatchSize, DefaultBatchMaxSize)
	}
	if b.Window < 0 || b.Window > MaxBatchWindow {
		v.Failf(path+".window", "must be a duration from 0 to %v, such as 5ms: each batch waits this long for more settlements", MaxBatchWindow)
	}
}

// Source describes where the key comes from, for logs (never the key).
