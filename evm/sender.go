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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
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

// RevertError is a revert reported by the node during gas estimation. The
// scheme maps it to an x402 reason code, typically from Reason (USDC reverts
// with messages such as "FiatTokenV2: invalid signature").
type RevertError struct {
	// Reason is the decoded Error(string) message or the description of a
	// Panic(uint256) code; if the node sent no data, the text after
	// "execution reverted: " in its message, if any. Empty for custom
	// errors and bare reverts.
	Reason string
	// Data is the raw revert data (selector and arguments) when the node
	// returned it; custom Solidity errors can be decoded from it.
	Data []byte
	// Err is the error returned by the backend.
	Err error
}

// Error returns "execution reverted" with the reason or the data.
func (e *RevertError) Error() string {
	switch {
	case e.Reason != "":
		return "execution reverted: " + e.Reason
	case len(e.Data) > 0:
		return "execution reverted: data " + hexutil.Encode(e.Data)
	}
	return "execution reverted"
}

// Unwrap returns [ErrExecutionReverted] and the backend error.
func (e *RevertError) Unwrap() []error { return []error{ErrExecutionReverted, e.Err} }

// Selector returns the first four bytes of Data, the error selector, if
// there are at least four.
func (e *RevertError) Selector() ([4]byte, bool) {
	if len(e.Data) < 4 {
		return [4]byte{}, false
	}
	return [4]byte(e.Data[:4]), true
}

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
	unknownMu           sync.Mutex
	unknown             map[common.Hash]unknownTx // submitted with an unknown outcome
	watching            bool                      // a goroutine resolves unknown
}

// unknownTx is a transaction whose submission had an unknown outcome, and
// since when.
type unknownTx struct {
	tx    *types.Transaction
	since time.Time
}

// rebroadcastFor bounds how long a transaction with an unknown outcome is
// re-submitted. Past it, a facilitator may have released the settlement
// (it treats a transaction the node does not know, long after broadcast,
// as dropped), and funds must not move after that.
const rebroadcastFor = time.Minute

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
	}
	if cfg.MaxFeePerGas != nil {
		s.maxFeePerGas = new(big.Int).Set(cfg.MaxFeePerGas)
	}
	if cfg.MaxTipCap != nil {
		s.maxTipCap = new(big.Int).Set(cfg.MaxTipCap)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
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
	return s.send(ctx, to, value, data, nil, nil)
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
	return s.send(ctx, to, nil, data, hook, nil)
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

// watchUnknown keeps tx, whose submission had an unknown outcome, to be
// submitted again until its fate is known.
func (s *Sender) watchUnknown(tx *types.Transaction) {
	s.unknownMu.Lock()
	defer s.unknownMu.Unlock()
	if s.unknown == nil {
		s.unknown = map[common.Hash]unknownTx{}
	}
	if _, ok := s.unknown[tx.Hash()]; !ok {
		s.unknown[tx.Hash()] = unknownTx{tx: tx, since: time.Now()}
	}
	if !s.watching {
		s.watching = true
		go s.resolveUnknown()
	}
}

// resolveUnknown re-submits the unknown-outcome transactions every
// rebroadcastInterval until none is left.
func (s *Sender) resolveUnknown() {
	t := time.NewTicker(s.rebroadcastInterval)
	defer t.Stop()
	for range t.C {
		s.unknownMu.Lock()
		txs := make([]unknownTx, 0, len(s.unknown))
		for _, u := range s.unknown {
			txs = append(txs, u)
		}
		if len(txs) == 0 {
			s.watching = false
			s.unknownMu.Unlock()
			return
		}
		s.unknownMu.Unlock()
		slices.SortFunc(txs, func(a, b unknownTx) int { return cmp.Compare(a.tx.Nonce(), b.tx.Nonce()) })
		for _, u := range txs {
			done := s.resolveOne(u.tx)
			if !done && time.Since(u.since) > rebroadcastFor {
				s.log.Error("evm: giving up re-submitting a transaction whose outcome is unknown; its nonce stays taken (see Sender.ResetNonce)",
					"hash", u.tx.Hash(), "nonce", u.tx.Nonce(), "after", rebroadcastFor)
				done = true
			}
			if done {
				s.unknownMu.Lock()
				delete(s.unknown, u.tx.Hash())
				s.unknownMu.Unlock()
			}
		}
	}
}

// resolveOne submits tx again and reports whether its fate is settled: mined,
// superseded by another transaction with its nonce, or refused by the node
// (then its nonce is released and the gap filled).
func (s *Sender) resolveOne(tx *types.Transaction) (settled bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.resolveTimeout)
	defer cancel()
	if r, err := s.backend.TransactionReceipt(ctx, tx.Hash()); err == nil && r != nil {
		return true
	}
	err := s.backend.SendTransaction(ctx, tx)
	switch classifySend(err) {
	case sendAccepted:
		// The node has it now: from here it is an ordinary pending
		// transaction.
		return true
	case sendNonceTaken:
		// Mined since the receipt check, or its nonce went to another
		// transaction: either way it can never be mined again.
		s.log.Warn("evm: unknown-outcome transaction resolved: nonce used", "hash", tx.Hash(), "nonce", tx.Nonce())
		return true
	case sendRejected:
		s.log.Warn("evm: unknown-outcome transaction refused on re-submission; releasing its nonce", "hash", tx.Hash(), "nonce", tx.Nonce(), "err", err)
		s.releaseNonce(ctx, tx.Nonce(), "unknown-outcome transaction refused")
		return true
	}
	s.log.Debug("evm: re-submission outcome still unknown", "hash", tx.Hash(), "err", err)
	return false
}

type sendOutcome int

const (
	sendUnknown    sendOutcome = iota // the node may or may not have the transaction
	sendAccepted                      // the node has the transaction
	sendRejected                      // the node answered with an error: it does not have it
	sendNonceTaken                    // the nonce is used by another transaction
)

// rpcCodeError is the JSON-RPC error interface of go-ethereum's rpc package:
// an error value the node answered with, as opposed to a transport failure.
type rpcCodeError interface {
	error
	ErrorCode() int
}

// rpcDataError is go-ethereum's rpc.DataError.
type rpcDataError interface {
	error
	ErrorData() any
}

func classifySend(err error) sendOutcome {
	if err == nil {
		return sendAccepted
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "already known"), strings.Contains(msg, "alreadyknown"),
		strings.Contains(msg, "already imported"), containsPhrase(msg, "known transaction"):
		return sendAccepted
	case strings.Contains(msg, "nonce too low"), strings.Contains(msg, "replacement transaction underpriced"),
		strings.Contains(msg, "oldnonce"):
		return sendNonceTaken
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return sendUnknown
	}
	var rpcErr rpcCodeError
	if errors.As(err, &rpcErr) {
		switch rpcErr.ErrorCode() {
		case -32603, -32005:
			// Internal error, or a provider's rate limit: the answer says
			// nothing about whether the transaction reached the pool.
			return sendUnknown
		}
		return sendRejected
	}
	return sendUnknown
}

// containsPhrase reports whether phrase occurs in s at a word start, so that
// "known transaction" does not match "unknown transaction type".
func containsPhrase(s, phrase string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], phrase)
		if i < 0 {
			return false
		}
		i += off
		if i == 0 || !('a' <= s[i-1] && s[i-1] <= 'z') {
			return true
		}
		off = i + 1
	}
}

// broadcast submits tx and, if the outcome is unknown, re-submits the same
// signed transaction once under a detached context to find out.
func (s *Sender) broadcast(ctx context.Context, tx *types.Transaction) (sendOutcome, error) {
	err := s.backend.SendTransaction(ctx, tx)
	outcome := classifySend(err)
	if outcome != sendUnknown {
		return outcome, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resolveTimeout)
	defer cancel()
	err2 := s.backend.SendTransaction(rctx, tx)
	switch classifySend(err2) {
	case sendAccepted:
		return sendAccepted, nil
	case sendRejected:
		return sendRejected, err2
	case sendNonceTaken:
		// Mined since the first attempt, or the nonce went to another
		// transaction: the receipt tells.
		if r, rerr := s.backend.TransactionReceipt(rctx, tx.Hash()); rerr == nil && r != nil {
			return sendAccepted, nil
		}
		// The first submission may have been this transaction: re-signing
		// another with a new nonce could send a second one. Leave the
		// outcome unknown; the caller reports it as pending.
		return sendUnknown, errors.Join(err, err2)
	}
	return sendUnknown, errors.Join(err, err2)
}

// releaseNonce gives back a nonce whose transaction the node does not have,
// and fills the gap it leaves if higher nonces are out.
func (s *Sender) releaseNonce(ctx context.Context, nonce uint64, why string) {
	gap := s.nonces.release(nonce)
	s.log.Debug("evm: nonce released", "nonce", nonce, "reason", why, "gap", gap)
	if gap && s.gapFill {
		s.fillGaps(ctx)
	}
}

// fillGaps submits zero-value self-transfers on released nonces that lie
// below nonces already handed out, so that the transactions above them are
// not held back until the next Send.
func (s *Sender) fillGaps(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resolveTimeout)
	defer cancel()
	for range maxGapFills {
		nonce, ok := s.nonces.takeReleased()
		if !ok {
			return
		}
		err := s.fill(ctx, nonce)
		if err != nil {
			s.log.Warn("evm: could not fill nonce gap", "nonce", nonce, "from", s.from, "err", err)
			return
		}
	}
}

// fill submits one filler transaction on nonce, releasing it again (without
// filling) if it does not get in.
func (s *Sender) fill(ctx context.Context, nonce uint64) error {
	gas, err := s.estimateGas(ctx, s.from, new(big.Int), nil)
	var tip, feeCap *big.Int
	if err == nil {
		tip, feeCap, err = s.fees(ctx)
	}
	var tx *types.Transaction
	if err == nil {
		tx, err = types.SignNewTx(s.key, s.signer, &types.DynamicFeeTx{
			ChainID: s.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
			Gas: gas, To: &s.from, Value: new(big.Int),
		})
	}
	if err != nil {
		s.nonces.release(nonce)
		return err
	}
	outcome, err := s.broadcast(ctx, tx)
	switch outcome {
	case sendAccepted:
		s.log.Warn("evm: filled nonce gap", "nonce", nonce, "hash", tx.Hash())
		return nil
	case sendNonceTaken:
		return nil // the nonce is used, so there is no gap
	case sendRejected:
		s.nonces.release(nonce)
		return err
	}
	// Lost in transit, maybe: re-submit it like any other, so the gap it
	// fills does not stay open.
	s.watchUnknown(tx)
	return fmt.Errorf("%w: %w", ErrSendUnknown, err)
}

// resync moves the nonce counter forward to the node's pending nonce.
func (s *Sender) resync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resolveTimeout)
	defer cancel()
	n, err := s.backend.PendingNonceAt(ctx, s.from)
	if err != nil {
		return err
	}
	s.nonces.advance(n)
	return nil
}

// ResetNonce sets the nonce counter to the node's pending nonce and forgets
// released nonces. Use it after the node lost pool transactions, and only
// while no Send is in progress and no sent transaction is unmined: it may
// move the counter backwards.
func (s *Sender) ResetNonce(ctx context.Context) error {
	n, err := s.backend.PendingNonceAt(ctx, s.from)
	if err != nil {
		return fmt.Errorf("evm: reading pending nonce of %s: %w", s.from, err)
	}
	s.nonces.reset(n)
	return nil
}

// estimateGas returns the gas limit for the call: the estimate with the
// safety margin, capped.
func (s *Sender) estimateGas(ctx context.Context, to common.Address, value *big.Int, data []byte) (uint64, error) {
	est, err := s.backend.EstimateGas(ctx, ethereum.CallMsg{From: s.from, To: &to, Value: value, Data: data})
	if err != nil {
		if rev := revertFromError(err); rev != nil {
			return 0, fmt.Errorf("%w: %w", ErrGasEstimation, rev)
		}
		return 0, fmt.Errorf("%w: %w", ErrGasEstimation, err)
	}
	if est > s.gasCap {
		return 0, fmt.Errorf("%w: estimate %d, cap %d", ErrGasCapExceeded, est, s.gasCap)
	}
	limit := math.Ceil(float64(est) * s.gasMultiplier)
	if limit >= float64(s.gasCap) {
		return s.gasCap, nil
	}
	return uint64(limit), nil
}

// revertFromError extracts a revert from an eth_estimateGas or eth_call
// error, or returns nil if err is nil or not one.
func revertFromError(err error) *RevertError {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var codeErr rpcCodeError
	isRevert := strings.Contains(strings.ToLower(msg), "execution reverted") ||
		(errors.As(err, &codeErr) && codeErr.ErrorCode() == 3)
	if !isRevert {
		return nil
	}
	rev := &RevertError{Err: err}
	var dataErr rpcDataError
	if errors.As(err, &dataErr) {
		if s, ok := dataErr.ErrorData().(string); ok {
			if b, derr := hexutil.Decode(s); derr == nil {
				rev.Data = b
			}
		}
	}
	if reason, uerr := abi.UnpackRevert(rev.Data); uerr == nil {
		rev.Reason = reason
	} else if len(rev.Data) == 0 {
		const prefix = "execution reverted: "
		if i := strings.Index(strings.ToLower(msg), prefix); i >= 0 {
			rev.Reason = msg[i+len(prefix):]
		}
	}
	return rev
}

// fees returns the tip and fee cap for a transaction sent now.
func (s *Sender) fees(ctx context.Context) (tip, feeCap *big.Int, err error) {
	tip, err = s.backend.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("evm: suggesting gas tip: %w", err)
	}
	head, err := s.backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("evm: reading latest header: %w", err)
	}
	if head.BaseFee == nil {
		return nil, nil, errors.New("evm: latest block has no base fee (chain without EIP-1559)")
	}
	tip = new(big.Int).Set(tip)
	if tip.Sign() < 0 {
		tip.SetInt64(0)
	}
	if s.maxTipCap != nil && tip.Cmp(s.maxTipCap) > 0 {
		tip.Set(s.maxTipCap)
	}
	base := head.BaseFee
	feeCap = new(big.Int).Lsh(base, 1)
	feeCap.Add(feeCap, tip)
	if limit := s.maxFeePerGas; limit != nil {
		if base.Cmp(limit) >= 0 {
			return nil, nil, fmt.Errorf("%w: base fee %s wei, cap %s wei", ErrFeeCapExceeded, base, limit)
		}
		if room := new(big.Int).Sub(limit, base); tip.Cmp(room) > 0 {
			tip = room
		}
		if feeCap.Cmp(limit) > 0 {
			feeCap.Set(limit)
		}
	}
	return tip, feeCap, nil
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

// nonceManager hands out the nonces of one account. All methods are safe for
// concurrent use; none does I/O.
type nonceManager struct {
	mu       sync.Mutex
	next     uint64   // the lowest nonce never handed out
	released []uint64 // given back nonces, ascending, each < next
}

// reset sets the counter to n and forgets released nonces.
func (m *nonceManager) reset(n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next = n
	m.released = m.released[:0]
}

// acquire returns the lowest released nonce, or else the next fresh one.
func (m *nonceManager) acquire() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.released) > 0 {
		n := m.released[0]
		m.released = slices.Delete(m.released, 0, 1)
		return n
	}
	n := m.next
	m.next++
	return n
}

// takeReleased removes and returns the lowest released nonce, if any.
func (m *nonceManager) takeReleased() (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.released) == 0 {
		return 0, false
	}
	n := m.released[0]
	m.released = slices.Delete(m.released, 0, 1)
	return n, true
}

// release gives back n, which the node does not have. It reports whether
// released nonces remain below nonces that are handed out (a gap).
func (m *nonceManager) release(n uint64) (gap bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n >= m.next {
		return len(m.released) > 0 // stale: the counter was reset below n
	}
	i, found := slices.BinarySearch(m.released, n)
	if !found {
		m.released = slices.Insert(m.released, i, n)
	}
	// Released nonces at the top of the range are simply not handed out.
	for len(m.released) > 0 && m.released[len(m.released)-1] == m.next-1 {
		m.released = m.released[:len(m.released)-1]
		m.next--
	}
	return len(m.released) > 0
}

// advance moves the counter forward to at least n, the node's pending nonce,
// and drops released nonces below n, which are used.
func (m *nonceManager) advance(n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n > m.next {
		m.next = n
	}
	i, _ := slices.BinarySearch(m.released, n)
	m.released = slices.Delete(m.released, 0, i)
}

// state returns the counter and a copy of the released list (for tests).
func (m *nonceManager) state() (next uint64, released []uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next, slices.Clone(m.released)
}
