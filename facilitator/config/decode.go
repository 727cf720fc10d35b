package config

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/yamlconf"
	"github.com/go402/go402/x402"
)

// schema returns the decoders of the file's keys, filling c.
func (c *Config) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"listen":        func(v yamlconf.Value) { v.String(&c.Listen) },
		"metricsListen": func(v yamlconf.Value) { v.String(&c.MetricsListen) },
		"database": func(v yamlconf.Value) {
			v.Fields(yamlconf.Fields{
				"sqlite":   func(v yamlconf.Value) { v.String(&c.Database.SQLite) },
				"postgres": func(v yamlconf.Value) { v.String(&c.Database.Postgres) },
			})
		},
		"auth": func(v yamlconf.Value) {
			v.Fields(yamlconf.Fields{
				"apiKeyHashes": func(v yamlconf.Value) { v.Strings(&c.Auth.APIKeyHashes) },
			})
		},
		"signer": func(v yamlconf.Value) { v.Fields(c.Signer.schema()) },
		"receiverAuthorizer": func(v yamlconf.Value) {
			v.Fields(yamlconf.Fields{
				"privateKeyEnv": func(v yamlconf.Value) { v.String(&c.ReceiverAuthorizer.PrivateKeyEnv) },
			})
		},
		"networks": func(v yamlconf.Value) {
			v.List(func(v yamlconf.Value) { c.Networks = append(c.Networks, decodeNetwork(v)) })
		},
		"instance":          func(v yamlconf.Value) { v.String(&c.Instance) },
		"settleTimeout":     func(v yamlconf.Value) { v.Duration(&c.SettleTimeout) },
		"reconcileInterval": func(v yamlconf.Value) { v.Duration(&c.ReconcileInterval) },
		"shutdownTimeout":   func(v yamlconf.Value) { v.Duration(&c.ShutdownTimeout) },
		"logLevel":          func(v yamlconf.Value) { v.String(&c.LogLevel) },
		"logFormat":         func(v yamlconf.Value) { v.String(&c.LogFormat) },
		"readiness": func(v yamlconf.Value) {
			v.Fields(yamlconf.Fields{
				"maxBlockAge":   func(v yamlconf.Value) { v.Duration(&c.Readiness.MaxBlockAge) },
				"minGasBalance": func(v yamlconf.Value) { v.String(&c.Readiness.MinGasBalance) },
			})
		},
		"devnet": func(v yamlconf.Value) {
			v.Fields(yamlconf.Fields{
				"enabled": func(v yamlconf.Value) { v.Bool(&c.Devnet.Enabled) },
				"chainId": func(v yamlconf.Value) { v.Uint(64, func(x uint64) { c.Devnet.ChainID = x }) },
				"batch":   func(v yamlconf.Value) { v.Fields(c.Devnet.Batch.schema()) },
			})
		},
	}
}

func (s *Signer) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"privateKeyEnv":            func(v yamlconf.Value) { v.String(&s.PrivateKeyEnv) },
		"keystore":                 func(v yamlconf.Value) { v.String(&s.Keystore) },
		"passwordEnv":              func(v yamlconf.Value) { v.String(&s.PasswordEnv) },
		"passwordFile":             func(v yamlconf.Value) { v.String(&s.PasswordFile) },
		"privateKey":               func(v yamlconf.Value) { v.Secret(&s.PrivateKey) },
		"allowInsecureKeyInConfig": func(v yamlconf.Value) { v.Bool(&s.AllowInsecureKeyInConfig) },
	}
}

func decodeNetwork(v yamlconf.Value) Network {
	var n Network
	v.Fields(yamlconf.Fields{
		"network": func(v yamlconf.Value) {
			var s string
			v.String(&s)
			n.Network = x402.Network(s)
		},
		"chainId": func(v yamlconf.Value) { v.Uint(64, func(x uint64) { n.ChainID = x }) },
		"rpcUrls": func(v yamlconf.Value) { v.Strings(&n.RPCURLs) },
		"assets": func(v yamlconf.Value) {
			v.List(func(v yamlconf.Value) { n.Assets = append(n.Assets, decodeAsset(v)) })
		},
		"batch":         func(v yamlconf.Value) { v.Fields(n.Batch.schema()) },
		"readBatchSize": func(v yamlconf.Value) { v.Uint(31, func(x uint64) { n.ReadBatchSize = int(x) }) },
		"eip6492Factories": func(v yamlconf.Value) {
			v.List(func(v yamlconf.Value) {
				var a common.Address
				decodeAddress(v, &a)
				n.ERC6492Factories = append(n.ERC6492Factories, a)
			})
		},
	})
	return n
}

func (b *Batch) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"enabled":   func(v yamlconf.Value) { v.Bool(&b.Enabled) },
		"multicall": func(v yamlconf.Value) { decodeAddress(v, &b.Multicall) },
		"maxSize":   func(v yamlconf.Value) { v.Uint(31, func(x uint64) { b.MaxSize = int(x) }) },
		"window":    func(v yamlconf.Value) { v.Duration(&b.Window) },
	}
}

func decodeAsset(v yamlconf.Value) evm.Asset {
	var a evm.Asset
	v.Fields(yamlconf.Fields{
		"address":        func(v yamlconf.Value) { decodeAddress(v, &a.Address) },
		"name":           func(v yamlconf.Value) { v.String(&a.Name) },
		"version":        func(v yamlconf.Value) { v.String(&a.Version) },
		"symbol":         func(v yamlconf.Value) { v.String(&a.Symbol) },
		"transferMethod": func(v yamlconf.Value) { v.String(&a.TransferMethod) },
		"decimals":       func(v yamlconf.Value) { v.Uint(8, func(x uint64) { a.Decimals = uint8(x) }) },
	})
	return a
}

// decodeAddress decodes a 0x-prefixed hex address, refusing a mixed-case
// one whose EIP-55 checksum is wrong.
func decodeAddress(v yamlconf.Value, dst *common.Address) {
	s, ok := v.Scalar()
	if !ok {
		return
	}
	if msg := evm.AddressProblem(s); msg != "" {
		v.Failf("%s", msg)
		return
	}
	*dst = common.HexToAddress(s)
}
