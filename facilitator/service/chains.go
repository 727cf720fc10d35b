package service

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/postgres"
	"github.com/go402/go402/ledger/sqlite"
)

// Start-up bounds.
const (
	// networkSetupTimeout bounds the start-up chain calls for one network.
	networkSetupTimeout = 30 * time.Second
	// devnetCloseTimeout bounds the embedded devnet's stop.
	devnetCloseTimeout = 15 * time.Second
	// devnetPollInterval is how often receipts are polled on the devnet.
	devnetPollInterval = 100 * time.Millisecond
)

// openLedger opens the configured store, registers its closing and
// describes it. Without a configured database (nothing set, or the devnet
// with the database left to its default), the ledger is a SQLite file in
// a temporary directory.
func (s *Service) openLedger(ctx context.Context) (ledger.Store, error) {
	db := s.cfg.Database
	if db.Postgres != "" {
		st, err := postgres.Open(ctx, postgres.Config{URL: db.Postgres, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("opening the ledger: %w", err)
		}
		s.cleanup.add(closeLedger(st))
		s.dbDesc = "postgres " + redact.DSN(db.Postgres)
		return st, nil
	}
	path := db.SQLite
	if path == "" || s.cfg.Devnet.Enabled && !s.cfg.IsSet("database") {
		dir, err := os.MkdirTemp("", "go402-facilitator-")
		if err != nil {
			return nil, fmt.Errorf("creating a temporary ledger: %w", err)
		}
		s.cleanup.add(func() error { return os.RemoveAll(dir) })
		path, s.dbTemp = filepath.Join(dir, "ledger.db"), true
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("opening the ledger: %w", err)
	}
	s.cleanup.add(closeLedger(st))
	s.dbDesc = "sqlite " + path
	return st, nil
}

func closeLedger(st ledger.Store) func() error {
	return func() error {
		if err := st.Close(); err != nil {
			return fmt.Errorf("closing the ledger: %w", err)
		}
		return nil
	}
}

// startNetworks builds the scheme of every network served: the host's,
// the embedded devnet, or the configured ones. It fills s.nets.
func (s *Service) startNetworks(ctx context.Context, deps Deps) ([]networkSchemes, error) {
	nets, configured := deps.Networks, false
	switch {
	case len(nets) > 0:
	case s.cfg.Devnet.Enabled:
		n, err := s.startDevnet(ctx)
		if err != nil {
			return nil, err
		}
		if n.ReceiverAuthorizer, err = s.cfg.ReceiverAuthorizer.Load(getenv(deps)); err != nil {
			return nil, err
		}
		if n.ReceiverAuthorizer != nil {
			s.log.Info("batch-settlement receiver authorizer loaded", "address", crypto.PubkeyToAddress(n.ReceiverAuthorizer.PublicKey).Hex())
		}
		nets = []Network{n}
	default:
		var err error
		if nets, err = s.dialNetworks(ctx, getenv(deps)); err != nil {
			return nil, err
		}
		configured = true
	}
	schemes := make([]networkSchemes, 0, len(nets))
	for i, n := range nets {
		n = s.metrics.instrumentNetwork(n)
		sch, err := s.newSchemes(ctx, n)
		if err != nil && configured {
			err = fmt.Errorf("networks[%d] (%s): %w", i, n.Network, redact.Scrub(err, s.cfg.Networks[i].RPCURLs[0]))
		}
		if err != nil {
			return nil, err
		}
		schemes = append(schemes, sch)
		id, _ := n.Network.ChainID() // valid: newSchemes checked it
		s.addProbe(n, id, s.dev == nil || len(deps.Networks) > 0)
		s.nets = append(s.nets, NetworkInfo{Network: n.Network, Assets: n.Assets, Batch: n.Batch, Signer: crypto.PubkeyToAddress(n.Key.PublicKey)})
	}
	return schemes, nil
}

// startDevnet starts the embedded devnet (JSON-RPC on a free loopback
// port), settling from its last funded account.
func (s *Service) startDevnet(ctx context.Context) (Network, error) {
	d, err := devnet.Start(ctx, devnet.Config{
		ChainID: s.cfg.Devnet.ChainID,
		RPCAddr: "127.0.0.1:0",
		Logger:  s.log.With("component", "devnet"),
	})
	if err != nil {
		return Network{}, fmt.Errorf("starting the devnet: %w", err)
	}
	s.dev = d
	s.cleanup.add(func() error {
		// Runs after Shutdown: settlements have finished (or timed out)
		// before the chain goes away.
		closed := make(chan error, 1)
		go func() { closed <- d.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				return fmt.Errorf("closing the devnet: %w", err)
			}
			return nil
		case <-time.After(devnetCloseTimeout):
			return fmt.Errorf("devnet did not stop within %v", devnetCloseTimeout)
		}
	})
	accounts := d.Accounts()
	nc := d.NetworkConfig()
	return Network{
		Network: nc.Network, Backend: d.Client(), Key: accounts[len(accounts)-1].PrivateKey, Assets: nc.Assets,
		Batch: s.cfg.Devnet.Batch.EVM(), PollInterval: devnetPollInterval,
		ERC6492Factories: []common.Address{evm.DevnetWalletFactoryAddress()},
	}, nil
}

// dialNetworks loads the signer key and connects to every configured
// network, checking each endpoint's chain id.
func (s *Service) dialNetworks(ctx context.Context, env func(string) string) ([]Network, error) {
	if len(s.cfg.Networks) == 0 {
		return nil, fmt.Errorf("no networks configured")
	}
	key, err := s.cfg.Signer.Load(env)
	if err != nil {
		return nil, err
	}
	ra, err := s.cfg.ReceiverAuthorizer.Load(env)
	if err != nil {
		return nil, err
	}
	if ra != nil {
		s.log.Info("batch-settlement receiver authorizer loaded", "address", crypto.PubkeyToAddress(ra.PublicKey).Hex(), "source", "environment variable "+s.cfg.ReceiverAuthorizer.PrivateKeyEnv)
		if len(s.cfg.Auth.APIKeyHashes) == 0 {
			s.log.Warn("a receiver-authorizer key without auth.apiKeyHashes: anyone who can reach /settle can have it sign refunds of the channels that name it")
		}
	}
	s.log.Info("settlement key loaded", "address", crypto.PubkeyToAddress(key.PublicKey).Hex(), "source", s.cfg.Signer.Source())
	var nets []Network
	for i, n := range s.cfg.Networks {
		dialed, err := s.dialNetwork(ctx, n, key)
		if err != nil {
			return nil, fmt.Errorf("networks[%d] (%s): %w", i, n.Network, err)
		}
		dialed.ReceiverAuthorizer = ra
		nets = append(nets, dialed)
	}
	return nets, nil
}

func (s *Service) dialNetwork(ctx context.Context, n config.Network, key *ecdsa.PrivateKey) (Network, error) {
	ctx, cancel := context.WithTimeout(ctx, networkSetupTimeout)
	defer cancel()
	rpcURL := n.RPCURLs[0]
	client, err := DialRPC(ctx, rpcURL)
	if err != nil {
		// The dial error may quote the URL, and with it an API key.
		return Network{}, fmt.Errorf("cannot connect to %s", redact.URL(rpcURL))
	}
	s.cleanup.add(func() error { client.Close(); return nil })
	// Every error of the backend, at start-up and while serving (in logs
	// and ledger events), shows the endpoint without its path and query.
	backend := ScrubbedBackend(client, rpcURL)
	got, err := backend.ChainID(ctx)
	if err != nil {
		return Network{}, fmt.Errorf("reading the chain id from %s: %w", redact.URL(rpcURL), err)
	}
	if !got.IsUint64() || got.Uint64() != n.ChainID {
		return Network{}, fmt.Errorf("RPC endpoint %s is on chain %s, not %d", redact.URL(rpcURL), got, n.ChainID)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	if bal, err := client.BalanceAt(ctx, addr, nil); err == nil && bal.Sign() == 0 {
		s.log.Warn("the signer has no native balance to pay gas on this network", "network", n.Network, "signer", addr.Hex())
	}
	s.log.Info("network ready", "network", n.Network, "rpc", redact.URL(rpcURL), "assets", len(n.Assets),
		"batch", n.Batch.Enabled, "readBatchSize", n.ReadBatchSize)
	// The chain reads of concurrent payments go out as JSON-RPC batch
	// requests, through the same scrubbing.
	return Network{
		Network: n.Network, Backend: backend, Key: key, Assets: n.Assets, Batch: n.Batch.EVM(),
		RPC: ScrubbedBatchCaller(client.Client(), rpcURL), ReadBatchSize: n.ReadBatchSize,
		ERC6492Factories: n.ERC6492Factories,
	}, nil
}

// networkSchemes are the schemes of one network, sharing its sender.
type networkSchemes struct {
	exact *evm.ExactFacilitator
	batch *batchsettlement.Facilitator
	upto  *upto.Facilitator
}

// newSchemes builds the transaction sender of one chain and its schemes:
// exact, and batch-settlement (x402 v2 only), which share the sender so
// that its nonces stay its own.
func (s *Service) newSchemes(ctx context.Context, n Network) (networkSchemes, error) {
	id, err := n.Network.ChainID()
	if err != nil {
		return networkSchemes{}, err
	}
	if n.Key == nil || n.Backend == nil {
		return networkSchemes{}, fmt.Errorf("network %s: a backend and a settlement key are required", n.Network)
	}
	sender, err := evm.NewSender(ctx, evm.SenderConfig{
		Backend: n.Backend, Key: n.Key, ChainID: new(big.Int).SetUint64(id), PollInterval: n.PollInterval,
		Logger: s.log.With("component", "sender", "network", string(n.Network)),
	})
	if err != nil {
		return networkSchemes{}, fmt.Errorf("creating the transaction sender for %s: %w", n.Network, err)
	}
	exact, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{
		Network: n.Network, Backend: n.Backend, Sender: sender, Assets: n.Assets, Logger: s.log, Batch: n.Batch,
		RPC: n.RPC, ReadBatchSize: n.ReadBatchSize, ERC6492Factories: n.ERC6492Factories,
	})
	if err != nil {
		return networkSchemes{}, fmt.Errorf("creating the exact scheme for %s: %w", n.Network, err)
	}
	bcfg := batchsettlement.FacilitatorConfig{Network: n.Network, Backend: n.Backend, Sender: sender, Logger: s.log}
	if n.ReceiverAuthorizer != nil {
		ra, err := evm.NewPrivateKeySignerFromECDSA(n.ReceiverAuthorizer)
		if err != nil {
			return networkSchemes{}, fmt.Errorf("the receiver-authorizer key: %w", err)
		}
		bcfg.ReceiverAuthorizer = ra
	}
	batch, err := batchsettlement.NewFacilitator(ctx, bcfg)
	if err != nil {
		return networkSchemes{}, fmt.Errorf("creating the batch-settlement scheme for %s: %w", n.Network, err)
	}
	// upto: any ERC-20 through Permit2; the sender is the facilitator
	// address payers name in their witness.
	up, err := upto.NewFacilitator(ctx, upto.FacilitatorConfig{
		Network: n.Network, Backend: n.Backend, Sender: sender, Logger: s.log, ERC6492Factories: n.ERC6492Factories,
	})
	if err != nil {
		return networkSchemes{}, fmt.Errorf("creating the upto scheme for %s: %w", n.Network, err)
	}
	return networkSchemes{exact: exact, batch: batch, upto: up}, nil
}
