package config

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

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
	if c.Readiness.MaxBlockAge == 0 && !c.IsSet("readiness.maxBlockAge") {
		c.Readiness.MaxBlockAge = DefaultMaxBlockAge
	}
	if c.Readiness.MinGasBalance == "" {
		c.Readiness.MinGasBalance = "0"
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
// recorded. A zero SettleTimeout (a Config not made by Parse) counts as
// DefaultSettleTimeout.
func (c *Config) ShutdownWait() time.Duration {
	if c.ShutdownTimeout > 0 {
		return c.ShutdownTimeout
	}
	settle := c.SettleTimeout
	if settle <= 0 {
		settle = DefaultSettleTimeout
	}
	return settle + ShutdownGrace
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
