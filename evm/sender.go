package evm

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/internal/redact"
)

// Backend is the part of an Ethereum JSON-RPC client a [Sender] uses. Both
// *ethclient.Client and the client of go-ethereum's simulated backend
// (ethclient/simulated) implement it.
type Backend interface {
	ethereum.ChainIDReader
	ethereum.GasPricer1559
	ethereum.GasEstimator
	ethereum.TransactionSender
	// PendingNonceAt returns the account nonce including the node's pending
	// (executable) pool transactions.
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	// HeaderByNumber returns a block header; nil means the latest block.
	// The Sender reads the base fee from it.
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	// TransactionReceipt returns the receipt of a mined transaction, or an
	// error wrapping ethereum.NotFound if it is not mined (yet).
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// Errors returned by a [Sender]. Each is wrapped, so test with errors.Is.
var (
	// ErrGasEstimation: eth_estimateGas failed. If the call reverted the
	// error also wraps a *[RevertError] (and [ErrExecutionReverted]).
	ErrGasEstimation = errors.New("evm: gas estimation failed")
	// ErrExecutionReverted: the EVM reverted the call; see [RevertError].
	ErrExecutionReverted = errors.New("execution reverted")
	// ErrGasCapExceeded: the gas estimate is above SenderConfig.GasCap.
	ErrGasCapExceeded = errors.New("evm: gas estimate exceeds the gas cap")
	// ErrFeeCapExceeded: the current base fee is at or above
	// SenderConfig.MaxFeePerGas, so no transaction can be priced under it.
	ErrFeeCapExceeded = errors.New("evm: base fee exceeds the fee cap")
	// ErrTxRejected: the node answered the submission with an error; the
	// transaction is not in its pool and its nonce was released.
	ErrTxRejected = errors.New("evm: transaction rejected by the node")
	// ErrNonceConflict: the nonces the Sender picked kept turning out to be
	// used already (another process sends from the same key).
	ErrNonceConflict = errors.New("evm: nonce already used")
	// ErrSendUnknown: the submission failed in a way that leaves open whether
	// the node accepted the transaction (a transport error or a context
	// ending mid-request), and re-submitting it did not settle the question.
	// The transaction is returned along with this error; it may still be
	// mined, so treat it as pending and watch its hash.
	ErrSendUnknown = errors.New("evm: transaction submission outcome unknown")
	// ErrReceiptTimeout: the transaction was not mined by the deadline. It
	// may still be mined later (x402: settlement pending).
	ErrReceiptTimeout = errors.New("evm: transaction not mined before the deadline")
	// ErrTxReverted: the transaction was mined but failed (status 0).
	ErrTxReverted = errors.New("evm: transaction reverted")
	// ErrChainIDMismatch: SenderConfig.ChainID differs from the backend's.
	ErrChainIDMismatch = errors.New("evm: chain id mismatch")
)

// Defaults for [SenderConfig].
const (
	DefaultGasLimitMultiplier  = 1.2
	DefaultGasCap              = 1_000_000
	DefaultReceiptTimeout      = 30 * time.Second
	DefaultPollInterval        = time.Second
	DefaultResolveTimeout      = 10 * time.Second
	DefaultRebroadcastInterval = 5 * time.Second
)

// maxNonceAttempts bounds how often one Send picks a new nonce after the
// node said the previous one was used.
const maxNonceAttempts = 3

// maxGapFills bounds the filler transactions one failed Send may submit.
const maxGapFills = 16

// SenderConfig configures a [Sender]. Backend and Key are required.
type SenderConfig struct {
	// Backend is the node connection.
	Backend Backend
	// Key signs the transactions; its address pays the gas. The Sender
	// keeps its own copy and never logs or formats it.
	Key *ecdsa.PrivateKey
	// ChainID, if set, must equal the backend's chain id; NewSender fails
	// with ErrChainIDMismatch otherwise. If nil, the backend's is used.
	ChainID *big.Int
	// Logger receives debug records for sent transactions and warnings for
	// nonce repairs. Nil discards.
	Logger *slog.Logger

	// GasLimitMultiplier is the safety margin applied to eth_estimateGas:
	// gas limit = ceil(estimate × multiplier), at most GasCap. It must be
	// ≥ 1; 0 means DefaultGasLimitMultiplier.
	GasLimitMultiplier float64
	// GasCap is the largest gas limit the Sender uses. An estimate above it
	// fails with ErrGasCapExceeded rather than spending more. 0 means
	// DefaultGasCap.
	GasCap uint64

	// MaxFeePerGas, if set, caps the EIP-1559 fee cap (wei per gas). The
	// fee cap is normally 2 × base fee + tip; with MaxFeePerGas it is at most
	// MaxFeePerGas, the tip is lowered to fit, and a base fee at or above
	// MaxFeePerGas fails with ErrFeeCapExceeded.
	MaxFeePerGas *big.Int
	// MaxTipCap, if set, caps the priority fee suggested by the node.
	MaxTipCap *big.Int

	// ReceiptTimeout bounds WaitReceipt; 0 means DefaultReceiptTimeout.
	ReceiptTimeout time.Duration
	// PollInterval is the receipt polling period; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// ResolveTimeout bounds the follow-up work a Send does after its own
	// context may have ended: re-submitting a transaction whose first
	// submission had an unknown outcome, and filling nonce gaps. 0 means
	// DefaultResolveTimeout.
	ResolveTimeout time.Duration
	// DisableGapFill turns off gap filling (see Sender): a released nonce is
	// then only reused by the next Send.
	DisableGapFill bool
	// RebroadcastInterval is how often a transaction whose submission had
	// an unknown outcome (ErrSendUnknown) is submitted again, until it is
	// mined or known to be rejected (see Sender). 0 means
	// DefaultRebroadcastInterval.
	RebroadcastInterval time.Duration
	// Now returns the current time, against which the minute a transaction
	// with an unknown outcome is re-submitted for is measured. If nil,
	// time.Now.
	Now func() time.Time
}

// Sender signs and submits EIP-1559 transactions from one key, with many
// transactions in flight at once. It is safe for concurrent use.
//
// # Gas and fees
//
// Every transaction's gas limit comes from eth_estimateGas times
// GasLimitMultiplier, capped at GasCap. The tip is the node's
// eth_maxPriorityFeePerGas suggestion (capped by MaxTipCap) and the fee cap
// 2 × latest base fee + tip (capped by MaxFeePerGas), which keeps the
// transaction includable through several blocks of full base fee increases.
//
// # Nonces
//
// Nonces come from a local counter, initialised from PendingNonceAt when the
// Sender is created and taken under a mutex, so concurrent Sends get
// distinct consecutive nonces and submit in parallel; the node queues the
// ones that arrive out of order until the gaps below them are filled. The
// counter never asks the node again on the happy path, so its view stays
// ahead of the node's for transactions still in transit.
//
// What happens to a nonce whose transaction does not make it:
//
//   - Failed before leaving the process (context ended, signing error), or
//     refused by the node with a JSON-RPC error (insufficient funds, fee too
//     low, ...): the node does not have the transaction, so the nonce is
//     released. If it was the highest nonce handed out, the counter steps
//     back; otherwise it is kept in a free list that the next Sends draw
//     from, lowest first. Transactions above a released nonce wait in the
//     node's queue until it is used again, so unless DisableGapFill is set
//     the failing Send fills the gap right away with a zero-value transfer
//     from the key to itself, under a fresh context bounded by
//     ResolveTimeout.
//   - "already known": the node has this very transaction; that is success.
//   - "nonce too low" or "replacement transaction underpriced": the nonce is
//     used by another transaction (another process sending from this key,
//     or a transaction from before a restart). The Sender re-reads
//     PendingNonceAt, moves the counter forward past it and retries with a
//     fresh nonce, up to three times (then ErrNonceConflict). It never
//     replaces a pool transaction on purpose.
//   - Outcome unknown (transport error, context ended during the request):
//     the node may have the transaction. The Sender submits the identical
//     signed transaction again under a fresh context bounded by
//     ResolveTimeout, which is idempotent: "already known" or success means
//     accepted, a JSON-RPC error means it was not (release as above), "nonce
//     too low" means mined or superseded (it checks the receipt). If even
//     that fails, the nonce stays taken and Send returns the transaction
//     with ErrSendUnknown. The Sender then keeps the signed transaction and
//     submits it again every RebroadcastInterval, in the background, until
//     the node has it (or it is mined, or its nonce is used by another
//     transaction), for at most a minute; if the node answers it with an
//     error (it does not have it and will not take it), the nonce is
//     released and the gap filled as above. So a transaction lost in
//     transit does not leave a gap that holds back every later one. A
//     JSON-RPC internal error (-32603) or rate-limit error (-32005) counts
//     as an unknown outcome, not a refusal.
//
// Limits: the node's pool limits apply (geth queues at most 64 out-of-order
// transactions per account by default, so bound the number of concurrent
// Sends accordingly), and a node that refuses out-of-order nonces outright
// ("nonce too high", as some L2 sequencers answer) turns concurrent Sends
// into ErrTxRejected: serialise Sends for such a node. If the node loses pool transactions (restart, eviction)
// or a nonce stays taken after ErrSendUnknown while the transaction never
// reached the node, later transactions wait behind the gap; ResetNonce
// re-reads PendingNonceAt and is safe once no transaction is in flight. A
// single Sender per key is assumed; several processes sharing a key only
// work through the "nonce too low" recovery above, at a cost.
type Sender struct {
	backend Backend
	key     *ecdsa.PrivateKey
	from    common.Address
	chainID *big.Int
	signer  types.Signer
	log     *slog.Logger

	gasMultiplier  float64
	gasCap         uint64
	maxFeePerGas   *big.Int
	maxTipCap      *big.Int
	receiptTimeout time.Duration
	pollInterval   time.Duration
	resolveTimeout time.Duration
	gapFill        bool

	nonces nonceManager

	rebroadcastInterval time.Duration
	now                 func() time.Time
	unknownMu           sync.Mutex
	unknown             map[common.Hash]unknownTx // submitted with an unknown outcome
	watching            bool                      // a goroutine resolves unknown
}

// NewSender checks cfg, reads the chain id and the key's pending nonce from
// the backend and returns a ready Sender.
func NewSender(ctx context.Context, cfg SenderConfig) (*Sender, error) {
	if cfg.Backend == nil {
		return nil, errors.New("evm: SenderConfig.Backend is nil")
	}
	key, err := copySecp256k1Key(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("evm: SenderConfig.Key: %w", err)
	}
	if m := cfg.GasLimitMultiplier; m != 0 && (m < 1 || math.IsNaN(m) || math.IsInf(m, 0)) {
		return nil, fmt.Errorf("evm: SenderConfig.GasLimitMultiplier %v is below 1", m)
	}
	if cfg.MaxFeePerGas != nil && cfg.MaxFeePerGas.Sign() <= 0 {
		return nil, errors.New("evm: SenderConfig.MaxFeePerGas must be positive")
	}
	if cfg.MaxTipCap != nil && cfg.MaxTipCap.Sign() < 0 {
		return nil, errors.New("evm: SenderConfig.MaxTipCap is negative")
	}
	if cfg.ReceiptTimeout < 0 || cfg.PollInterval < 0 || cfg.ResolveTimeout < 0 || cfg.RebroadcastInterval < 0 {
		return nil, errors.New("evm: SenderConfig durations must not be negative")
	}
	s := &Sender{
		backend:        cfg.Backend,
		key:            key,
		from:           crypto.PubkeyToAddress(key.PublicKey),
		log:            cfg.Logger,
		gasMultiplier:  cmp.Or(cfg.GasLimitMultiplier, DefaultGasLimitMultiplier),
		gasCap:         cmp.Or(cfg.GasCap, DefaultGasCap),
		receiptTimeout: cmp.Or(cfg.ReceiptTimeout, DefaultReceiptTimeout),
		pollInterval:   cmp.Or(cfg.PollInterval, DefaultPollInterval),
		resolveTimeout: cmp.Or(cfg.ResolveTimeout, DefaultResolveTimeout),
		gapFill:        !cfg.DisableGapFill,

		rebroadcastInterval: cmp.Or(cfg.RebroadcastInterval, DefaultRebroadcastInterval),
		now:                 cfg.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.MaxFeePerGas != nil {
		s.maxFeePerGas = new(big.Int).Set(cfg.MaxFeePerGas)
	}
	if cfg.MaxTipCap != nil {
		s.maxTipCap = new(big.Int).Set(cfg.MaxTipCap)
	}
	// Transport errors quote the RPC URL, and providers put keys in it.
	s.log = redact.Logger(s.log)
	id, err := cfg.Backend.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("evm: reading chain id: %w", err)
	}
	if cfg.ChainID != nil && cfg.ChainID.Cmp(id) != 0 {
		return nil, fmt.Errorf("%w: configured %s, backend %s", ErrChainIDMismatch, cfg.ChainID, id)
	}
	s.chainID = id
	s.signer = types.LatestSignerForChainID(id)
	n, err := cfg.Backend.PendingNonceAt(ctx, s.from)
	if err != nil {
		return nil, fmt.Errorf("evm: reading pending nonce of %s: %w", s.from, err)
	}
	s.nonces.reset(n)
	return s, nil
}

// Address returns the address transactions are sent from.
func (s *Sender) Address() common.Address { return s.from }

// ChainID returns a copy of the chain id transactions are signed for.
func (s *Sender) ChainID() *big.Int { return new(big.Int).Set(s.chainID) }

// Send submits a transaction calling to with data and no value. See
// [Sender.SendValue].
func (s *Sender) Send(ctx context.Context, to common.Address, data []byte) (*types.Transaction, error) {
	return s.SendValue(ctx, to, nil, data)
}

// SendValue estimates, prices, signs and submits a transaction to to,
// carrying value wei (nil means 0) and data, and returns it once the node
// has accepted it into its pool. It does not wait for it to be mined; see
// [Sender.WaitReceipt].
//
// A revert during gas estimation returns an error wrapping [ErrGasEstimation]
// and a *[RevertError]; nothing is sent and no nonce is used. A rejection by
// the node wraps [ErrTxRejected]. With [ErrSendUnknown] the transaction is
// returned too. The Sender's nonce handling is described on [Sender].
func (s *Sender) SendValue(ctx context.Context, to common.Address, value *big.Int, data []byte) (*types.Transaction, error) {
	tx, err := s.send(ctx, to, value, data, nil, nil)
	return tx, redact.Wrap(err)
}

// BeforeBroadcast is called with a signed transaction just before it is
// submitted to the node, and again for every re-signed transaction (a new
// nonce gives a new hash). If it returns an error the transaction is not
// submitted, its nonce is released, and the Send fails with that error.
// Facilitators use it to record the transaction durably before funds can
// move.
type BeforeBroadcast func(ctx context.Context, tx *types.Transaction) error

// SendWithHook is [Sender.Send] with a [BeforeBroadcast] hook.
func (s *Sender) SendWithHook(ctx context.Context, to common.Address, data []byte, hook BeforeBroadcast) (*types.Transaction, error) {
	tx, err := s.send(ctx, to, nil, data, hook, nil)
	// Transport errors quote the RPC URL, and providers put keys in it.
	return tx, redact.Wrap(err)
}

// send estimates gas with estimateData (nil means data: a batch is
// estimated with every call required to succeed, then sent with each call
// allowed to fail on its own), then prices, signs and submits.
func (s *Sender) send(ctx context.Context, to common.Address, value *big.Int, data []byte, hook BeforeBroadcast, estimateData []byte) (*types.Transaction, error) {
	if value == nil {
		value = new(big.Int)
	} else if value.Sign() < 0 {
		return nil, errors.New("evm: negative transaction value")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if estimateData == nil {
		estimateData = data
	}
	gas, err := s.estimateGas(ctx, to, value, estimateData)
	if err != nil {
		return nil, err
	}
	tip, feeCap, err := s.fees(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		nonce := s.nonces.acquire()
		tx, err := s.submit(ctx, nonce, hook, &types.DynamicFeeTx{
			ChainID:   s.chainID,
			Nonce:     nonce,
			GasTipCap: tip,
			GasFeeCap: feeCap,
			Gas:       gas,
			To:        &to,
			Value:     value,
			Data:      data,
		})
		if errors.Is(err, errNonceTaken) {
			if attempt < maxNonceAttempts {
				continue
			}
			return nil, fmt.Errorf("%w: %d attempts: %w", ErrNonceConflict, attempt, err)
		}
		return tx, err
	}
}

// errNonceTaken is submit's signal that the nonce is used by another
// transaction; SendValue retries with a fresh one.
var errNonceTaken = errors.New("nonce taken by another transaction")

// submit signs txdata (whose Nonce is nonce, just acquired) and submits it,
// keeping the nonce manager consistent with the outcome.
func (s *Sender) submit(ctx context.Context, nonce uint64, hook BeforeBroadcast, txdata *types.DynamicFeeTx) (*types.Transaction, error) {
	tx, err := types.SignNewTx(s.key, s.signer, txdata)
	if err != nil {
		s.releaseNonce(ctx, nonce, "signing failed")
		return nil, fmt.Errorf("evm: signing transaction: %w", err)
	}
	if err := ctx.Err(); err != nil {
		s.releaseNonce(ctx, nonce, "context done before submission")
		return nil, err
	}
	if hook != nil {
		if err := hook(ctx, tx); err != nil {
			s.releaseNonce(ctx, nonce, "before-broadcast hook failed")
			return nil, fmt.Errorf("evm: before broadcast: %w", err)
		}
	}
	outcome, err := s.broadcast(ctx, tx)
	switch outcome {
	case sendAccepted:
		s.log.Debug("evm: transaction sent", "hash", tx.Hash(), "nonce", nonce, "to", tx.To(),
			"gas", tx.Gas(), "tipCap", tx.GasTipCap(), "feeCap", tx.GasFeeCap())
		return tx, nil
	case sendRejected:
		s.releaseNonce(ctx, nonce, "rejected by the node")
		return nil, fmt.Errorf("%w: %w", ErrTxRejected, err)
	case sendNonceTaken:
		s.log.Warn("evm: nonce already used, resynchronising", "nonce", nonce, "from", s.from, "err", err)
		if rerr := s.resync(ctx); rerr != nil {
			return nil, fmt.Errorf("%w: %w (resync: %w)", ErrNonceConflict, err, rerr)
		}
		return nil, fmt.Errorf("%w: %w", errNonceTaken, err)
	default:
		s.log.Warn("evm: transaction submission outcome unknown; will submit it again", "hash", tx.Hash(), "nonce", nonce, "err", err)
		s.watchUnknown(tx)
		return tx, fmt.Errorf("%w: %s: %w", ErrSendUnknown, tx.Hash(), err)
	}
}

// WaitReceipt polls for the receipt of txHash every PollInterval until it is
// mined, ctx ends or ReceiptTimeout passes.
//
// If the transaction is not mined in time, or ctx's deadline passes first,
// the error wraps [ErrReceiptTimeout] (and the last polling error, if
// polling failed): the transaction may still be mined. If ctx is canceled,
// the error wraps context.Canceled and not ErrReceiptTimeout. Polling errors
// other than "not found" are retried until the deadline. A mined but failed
// transaction returns its receipt together with an error wrapping
// [ErrTxReverted].
func (s *Sender) WaitReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error) {
	r, err := s.waitReceipt(ctx, txHash)
	return r, redact.Wrap(err)
}

func (s *Sender) waitReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, s.receiptTimeout)
	defer cancel()
	ticker := time.NewTicker(s.pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		r, err := s.backend.TransactionReceipt(ctx, txHash)
		switch {
		case err == nil && r != nil:
			if r.Status != types.ReceiptStatusSuccessful {
				return r, fmt.Errorf("%w: %s in block %s", ErrTxReverted, txHash, r.BlockNumber)
			}
			return r, nil
		case err != nil && !errors.Is(err, ethereum.NotFound) && ctx.Err() == nil:
			lastErr = err
			s.log.Debug("evm: polling receipt", "hash", txHash, "err", err)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, fmt.Errorf("evm: waiting for receipt of %s: %w", txHash, ctx.Err())
			}
			if lastErr != nil {
				return nil, fmt.Errorf("%w: %s (last polling error: %w)", ErrReceiptTimeout, txHash, lastErr)
			}
			return nil, fmt.Errorf("%w: %s", ErrReceiptTimeout, txHash)
		case <-ticker.C:
		}
	}
}
