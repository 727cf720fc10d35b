// Package devnet owns go402's local development chain: an in-process
// Ethereum node (go-ethereum's dev-mode stack driven by a simulated beacon,
// the same machinery as ethclient/simulated) with the TestUSDC token from
// package contracts deployed and funded accounts, for tests and for
// `go402 devnet`. The chain starts on the Osaka fork rules (all earlier forks
// active from genesis), like Ethereum mainnet today.
//
// # Blocks
//
// A block is mined as soon as a transaction reaches the pending pool, whether
// it came from Client or from another process over the JSON-RPC server;
// nobody needs to call Commit. Every pending transaction is included in that
// block when gas allows. With Config.BlockTime > 0 empty blocks are also mined
// on that interval. Block timestamps follow the wall clock (one-second
// resolution) and strictly increase, so bursts of blocks may run ahead of the
// wall clock; the lead is capped at Config.TimestampLead (by default
// MaxTimestampLead, 10 s) by delaying the next block, which keeps EIP-3009
// validAfter/validBefore windows meaningful. Tests of time locks can move
// the chain's clock forward with Devnet.AdvanceTime.
//
// # Accounts (PUBLIC keys, development only)
//
// Keys are derived from the public constant DevSeed:
//
//	funded account i:  privateKey = keccak256(utf8(DevSeed + "/account/" + decimal(i)))
//	deployer (owner):  privateKey = keccak256(utf8(DevSeed + "/deployer"))
//
// with DevSeed = "go402 devnet public dev-only seed" and decimal(i) the
// base-10 index without leading zeros ("0", "1", ... ). For example account 0
// is keccak256("go402 devnet public dev-only seed/account/0"). Anybody can
// compute these keys: never send anything of value to them on a real network.
//
// The deployer is not one of the funded accounts. It gets 10,000 ETH at
// genesis, deploys TestUSDC as its first transaction (so the token address is
// always crypto.CreateAddress(deployer, 0), the same on every run), owns it,
// and mints Config.TokenBalance to every funded account. Funded accounts get
// Config.ETHBalance at genesis.
//
// # Multicall3
//
// Genesis also holds Multicall3 (see package contracts) at the canonical
// Multicall3 address 0xcA11bde05977b3631167028862bE2a173976CA11
// ([evm.Multicall3Address]), so a relayer can settle several EIP-3009
// authorizations in one transaction with aggregate3, as it would on a live
// chain. Only aggregate3, tryAggregate (through which the x402 TypeScript
// packages read chain state), getBlockNumber and getCurrentBlockTimestamp are
// implemented.
//
// # x402 batch settlement
//
// Genesis also holds go402's x402BatchSettlement escrow and its
// ERC3009DepositCollector (see package contracts) at the canonical addresses
// [evm.BatchSettlementAddress] (0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003)
// and [evm.ERC3009DepositCollectorAddress]
// (0x4020806089470a89826cB9fB1f4059150b550004), so the official x402
// batch-settlement clients work against the devnet unchanged. Their withdraw
// delay (at least 900 s) can be skipped in tests with [Devnet.AdvanceTime].
//
// # Permit2
//
// Genesis also holds go402's Permit2 (the signature-transfer subset) and the
// x402 exact and upto Permit2 proxies (see package contracts) at the
// canonical addresses [evm.Permit2Address]
// (0x000000000022D473030F116dDEE9F6B43aC78BA3),
// [evm.ExactPermit2ProxyAddress]
// (0x402085c248EeA27D92E8b30b2C58ed07f9E20001) and
// [evm.UptoPermit2ProxyAddress]
// (0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002). The deployer also deploys,
// as its second transaction, a Permit2 test token without EIP-3009 but with
// EIP-2612 permit ([Devnet.PermitToken], always at
// crypto.CreateAddress(deployer, 1)) and mints Config.TokenBalance of it to
// every funded account. No account has approved Permit2 at start.
//
// # JSON-RPC
//
// With Config.RPCAddr set, the node's standard eth, net and web3 JSON-RPC
// namespaces are served over HTTP (CORS open, as is usual for dev chains; no
// accounts are unlocked on the node, so clients sign locally).
package devnet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/go402/go402/contracts"
	"github.com/go402/go402/evm"
)

// Devnet is a running in-process chain. Create it with Start and stop it with
// Close. Its methods are safe for concurrent use.
type Devnet struct {
	cfg      Config // with defaults applied
	log      *slog.Logger
	chainID  *big.Int // never handed out; ChainID returns copies
	token    TokenInfo
	tokenABI abi.ABI
	deployer keyPair
	accounts []keyPair

	stack  *node.Node
	eth    *eth.Ethereum
	beacon *catalyst.SimulatedBeacon
	client *ethclient.Client
	rpcURL string

	mineMu sync.Mutex // serialises block production (SimulatedBeacon is not concurrency-safe)
	// timeShift is the total AdvanceTime has moved the chain's clock ahead
	// of the wall clock; guarded by mineMu.
	timeShift time.Duration
	deployMu  sync.Mutex // serialises deployer transactions (nonces)

	stop      chan struct{} // closed by Close
	loopsDone sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// keyPair is an account's raw key; Accounts builds fresh *ecdsa.PrivateKey
// values from it so callers never share mutable key objects.
type keyPair struct {
	addr common.Address
	key  [32]byte
}

func newKeyPair(a Account) keyPair {
	kp := keyPair{addr: a.Address}
	copy(kp.key[:], crypto.FromECDSA(a.PrivateKey))
	return kp
}

func (kp keyPair) account() Account {
	k, err := crypto.ToECDSA(kp.key[:])
	if err != nil {
		panic(fmt.Sprintf("devnet: stored key for %s no longer parses: %v", kp.addr, err)) // impossible: it parsed at Start
	}
	return Account{Address: kp.addr, PrivateKey: k}
}

func (kp keyPair) privateKey() *ecdsa.PrivateKey { return kp.account().PrivateKey }

// TokenInfo describes the deployed test token.
type TokenInfo struct {
	Address  common.Address
	Name     string // ERC-20 name and EIP-712 domain name
	Version  string // EIP-712 domain version
	Symbol   string
	Decimals uint8
}

// MaxTimestampLead is how far ahead of the wall clock block timestamps may
// run, by default, when blocks are mined faster than one per second (see
// Config.TimestampLead).
const MaxTimestampLead = 10 * time.Second

// deployerETH is the deployer's genesis balance: 10,000 ETH.
func deployerETH() *big.Int { return DefaultETHBalance() }

// Start launches a devnet, deploys the test token and funds the accounts. ctx
// bounds the start-up only; the chain runs until Close. Close must be called
// to release its goroutines and the RPC listener.
func Start(ctx context.Context, cfg Config) (*Devnet, error) {
	began := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Devnet{
		cfg:      cfg,
		log:      cfg.Logger,
		chainID:  new(big.Int).SetUint64(cfg.ChainID),
		tokenABI: contracts.TestUSDCParsedABI(),
		stop:     make(chan struct{}),
	}
	deployer, err := DeployerAccount()
	if err != nil {
		return nil, err
	}
	d.deployer = newKeyPair(deployer)
	for i := range cfg.Accounts {
		a, err := DevAccount(i)
		if err != nil {
			return nil, err
		}
		d.accounts = append(d.accounts, newKeyPair(a))
	}
	d.token = TokenInfo{
		Address:  crypto.CreateAddress(deployer.Address, 0),
		Name:     cfg.Name,
		Version:  cfg.Version,
		Symbol:   cfg.Symbol,
		Decimals: TokenDecimals,
	}

	if err := d.startNode(); err != nil {
		d.shutdown()
		return nil, err
	}
	if err := d.deployToken(ctx); err != nil {
		d.shutdown()
		return nil, err
	}
	d.startMiner()
	d.log.Info("devnet started",
		"chainId", cfg.ChainID, "rpc", d.rpcURL, "token", d.token.Address.Hex(),
		"accounts", cfg.Accounts, "blockTime", cfg.BlockTime, "startup", time.Since(began).Round(time.Millisecond))
	return d, nil
}

// startNode assembles and starts the node, the eth service, the filter API
// and the simulated beacon.
func (d *Devnet) startNode() error {
	nodeConf, err := d.nodeConfig()
	if err != nil {
		return err
	}
	stack, err := node.New(nodeConf)
	if err != nil {
		return fmt.Errorf("devnet: create node: %w", err)
	}
	d.stack = stack

	ethConf := ethconfig.Defaults
	ethConf.NetworkId = d.cfg.ChainID
	ethConf.Genesis = d.genesis()
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	ethConf.LogNoHistory = true // no log index to maintain; eth_getLogs scans (fine at devnet sizes)

	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		return fmt.Errorf("devnet: create eth service: %w", err)
	}
	d.eth = backend
	stack.RegisterAPIs([]rpc.API{{
		Namespace: "eth",
		Service:   filters.NewFilterAPI(filters.NewFilterSystem(backend.APIBackend, filters.Config{})),
	}})
	if err := stack.Start(); err != nil {
		return fmt.Errorf("devnet: start node (RPC address %q): %w", d.cfg.RPCAddr, err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, backend)
	if err != nil {
		return fmt.Errorf("devnet: create simulated beacon: %w", err)
	}
	d.beacon = beacon
	d.client = ethclient.NewClient(stack.Attach())
	if d.cfg.RPCAddr != "" {
		d.rpcURL = stack.HTTPEndpoint()
	}
	return nil
}

// nodeConfig is the geth node's configuration: in memory, no peers, and
// the JSON-RPC HTTP server on cfg.RPCAddr if set.
func (d *Devnet) nodeConfig() (*node.Config, error) {
	nodeConf := node.DefaultConfig
	nodeConf.DataDir = "" // in-memory database, no files
	nodeConf.IPCPath = ""
	nodeConf.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0}
	nodeConf.HTTPHost = ""
	// geth's own logs are only passed on from Warn up.
	nodeConf.Logger = log.NewLogger(minLevelHandler{d.log.With("component", "geth").Handler(), slog.LevelWarn})
	if d.cfg.RPCAddr == "" {
		return &nodeConf, nil
	}
	host, port, err := splitRPCAddr(d.cfg.RPCAddr, d.cfg.AllowNonLoopback)
	if err != nil {
		return nil, err
	}
	nodeConf.HTTPHost = host
	nodeConf.HTTPPort = port
	nodeConf.HTTPModules = []string{"eth", "net", "web3"}
	nodeConf.HTTPCors = []string{"*"}
	// Keep the default "localhost" virtual host (requests to an IP are
	// always accepted) so DNS rebinding cannot reach a loopback devnet.
	if d.cfg.AllowNonLoopback {
		nodeConf.HTTPVirtualHosts = []string{"*"}
	}
	return &nodeConf, nil
}

// genesis is the devnet's genesis: the rules of live networks, the funded
// deployer and accounts, and go402's contracts at their canonical
// addresses.
func (d *Devnet) genesis() *core.Genesis {
	chainConfig := *params.AllDevChainProtocolChanges // copy: never mutate the shared config
	chainConfig.ChainID = new(big.Int).Set(d.chainID)
	// Run the rules live networks run (up to Osaka), not geth's experimental
	// next forks, whose state-gas repricing would make gas figures unlike
	// any real chain's.
	chainConfig.AmsterdamTime = nil
	chainConfig.BogotaTime = nil
	chainConfig.UBTTime = nil

	alloc := core.SystemContractAllocs() // the system contracts the enabled forks call into
	maps.Copy(alloc, types.GenesisAlloc{
		d.deployer.addr: {Balance: deployerETH()},
		// Runtime code placed directly, like the system contracts (nonce 1,
		// as if created).
		evm.Multicall3Address():      {Nonce: 1, Code: contracts.Multicall3RuntimeBytecode(), Balance: new(big.Int)},
		evm.BatchSettlementAddress(): {Nonce: 1, Code: contracts.BatchSettlementRuntimeBytecode(), Balance: new(big.Int)},
		evm.ERC3009DepositCollectorAddress(): {
			Nonce: 1, Code: contracts.ERC3009DepositCollectorRuntimeBytecode(), Balance: new(big.Int),
		},
	})
	maps.Copy(alloc, permit2Alloc()) // Permit2 and the x402 Permit2 proxies
	maps.Copy(alloc, walletAllocs())
	for _, a := range d.accounts {
		if d.cfg.ETHBalance.Sign() > 0 {
			alloc[a.addr] = types.Account{Balance: new(big.Int).Set(d.cfg.ETHBalance)}
		}
	}
	return &core.Genesis{
		Config:   &chainConfig,
		GasLimit: ethconfig.Defaults.Miner.GasCeil,
		Alloc:    alloc,
	}
}

// Close stops block production, the RPC server and the node. It is
// idempotent and safe to call concurrently; later calls return the first
// result.
func (d *Devnet) Close() error {
	d.closeOnce.Do(func() {
		d.closeErr = d.shutdown()
		d.log.Info("devnet stopped")
	})
	return d.closeErr
}

// shutdown releases whatever Start managed to create.
func (d *Devnet) shutdown() error {
	close(d.stop)
	d.loopsDone.Wait()
	if d.client != nil {
		d.client.Close()
	}
	var err error
	if d.beacon != nil {
		err = d.beacon.Stop()
	}
	if d.stack != nil {
		if cerr := d.stack.Close(); cerr != nil && !errors.Is(cerr, node.ErrNodeStopped) {
			err = errors.Join(err, fmt.Errorf("devnet: close node: %w", cerr))
		}
	}
	return err
}

// Client returns an in-process JSON-RPC client for the chain. It satisfies
// go-ethereum's bind.ContractBackend and bind.DeployBackend (v1 and v2).
// Transactions sent through it are mined without calling anything else. It is
// shared: do not Close it, Devnet.Close does.
func (d *Devnet) Client() *ethclient.Client { return d.client }

// RPCURL returns the HTTP JSON-RPC URL, e.g. "http://127.0.0.1:8545", or ""
// if Config.RPCAddr was empty.
func (d *Devnet) RPCURL() string { return d.rpcURL }

// ChainID returns the chain id (a fresh copy).
func (d *Devnet) ChainID() *big.Int { return new(big.Int).Set(d.chainID) }

// Network returns the CAIP-2 network id used by x402, "eip155:<chain id>".
func (d *Devnet) Network() string { return fmt.Sprintf("eip155:%d", d.cfg.ChainID) }

// Token returns the deployed test token's address and EIP-712 domain data.
func (d *Devnet) Token() TokenInfo { return d.token }

// Accounts returns the funded accounts, in index order, with fresh key
// objects. The keys are public (see the package doc).
func (d *Devnet) Accounts() []Account {
	out := make([]Account, len(d.accounts))
	for i, kp := range d.accounts {
		out[i] = kp.account()
	}
	return out
}

// Deployer returns the account that deployed and owns the token (the only
// account allowed to mint).
func (d *Devnet) Deployer() Account { return d.deployer.account() }

// Info is the JSON description of a running devnet, as written by
// `go402 devnet --info-file`.
type Info struct {
	RPCURL  string    `json:"rpcUrl"`
	ChainID uint64    `json:"chainId"`
	Network string    `json:"network"`
	Token   InfoToken `json:"token"`
	// PermitToken is the Permit2 test token (EIP-2612, no EIP-3009; see
	// [Devnet.PermitToken]).
	PermitToken InfoToken     `json:"permitToken"`
	Accounts    []InfoAccount `json:"accounts"`
}

// InfoToken is the token part of Info.
type InfoToken struct {
	Address  string `json:"address"` // EIP-55 checksummed
	Name     string `json:"name"`
	Version  string `json:"version"`
	Decimals uint8  `json:"decimals"`
}

// InfoAccount is a funded account in Info. PrivateKey is 0x-prefixed hex and
// public (dev-only).
type InfoAccount struct {
	Address    string `json:"address"` // EIP-55 checksummed
	PrivateKey string `json:"privateKey"`
}

// Info returns the devnet's description, including the (public) private keys.
func (d *Devnet) Info() Info {
	info := Info{
		RPCURL:  d.rpcURL,
		ChainID: d.cfg.ChainID,
		Network: d.Network(),
		Token: InfoToken{
			Address:  d.token.Address.Hex(),
			Name:     d.token.Name,
			Version:  d.token.Version,
			Decimals: d.token.Decimals,
		},
		Accounts: make([]InfoAccount, len(d.accounts)),
	}
	pt := d.PermitToken()
	info.PermitToken = InfoToken{Address: pt.Address.Hex(), Name: pt.Name, Version: pt.Version, Decimals: pt.Decimals}
	for i, kp := range d.accounts {
		info.Accounts[i] = InfoAccount{Address: kp.addr.Hex(), PrivateKey: hexutil.Encode(kp.key[:])}
	}
	return info
}

// minLevelHandler drops records below min before passing them on.
type minLevelHandler struct {
	slog.Handler
	min slog.Level
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{h.Handler.WithGroup(name), h.min}
}

func (h minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}
