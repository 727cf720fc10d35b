package batchsettlement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402"
)

// Defaults of [FacilitatorConfig].
const (
	// DefaultValidBeforeMargin is how long a deposit authorization must
	// still be valid when it is verified (@x402/evm: 6 s).
	DefaultValidBeforeMargin = 6 * time.Second
	// DefaultStatePollTimeout bounds the wait, after a mined deposit or
	// refund, for the node to serve the channel state that includes it
	// (@x402/evm: 2 s).
	DefaultStatePollTimeout = 2 * time.Second
	// DefaultStatePollInterval is the period of that wait (@x402/evm:
	// 150 ms).
	DefaultStatePollInterval = 150 * time.Millisecond
)

// FacilitatorConfig configures a [Facilitator] for one chain. Network and
// Backend are required.
type FacilitatorConfig struct {
	// Network is the chain served, "eip155:<id>"; it must match the
	// backend's chain id.
	Network x402.Network
	// Backend reads chain state; its eth_calls simulate the transactions.
	Backend evm.ChainBackend
	// Sender sends the deposits, claims, settles and refunds. If nil, the
	// facilitator verifies but Settle returns an error. Share one Sender
	// per key and chain with the other schemes (its nonces are its own).
	Sender *evm.Sender
	// ReceiverAuthorizer, if set, is the key this facilitator offers
	// servers as their channels' receiverAuthorizer: /supported advertises
	// its address (extra.receiverAuthorizer), and claim and refund payloads
	// that omit the receiver-authorizer signature are signed with it. Nil
	// (the default, as in @x402/evm) advertises nothing: servers sign
	// their own claim batches and refunds. A facilitator that holds it
	// signs refunds for whoever can call its /settle, so put /settle
	// behind API keys.
	ReceiverAuthorizer evm.Signer
	// ValidBeforeMargin is the least remaining validity accepted of a
	// deposit authorization. If zero, DefaultValidBeforeMargin.
	ValidBeforeMargin time.Duration
	// StatePollTimeout and StatePollInterval bound the read of a channel's
	// state after a mined deposit or refund. If zero, the defaults.
	StatePollTimeout, StatePollInterval time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Logger receives settlement events. If nil, logs are discarded.
	Logger *slog.Logger
}

// Facilitator is the facilitator's side of the batch-settlement scheme on
// one EVM chain, wire-compatible with @x402/evm 2.27's: it implements
// [x402.SchemeFacilitator], [x402.Identifier] and [x402.Reconciler].
//
// Verify accepts the payloads payers send: deposit (with its ERC-3009
// ReceiveWithAuthorization to the ERC3009DepositCollector), voucher and
// refund, checked in @x402/evm's order and with its reason codes, and
// answers a valid payment with the channel's mined state in extra
// ({channelId, balance, totalClaimed, withdrawRequestedAt, refundNonce}).
// A deposit not yet mined is never counted: balances are read from the
// chain only.
//
// Settle accepts a deposit (deposit through the collector), and the
// server-authored payloads: claim (claimWithSignature), settle
// (settle(receiver, token)) and a completed refund (refundWithSignature,
// after the outstanding claims in one multicall). Each is simulated
// before it is sent; a refusal is a verdict without a transaction.
//
// Identify gives deposits, claims and refunds a settle-once key (see
// [Facilitator.Identify]), so that go402's facilitator settles each at
// most once across retries, instances and crashes; settle payloads and
// vouchers have none.
type Facilitator struct {
	cfg     FacilitatorConfig
	chainID uint64
	sep     common.Hash // the scheme's EIP-712 domain separator
	abi     abi.ABI
	log     *slog.Logger
	extra   x402.Object // /supported extra, nil without a ReceiverAuthorizer
}

// NewFacilitator checks cfg, including that the backend is on the
// configured chain.
func NewFacilitator(ctx context.Context, cfg FacilitatorConfig) (*Facilitator, error) {
	if cfg.Backend == nil {
		return nil, errors.New("evm/batchsettlement: facilitator: a Backend is required")
	}
	chainID, err := cfg.Network.ChainID()
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: facilitator: %w", err)
	}
	got, err := cfg.Backend.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: facilitator: reading chain id: %w", redact.Wrap(err))
	}
	if !got.IsUint64() || got.Uint64() != chainID {
		return nil, fmt.Errorf("%w: configured %s, backend is on chain %s", evm.ErrChainIDMismatch, cfg.Network, got)
	}
	if cfg.Sender != nil && (!cfg.Sender.ChainID().IsUint64() || cfg.Sender.ChainID().Uint64() != chainID) {
		return nil, fmt.Errorf("%w: sender is for chain %s", evm.ErrChainIDMismatch, cfg.Sender.ChainID())
	}
	if cfg.ValidBeforeMargin == 0 {
		cfg.ValidBeforeMargin = DefaultValidBeforeMargin
	}
	if cfg.StatePollTimeout == 0 {
		cfg.StatePollTimeout = DefaultStatePollTimeout
	}
	if cfg.StatePollInterval == 0 {
		cfg.StatePollInterval = DefaultStatePollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a, err := parseABI()
	if err != nil {
		return nil, err
	}
	f := &Facilitator{cfg: cfg, chainID: chainID, sep: DomainSeparator(chainID), abi: a,
		log: redact.Logger(cfg.Logger).With("component", "evm-batch-settlement", "network", string(cfg.Network))}
	if ra := cfg.ReceiverAuthorizer; ra != nil {
		if f.extra, err = x402.NewObject(map[string]string{"receiverAuthorizer": ra.Address().Hex()}); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Scheme returns "batch-settlement".
func (f *Facilitator) Scheme() string { return Scheme }

// Network returns the chain served.
func (f *Facilitator) Network() x402.Network { return f.cfg.Network }

// Signers returns the addresses that send transactions (empty if the
// facilitator cannot settle).
func (f *Facilitator) Signers() []string {
	if f.cfg.Sender == nil {
		return nil
	}
	return []string{f.cfg.Sender.Address().Hex()}
}

// SupportedExtra is the extra of the scheme's /supported kind:
// {"receiverAuthorizer": address} when a ReceiverAuthorizer is configured,
// as @x402/evm's getExtra; nil otherwise.
func (f *Facilitator) SupportedExtra(x402.Network) x402.Object { return f.extra }

// Verify checks a deposit, voucher or refund payload without moving funds.
// A bad payment is a verdict (IsValid false); an error means a chain read
// failed and no verdict was reached.
func (f *Facilitator) Verify(ctx context.Context, p *x402.Payment) (*x402.VerifyResponse, error) {
	pl, rej := f.decode(p)
	if rej != nil {
		return invalid(rej, ""), nil
	}
	switch pl := pl.(type) {
	case *DepositPayload:
		v, err := f.verifyDeposit(ctx, p, pl, true)
		if err != nil || v.rej != nil {
			return invalid(v.rej, pl.ChannelConfig.Payer.Hex()), err
		}
		return f.valid(pl.ChannelConfig.Payer, v.state)
	case *VoucherPayload:
		return f.verifyVoucher(ctx, p, pl.Channel(), pl.SignedVoucher(), false)
	case *RefundPayload:
		return f.verifyVoucher(ctx, p, pl.Channel(), pl.SignedVoucher(), true)
	}
	return invalid(errf(x402.ReasonBatchPayloadType, "a %s payload is settled, not verified", pl.Type()), ""), nil
}

// Settle executes a deposit, claim, settle or completed refund payload.
// The outcome is a success with the transaction; a failure with a reason
// (and the transaction when one was mined and reverted); or, when the
// transaction was broadcast but not seen mined in time, Success false with
// reason settlement_pending and the transaction. An error means nothing
// was broadcast and no verdict was reached.
func (f *Facilitator) Settle(ctx context.Context, p *x402.Payment, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	if f.cfg.Sender == nil {
		return nil, errors.New("evm/batchsettlement: the facilitator has no Sender and cannot settle")
	}
	pl, rej := f.decode(p)
	if rej != nil {
		return f.failed(p, rej, ""), nil
	}
	switch pl := pl.(type) {
	case *DepositPayload:
		return f.settleDeposit(ctx, p, pl, hooks)
	case *ClaimPayload:
		return f.settleClaim(ctx, p, pl, hooks)
	case *SettlePayload:
		return f.settleSweep(ctx, p, pl, hooks)
	case *RefundPayload:
		if pl.Completed() {
			return f.settleRefund(ctx, p, pl, hooks)
		}
	}
	return f.failed(p, errf(x402.ReasonBatchPayloadType, "a %s payload cannot be settled as sent (a refund must be completed by the server)", pl.Type()), ""), nil
}

// decode checks the scheme and network of p and parses its payload.
func (f *Facilitator) decode(p *x402.Payment) (Payload, *x402.Error) {
	req := &p.Requirements
	switch {
	case p.Accepted.Scheme != Scheme || req.Scheme != Scheme:
		return nil, errf(x402.ReasonBatchScheme, "scheme is %.40q, requirements say %.40q; this facilitator handles %q", p.Accepted.Scheme, req.Scheme, Scheme)
	case p.Accepted.Network != req.Network:
		return nil, errf(x402.ReasonBatchNetworkMismatch, "payment is for %.60s but the requirements are for %.60s", p.Accepted.Network, req.Network)
	case req.Network != f.cfg.Network:
		return nil, errf(x402.ReasonBatchNetworkMismatch, "this facilitator settles on %s, not %.60s", f.cfg.Network, req.Network)
	}
	pl, err := Decode(p)
	if err != nil {
		return nil, asXError(err, x402.ReasonBatchPayloadType)
	}
	return pl, nil
}

// asXError returns err as an *x402.Error, with reason when it is not one.
func asXError(err error, reason x402.Reason) *x402.Error {
	var xe *x402.Error
	if errors.As(err, &xe) {
		return xe
	}
	return &x402.Error{Reason: reason, Message: err.Error(), Err: err}
}

// invalid is the verdict of a refused payment.
func invalid(rej *x402.Error, payer string) *x402.VerifyResponse {
	return &x402.VerifyResponse{InvalidReason: rej.Reason, InvalidMessage: rej.Message, Payer: payer}
}

// valid is the verdict of an accepted payment: its payer and the channel's
// mined state in extra.
func (f *Facilitator) valid(payer common.Address, st ChannelState) (*x402.VerifyResponse, error) {
	extra, err := x402.NewObject(st)
	if err != nil {
		return nil, err
	}
	return &x402.VerifyResponse{IsValid: true, Payer: payer.Hex(), Extra: extra}, nil
}

// failed is the answer to a settle refused before anything was sent.
func (f *Facilitator) failed(p *x402.Payment, rej *x402.Error, payer string) *x402.SettleResponse {
	return &x402.SettleResponse{Network: responseNetwork(p), ErrorReason: rej.Reason, ErrorMessage: rej.Message, Payer: payer}
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

var (
	_ x402.SchemeFacilitator = (*Facilitator)(nil)
	_ x402.Identifier        = (*Facilitator)(nil)
	_ x402.Reconciler        = (*Facilitator)(nil)
)
