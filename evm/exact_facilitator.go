package evm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402"
)

// ChainBackend is what an [ExactFacilitator] needs from a chain: the
// [Backend] a [Sender] uses plus eth_call. *ethclient.Client and the
// simulated backend's client implement it.
type ChainBackend interface {
	Backend
	ethereum.ContractCaller
	ethereum.LogFilterer
	// TransactionByHash reports whether a transaction is known and pending.
	TransactionByHash(ctx context.Context, hash common.Hash) (tx *types.Transaction, isPending bool, err error)
}

// DefaultValidBeforeMargin is how long an authorization must still be valid
// when it is verified: about one block, as in the reference implementation.
const DefaultValidBeforeMargin = 6 * time.Second

// ExactFacilitatorConfig configures an [ExactFacilitator] for one chain.
// Network and Backend are required.
type ExactFacilitatorConfig struct {
	// Network is the chain served, "eip155:<id>". It must match the
	// backend's chain id.
	Network x402.Network
	// Backend reads chain state and, through Sender, sends settlements.
	Backend ChainBackend
	// Sender sends settlement transactions from the facilitator's key. If
	// nil, the facilitator can verify but Settle returns an error.
	Sender *Sender
	// Assets, if not empty, are the only assets accepted; their EIP-712
	// name and version are checked against requirements.extra before any
	// chain call. If empty, any contract that behaves as an EIP-3009 token
	// in the checks is accepted.
	Assets []Asset
	// SkipSimulation turns off the eth_call simulation of the transfer in
	// Verify. Balance and nonce are still checked on chain.
	SkipSimulation bool
	// ValidBeforeMargin is the least remaining validity accepted. If zero,
	// DefaultValidBeforeMargin.
	ValidBeforeMargin time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Logger receives settlement events. If nil, logs are discarded.
	Logger *slog.Logger
	// RPC sends the chain reads of Verify and Settle (authorizationState,
	// balanceOf, the simulated transfer) as JSON-RPC batch requests,
	// coalescing those of concurrent payments. If nil, the Backend's own
	// JSON-RPC client is used when it has one (an *ethclient.Client does);
	// otherwise the reads go one by one through Backend.
	RPC BatchCaller
	// ReadBatchSize bounds the eth_calls in one batch request (some RPC
	// providers limit batch sizes). If zero, DefaultReadBatchSize.
	ReadBatchSize int
	// ReadMulticall is the Multicall3 through which the reads of a batch
	// request (see RPC) become one aggregate3 eth_call per token, with each
	// verdict what it would be alone (see [ExactFacilitator]). If zero,
	// [Multicall3Address] when the chain has Multicall3 there (checked by
	// NewExactFacilitator); another address must answer as Multicall3.
	ReadMulticall common.Address
	// NoReadMulticall makes every read its own eth_call.
	NoReadMulticall bool
	// Permit2 configures "exact" payments over Permit2
	// (assetTransferMethod "permit2"); the zero value accepts them.
	Permit2 Permit2Config
	// Batch, when its Multicall address is set, settles the
	// authorizations that queue up together in one transaction (see
	// [BatchConfig]). The zero value sends one transaction per payment.
	Batch BatchConfig
	// ERC6492Factories are the wallet factories whose ERC-6492
	// counterfactual signatures are accepted: the deployment is simulated
	// at verify and sent, with the transfer, at settlement. Empty refuses
	// every undeployed wallet's signature (eip6492_factory_not_allowed);
	// deployed EIP-1271 wallets are accepted either way. Deploying and
	// simulating need a Multicall3 (ReadMulticall, Batch.Multicall or the
	// canonical one).
	ERC6492Factories []common.Address
}

// ExactFacilitator is the facilitator's side of the "exact" scheme on one
// EVM chain: it verifies EIP-3009 authorizations and settles them with
// transferWithAuthorization. It implements [x402.SchemeFacilitator].
//
// Verify checks, in the reference implementation's order and with its reason
// codes: scheme, network, EIP-712 domain present, recipient, validBefore,
// validAfter, value, signature (EOA recovery; high-s and bad v rejected);
// then chain state: authorizationState, balance, and an eth_call simulation
// (read together, in one JSON-RPC batch where the backend allows). The reads
// of concurrent payments are coalesced, through Multicall3 where the chain
// has it, and still each payment is judged against the chain state as it
// would be alone: reads run before any simulated transfer, and the
// simulations of one payer never share an aggregate3 call.
type ExactFacilitator struct {
	cfg     ExactFacilitatorConfig
	chainID uint64
	domains *DomainCache
	log     *slog.Logger
	settler *batcher // sends settlements, alone or in batches
	reads   *chainReader
	extras  extraCache
	// walletMulticall deploys ERC-6492 wallets (see initWalletMulticall).
	walletMulticall common.Address
}

// NewExactFacilitator checks the configuration, including that the backend
// is on the configured chain.
func NewExactFacilitator(ctx context.Context, cfg ExactFacilitatorConfig) (*ExactFacilitator, error) {
	if cfg.Backend == nil {
		return nil, errors.New("evm: exact facilitator: a Backend is required")
	}
	chainID, err := cfg.Network.ChainID()
	if err != nil {
		return nil, fmt.Errorf("evm: exact facilitator: %w", err)
	}
	got, err := cfg.Backend.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("evm: exact facilitator: reading chain id: %w", err)
	}
	if !got.IsUint64() || got.Uint64() != chainID {
		return nil, fmt.Errorf("%w: configured %s, backend is on chain %s", ErrChainIDMismatch, cfg.Network, got)
	}
	if cfg.Sender != nil && (!cfg.Sender.ChainID().IsUint64() || cfg.Sender.ChainID().Uint64() != chainID) {
		return nil, fmt.Errorf("%w: sender is for chain %s", ErrChainIDMismatch, cfg.Sender.ChainID())
	}
	if probs := CheckAssets(cfg.Assets); len(probs) > 0 {
		p := probs[0]
		return nil, fmt.Errorf("evm: exact facilitator: assets[%d].%s: %s", p.Index, p.Field, p.Message)
	}
	if cfg.ValidBeforeMargin == 0 {
		cfg.ValidBeforeMargin = DefaultValidBeforeMargin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Transport errors quote the RPC URL, and providers put keys in it.
	log := redact.Logger(cfg.Logger)
	rpc := cfg.RPC
	if rpc == nil {
		rpc = rpcClientOf(cfg.Backend)
	}
	multicall, err := readMulticall(ctx, cfg, rpc != nil)
	if err != nil {
		return nil, err
	}
	f := &ExactFacilitator{cfg: cfg, chainID: chainID, domains: NewDomainCache(0), log: log.With("component", "evm-exact", "network", string(cfg.Network)),
		reads: newChainReader(cfg.Backend, rpc, cfg.ReadBatchSize, multicall)}
	if cfg.Batch.enabled() {
		if cfg.Sender == nil {
			return nil, errors.New("evm: exact facilitator: batched settlement needs a Sender")
		}
		if err := checkMulticall(ctx, cfg.Backend, cfg.Batch.Multicall); err != nil {
			return nil, err
		}
	}
	f.settler = newBatcher(f, cfg.Batch)
	f.initWalletMulticall(ctx)
	return f, nil
}

// Scheme returns "exact".
func (f *ExactFacilitator) Scheme() string { return SchemeExact }

// Network returns the chain served.
func (f *ExactFacilitator) Network() x402.Network { return f.cfg.Network }

// Signers returns the addresses that send settlements (empty if the
// facilitator cannot settle).
func (f *ExactFacilitator) Signers() []string {
	if f.cfg.Sender == nil {
		return nil
	}
	return []string{f.cfg.Sender.Address().Hex()}
}

// checked is a payment that passed the local checks.
type checked struct {
	auth  *Authorization // shared with the payment's decoded payload: read-only
	sig   Signature
	asset common.Address
	// balance is the payer's balance, once checkChain has read it.
	balance *big.Int
	// sw is set for a signature checked on chain (a smart wallet's).
	sw *walletSig
}

// Verify checks a payment without moving funds. A bad payment is a verdict
// (IsValid false); an error means a chain read failed and no verdict was
// reached.
func (f *ExactFacilitator) Verify(ctx context.Context, p *x402.Payment) (*x402.VerifyResponse, error) {
	resp, _, err := f.VerifyFunds(ctx, p)
	return resp, err
}

// Settle verifies the payment again and sends transferWithAuthorization.
// The outcome is a success with the transaction hash; a failure with a
// reason code (and the hash when a transaction was mined and reverted); or,
// when the transaction was broadcast but not seen mined in time, Success
// false with reason settlement_pending and the hash. An error means nothing
// was broadcast and no verdict was reached.
func (f *ExactFacilitator) Settle(ctx context.Context, p *x402.Payment, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	if f.cfg.Sender == nil {
		return nil, errors.New("evm: exact facilitator has no Sender and cannot settle")
	}
	if isPermit2Payload(p) {
		return f.settlePermit2(ctx, p, hooks)
	}
	resp := &x402.SettleResponse{Network: responseNetwork(p)}
	c, rej := f.checkLocal(p)
	if c != nil {
		resp.Payer = c.auth.From.Hex()
	}
	if rej == nil {
		// Gas estimation below simulates the transfer, so skip eth_call here.
		var err error
		if rej, err = f.checkChain(ctx, c, false); err != nil {
			return nil, err
		}
	}
	if rej != nil {
		resp.ErrorReason, resp.ErrorMessage = rej.reason, rej.msg
		return resp, nil
	}
	it := newSettlement(ctx, c, resp, hooks.BeforeBroadcast)
	if f.cfg.Batch.enabled() && f.batchable(c.asset) && !c.deploys() {
		return f.settler.settle(ctx, it)
	}
	return f.settler.settleNow(ctx, it)
}

func pending(resp *x402.SettleResponse, h common.Hash) *x402.SettleResponse {
	resp.Transaction = h.Hex()
	resp.ErrorReason = x402.ReasonSettlementPending
	resp.ErrorMessage = "the settlement transaction was broadcast but is not confirmed yet; do not pay again"
	return resp
}

// responseNetwork is the network as the request's version names it.
func responseNetwork(p *x402.Payment) x402.Network {
	if p.Version == x402.V1 {
		if name, ok := p.Requirements.Network.V1Name(); ok {
			return x402.Network(name)
		}
	}
	return p.Requirements.Network
}

// batchable reports whether settlements of asset may share a transaction:
// only assets configured in Assets, whose AuthorizationUsed and Transfer
// events tell each payment's outcome apart in a batch's receipt.
func (f *ExactFacilitator) batchable(asset common.Address) bool {
	for _, a := range f.cfg.Assets {
		if a.Address == asset {
			return true
		}
	}
	return false
}

// checkChain reads the authorization's state and the payer's balance and,
// if simulate is set, simulates the transfer with eth_call: all in one
// round trip when the backend takes JSON-RPC batches. The verdict follows
// the reference order: nonce, balance, simulation.
func (f *ExactFacilitator) checkChain(ctx context.Context, c *checked, simulate bool) (*payloadError, error) {
	sigCall, rej := f.planWallet(c)
	if rej != nil {
		return rej, nil
	}
	state := &ethCall{msg: ethereum.CallMsg{To: &c.asset, Data: packAuthorizationState(c.auth.From, c.auth.Nonce)}}
	balance := &ethCall{msg: ethereum.CallMsg{To: &c.asset, Data: packBalanceOf(c.auth.From)}}
	calls := []*ethCall{state, balance}
	var sim *ethCall
	if simulate {
		sim = f.simulation(c)
		calls = append(calls, sim)
	}
	if sigCall != nil {
		calls = append(calls, sigCall)
	}
	if err := f.reads.call(ctx, calls...); err != nil {
		return nil, fmt.Errorf("evm: reading chain state: %w", err)
	}
	// A smart wallet's signature first, as the reference orders it.
	if rej, err := f.judgeWallet(c, sigCall); rej != nil || err != nil {
		return rej, err
	}
	// The authorization's state first: a replayed payment is reported as
	// such even if the payer has since spent their balance.
	used, rej, err := word(state, c.asset, "authorizationState")
	if rej != nil || err != nil {
		return rej, err
	}
	if new(big.Int).SetBytes(used).Sign() != 0 {
		return reject(x402.ReasonExactEVMNonceAlreadyUsed, "authorization nonce was already used or canceled"), nil
	}
	out, rej, err := word(balance, c.asset, "balanceOf")
	if rej != nil || err != nil {
		return rej, err
	}
	bal := new(big.Int).SetBytes(out)
	c.balance = bal // reported by VerifyFunds
	if bal.Cmp(c.auth.Value) < 0 {
		return reject(x402.ReasonExactEVMInsufficientBalance, "payer balance %s is less than %s", bal, c.auth.Value), nil
	}
	if sim == nil || sim.err == nil {
		return nil, nil
	}
	if rev := revertFromError(sim.err); rev != nil {
		reason := reasonForRevert(rev)
		if reason == x402.ReasonExactEVMTransactionFailed {
			reason = x402.ReasonExactEVMSimulationFailed
		}
		return reject(reason, "simulated transfer reverted: %s", rev.Error()), nil
	}
	return nil, fmt.Errorf("evm: simulating transfer: %w", sim.err)
}

// callUint makes one eth_call returning one 32-byte word (see word).
func (f *ExactFacilitator) callUint(ctx context.Context, to common.Address, data []byte, what string) (*big.Int, *payloadError, error) {
	c := &ethCall{msg: ethereum.CallMsg{To: &to, Data: data}}
	if err := f.reads.call(ctx, c); err != nil {
		return nil, nil, fmt.Errorf("evm: %s: %w", what, err)
	}
	out, rej, err := word(c, to, what)
	if rej != nil || err != nil {
		return nil, rej, err
	}
	return new(big.Int).SetBytes(out), nil, nil
}

// reasonForRevert maps a token revert during settlement to a reason code.
func reasonForRevert(rev *RevertError) x402.Reason {
	r := strings.ToLower(rev.Reason)
	switch {
	case strings.Contains(r, "expired"):
		return x402.ReasonExactEVMValidBefore
	case strings.Contains(r, "not yet valid"):
		return x402.ReasonExactEVMValidAfter
	case strings.Contains(r, "used") || strings.Contains(r, "canceled"):
		return x402.ReasonExactEVMNonceAlreadyUsed
	case strings.Contains(r, "balance"):
		return x402.ReasonExactEVMInsufficientBalance
	case strings.Contains(r, "signature") || strings.Contains(r, "signer"):
		return x402.ReasonExactEVMSignature
	}
	if sel, ok := rev.Selector(); ok {
		if reason, ok := revertSelectorReasons[sel]; ok {
			return reason
		}
	}
	return x402.ReasonExactEVMTransactionFailed
}

// Token function selectors.
var (
	selBalanceOf                 = selector("balanceOf(address)")
	selAuthorizationState        = selector("authorizationState(address,bytes32)")
	selTransferWithAuthorization = selector("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)")
)

// revertSelectorReasons maps custom errors of common EIP-3009 tokens
// (OpenZeppelin-based ones, including go402's test token) to reason codes.
var revertSelectorReasons = map[[4]byte]x402.Reason{
	selector("ERC20InsufficientBalance(address,uint256,uint256)"): x402.ReasonExactEVMInsufficientBalance,
	selector("ECDSAInvalidSignature()"):                           x402.ReasonExactEVMSignature,
	selector("ECDSAInvalidSignatureS(bytes32)"):                   x402.ReasonExactEVMSignature,
	selector("ECDSAInvalidSignatureLength(uint256)"):              x402.ReasonExactEVMSignature,
	selector("InvalidSignature()"):                                x402.ReasonExactEVMSignature,
	selector("AuthorizationExpired(uint256,uint256)"):             x402.ReasonExactEVMValidBefore,
	selector("AuthorizationNotYetValid(uint256,uint256)"):         x402.ReasonExactEVMValidAfter,
	selector("AuthorizationAlreadyUsed(address,bytes32)"):         x402.ReasonExactEVMNonceAlreadyUsed,
}

func selector(signature string) [4]byte {
	return [4]byte(crypto.Keccak256([]byte(signature))[:4])
}

func putWord(dst []byte, v *big.Int) { v.FillBytes(dst[:32]) }

func packBalanceOf(owner common.Address) []byte {
	out := make([]byte, 4+32)
	copy(out, selBalanceOf[:])
	copy(out[4+12:], owner[:])
	return out
}

func packAuthorizationState(authorizer common.Address, nonce [32]byte) []byte {
	out := make([]byte, 4+64)
	copy(out, selAuthorizationState[:])
	copy(out[4+12:], authorizer[:])
	copy(out[4+32:], nonce[:])
	return out
}

// TransferWithAuthorizationCalldata ABI-encodes a call to the (v, r, s)
// overload of transferWithAuthorization. The authorization's integers must
// be in uint256 range (as [Authorization.Validate] checks).
func TransferWithAuthorizationCalldata(a *Authorization, sig Signature) []byte {
	out := make([]byte, 4+9*32)
	copy(out, selTransferWithAuthorization[:])
	w := out[4:]
	copy(w[12:32], a.From[:])
	copy(w[32+12:64], a.To[:])
	putWord(w[64:], a.Value)
	putWord(w[96:], a.ValidAfter)
	putWord(w[128:], a.ValidBefore)
	copy(w[160:192], a.Nonce[:])
	w[223] = sig.V()
	r, s := sig.R(), sig.S()
	copy(w[224:256], r[:])
	copy(w[256:288], s[:])
	return out
}

var (
	_ x402.SchemeFacilitator = (*ExactFacilitator)(nil)
	_ x402.Identifier        = (*ExactFacilitator)(nil)
	_ x402.Reconciler        = (*ExactFacilitator)(nil)
)
