package devnet

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/params"
)

// Defaults used for zero Config fields.
const (
	DefaultChainID  = 31337
	DefaultAccounts = 10
	DefaultName     = "USDC"
	DefaultVersion  = "2"
	DefaultSymbol   = "USDC"
	// TokenDecimals is the test token's fixed number of decimals.
	TokenDecimals = 6
)

// DefaultETHBalance is 10,000 ETH in wei.
func DefaultETHBalance() *big.Int {
	return new(big.Int).Mul(big.NewInt(10_000), big.NewInt(params.Ether))
}

// DefaultTokenBalance is 1,000,000 USDC in atomic units (1e12).
func DefaultTokenBalance() *big.Int { return big.NewInt(1_000_000_000_000) }

// Config configures a devnet. The zero value is a valid configuration: every
// zero field takes the default documented on it.
type Config struct {
	// ChainID is the EIP-155 chain id. 0 means 31337.
	ChainID uint64

	// Accounts is the number of funded accounts, at most MaxAccounts.
	// 0 means 10.
	Accounts int

	// BlockTime, when positive, also mines a block on this interval (at least
	// one second, as block timestamps have one-second resolution). 0 means a
	// block is mined only when a transaction arrives.
	BlockTime time.Duration

	// TimestampLead is how far block timestamps may run ahead of the wall
	// clock when blocks are mined faster than one per second (timestamps
	// have one-second resolution and must strictly increase); past it, each
	// block waits for the clock. 0 means MaxTimestampLead (10 s), which
	// keeps EIP-3009 validity windows meaningful. A load test that must not
	// be bounded by one block per second sets it higher, and signs
	// authorizations valid for longer than the lead.
	TimestampLead time.Duration

	// NoAutoMine turns off mining on transaction arrival: blocks are mined
	// only on the BlockTime interval, which must then be positive.
	// Transactions wait in the pending pool until the next tick, as on a
	// real chain (useful to test what happens between broadcast and
	// inclusion).
	NoAutoMine bool

	// Name and Version are the token's ERC-20 name and EIP-712 domain name and
	// version; Symbol is its ERC-20 symbol. Empty means "USDC", "2", "USDC"
	// (the EIP-712 domain of USDC on Base Sepolia).
	Name, Version, Symbol string

	// ETHBalance is the genesis balance of each funded account in wei.
	// nil means 10,000 ETH.
	ETHBalance *big.Int

	// TokenBalance is the amount of test token minted to each funded account
	// at start, in atomic units. nil means 1,000,000 USDC (1e12); zero mints
	// nothing.
	TokenBalance *big.Int

	// RPCAddr is the host:port the standard Ethereum JSON-RPC HTTP server
	// listens on, e.g. "127.0.0.1:8545", or "127.0.0.1:0" for a free port.
	// Empty means no server (in-process use through Client only). The host
	// must be a loopback address or "localhost" unless AllowNonLoopback is
	// set.
	RPCAddr string

	// AllowNonLoopback permits an RPCAddr that is reachable from other
	// machines. The devnet's keys are public: only set this on a private
	// network.
	AllowNonLoopback bool

	// Logger receives the devnet's logs. nil discards them.
	Logger *slog.Logger
}

// ErrInvalidConfig is wrapped by every error Start returns for a bad Config.
var ErrInvalidConfig = errors.New("devnet: invalid config")

// withDefaults returns cfg with defaults filled in, or an error if a field is
// invalid. It never modifies the caller's big.Int values.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.ChainID == 0 {
		cfg.ChainID = DefaultChainID
	}
	if cfg.Accounts == 0 {
		cfg.Accounts = DefaultAccounts
	}
	if cfg.Accounts < 0 || cfg.Accounts > MaxAccounts {
		return cfg, fmt.Errorf("%w: Accounts must be between 1 and %d, got %d", ErrInvalidConfig, MaxAccounts, cfg.Accounts)
	}
	if cfg.BlockTime < 0 || (cfg.BlockTime > 0 && cfg.BlockTime < time.Second) {
		return cfg, fmt.Errorf("%w: BlockTime must be 0 or at least 1s, got %v", ErrInvalidConfig, cfg.BlockTime)
	}
	if cfg.TimestampLead == 0 {
		cfg.TimestampLead = MaxTimestampLead
	}
	if cfg.TimestampLead < time.Second {
		return cfg, fmt.Errorf("%w: TimestampLead must be 0 or at least 1s, got %v", ErrInvalidConfig, cfg.TimestampLead)
	}
	if cfg.NoAutoMine && cfg.BlockTime == 0 {
		return cfg, fmt.Errorf("%w: NoAutoMine needs a positive BlockTime (blocks would never be mined)", ErrInvalidConfig)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Symbol == "" {
		cfg.Symbol = DefaultSymbol
	}
	if cfg.ETHBalance == nil {
		cfg.ETHBalance = DefaultETHBalance()
	} else {
		cfg.ETHBalance = new(big.Int).Set(cfg.ETHBalance)
	}
	if cfg.TokenBalance == nil {
		cfg.TokenBalance = DefaultTokenBalance()
	} else {
		cfg.TokenBalance = new(big.Int).Set(cfg.TokenBalance)
	}
	if cfg.ETHBalance.Sign() < 0 || cfg.TokenBalance.Sign() < 0 {
		return cfg, fmt.Errorf("%w: ETHBalance and TokenBalance must not be negative", ErrInvalidConfig)
	}
	if cfg.RPCAddr != "" {
		if _, _, err := splitRPCAddr(cfg.RPCAddr, cfg.AllowNonLoopback); err != nil {
			return cfg, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return cfg, nil
}

// splitRPCAddr validates addr and returns its host and port.
func splitRPCAddr(addr string, allowNonLoopback bool) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w: RPCAddr %q: %w", ErrInvalidConfig, addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%w: RPCAddr %q: bad port: %w", ErrInvalidConfig, addr, err)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%w: RPCAddr %q needs an explicit host, e.g. 127.0.0.1:%s", ErrInvalidConfig, addr, portStr)
	}
	if !allowNonLoopback && !isLoopbackHost(host) {
		return "", 0, fmt.Errorf("%w: RPCAddr %q is not a loopback address; the devnet keys are public, set AllowNonLoopback to expose it anyway", ErrInvalidConfig, addr)
	}
	return host, int(port), nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
