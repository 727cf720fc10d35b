package batchsettlement

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// Server is the resource server's side of the scheme as an
// [x402.SchemeServer]: it builds batch-settlement requirements and reads
// what a payment names. It keeps no channel state (the charged totals, the
// last vouchers and the mirrors of the chain belong to the channel store
// built on this package) and does not verify vouchers (see
// [ChannelVerifier]).
type Server struct {
	// Networks resolves prices; if nil, evm.DefaultNetworks().
	Networks *evm.Networks
	// ReceiverAuthorizer signs claims and refunds for the server's
	// channels (the server's own key, or the address a facilitator
	// advertises in /supported). Required, not the zero address.
	ReceiverAuthorizer common.Address
	// WithdrawDelay is the channels' withdrawal delay in seconds, in
	// [MinWithdrawDelay, MaxWithdrawDelay]; 0 means DefaultWithdrawDelay.
	WithdrawDelay uint64
	// MinDeposit is announced as extra.minDeposit when it is above the
	// price; when zero, DefaultMinDepositMultiplier × price is announced,
	// as @x402/evm's server does. NoMinDeposit announces none.
	MinDeposit   x402.Amount
	NoMinDeposit bool
}

var _ x402.SchemeServer = (*Server)(nil)

// RegisterServer validates s and registers it in a server-side scheme
// registry for x402 v2 "batch-settlement" on every eip155 network (the
// scheme has no v1 form).
func RegisterServer(reg *x402.Registry[x402.SchemeServer], s *Server) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return reg.Register(x402.V2, Scheme, "eip155:*", s)
}

// Scheme returns "batch-settlement".
func (s *Server) Scheme() string { return Scheme }

// Validate checks the configuration.
func (s *Server) Validate() error {
	if s.ReceiverAuthorizer == (common.Address{}) {
		return errors.New("evm/batchsettlement: server: ReceiverAuthorizer is required")
	}
	if d := s.withdrawDelay(); d < MinWithdrawDelay || d > MaxWithdrawDelay {
		return fmt.Errorf("evm/batchsettlement: server: WithdrawDelay %d is outside [%d, %d] seconds", d, MinWithdrawDelay, MaxWithdrawDelay)
	}
	return nil
}

func (s *Server) withdrawDelay() uint64 {
	if s.WithdrawDelay == 0 {
		return DefaultWithdrawDelay
	}
	return s.WithdrawDelay
}

// Requirements resolves price on network to batch-settlement requirements
// paid to payTo. The asset must support EIP-3009 (Permit2 deposits are not
// supported yet). extra carries receiverAuthorizer, withdrawDelay, the
// token's EIP-712 name and version, and minDeposit.
func (s *Server) Requirements(network x402.Network, price x402.Price, payTo string, maxTimeoutSeconds int) (x402.PaymentRequirements, error) {
	if err := s.Validate(); err != nil {
		return x402.PaymentRequirements{}, err
	}
	to, ok := addressOf(payTo)
	if !ok || to == (common.Address{}) {
		return x402.PaymentRequirements{}, fmt.Errorf("evm/batchsettlement: payTo %.64q is not a non-zero address", payTo)
	}
	nets := s.Networks
	if nets == nil {
		nets = evm.DefaultNetworks()
	}
	asset, amount, err := nets.ResolvePrice(network, price)
	if err != nil {
		return x402.PaymentRequirements{}, err
	}
	if asset.Method() != evm.TransferEIP3009 {
		return x402.PaymentRequirements{}, fmt.Errorf("evm/batchsettlement: asset %s moves by %s; only EIP-3009 deposits are supported", asset.Address.Hex(), asset.Method())
	}
	if !fitsUint128(amount) {
		return x402.PaymentRequirements{}, fmt.Errorf("evm/batchsettlement: price %s exceeds uint128", amount)
	}
	extra := RequirementsExtra{
		ReceiverAuthorizer: s.ReceiverAuthorizer,
		WithdrawDelay:      s.withdrawDelay(),
		Name:               asset.Name,
		Version:            asset.Version,
	}
	if !s.NoMinDeposit {
		m := s.minDeposit(amount)
		extra.MinDeposit = &m
	}
	obj, err := extra.Object()
	if err != nil {
		return x402.PaymentRequirements{}, err
	}
	if maxTimeoutSeconds <= 0 {
		maxTimeoutSeconds = evm.DefaultMaxTimeoutSeconds
	}
	return x402.PaymentRequirements{
		Scheme:            Scheme,
		Network:           network.Canonical(),
		Amount:            amount,
		Asset:             asset.Address.Hex(),
		PayTo:             to.Hex(),
		MaxTimeoutSeconds: maxTimeoutSeconds,
		Extra:             obj,
	}, nil
}

// minDeposit is the announced minimum deposit for price: max(price,
// MinDeposit), or the default multiple of price.
func (s *Server) minDeposit(price x402.Amount) x402.Amount {
	if s.MinDeposit.IsZero() {
		m := price
		for i := 1; i < DefaultMinDepositMultiplier; i++ {
			var ok bool
			if m, ok = m.Add(price); !ok {
				return price
			}
		}
		return m
	}
	if s.MinDeposit.Cmp(price) < 0 {
		return price
	}
	return s.MinDeposit
}

// payloadMemo is the key of decoded payloads in a payment's memo.
type payloadMemo struct{}

// Decode returns the parsed payload of p ([ParsePayload]), decoding it once
// per payment (see [x402.Payment.Decoded]); the value is shared and must
// not be modified.
func Decode(p *x402.Payment) (Payload, error) {
	v, err := p.Decoded(payloadMemo{}, func(o x402.Object) (any, error) { return ParsePayload(o) })
	if err != nil {
		return nil, err
	}
	return v.(Payload), nil
}

// Identify reads a payer's payload (deposit, voucher or refund). A voucher
// is one payment of the cumulative ceiling it signs, so the settle-once key
// is (network, token, payer, "<channelId>/<maxClaimableAmount>"); a
// refund's zero-charge voucher is keyed "refund/<channelId>/<ceiling>" so
// that it never collides with the paid voucher of the same ceiling. A
// deposit expires at its authorization's validBefore; vouchers do not
// expire. Amount is left empty: a voucher names a cumulative total, not the
// price of one request. Errors are *x402.Error values.
func (s *Server) Identify(p *x402.Payment) (x402.PaymentID, error) {
	pl, err := Decode(p)
	if err != nil {
		return x402.PaymentID{}, err
	}
	cp, ok := pl.(ChannelPayload)
	if !ok {
		return x402.PaymentID{}, errf(x402.ReasonBatchPayloadType, "a %s payload is not a payment", pl.Type())
	}
	cfg, v := cp.Channel(), cp.SignedVoucher()
	nonce := "0x" + hex.EncodeToString(v.ChannelID[:]) + "/" + v.MaxClaimableAmount.String()
	if cp.Type() == TypeRefund {
		nonce = "refund/" + nonce
	}
	id := x402.PaymentID{
		Key: x402.SettlementKey{
			Network: p.Requirements.Network,
			Asset:   lowerHex(cfg.Token[:]),
			Payer:   lowerHex(cfg.Payer[:]),
			Nonce:   nonce,
		},
		PayTo: lowerHex(cfg.Receiver[:]),
		Asset: lowerHex(cfg.Token[:]),
	}
	if d, ok := pl.(*DepositPayload); ok {
		if vb, ok := d.Deposit.Authorization.ERC3009Authorization.ValidBefore.Uint64(); ok && vb > 0 && vb < 1<<40 {
			id.Expires = time.Unix(int64(vb), 0)
		}
	}
	return id, nil
}

// lowerHex is b as 0x-prefixed lower-case hex.
func lowerHex(b []byte) string { return "0x" + hex.EncodeToString(b) }
