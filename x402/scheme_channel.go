package x402

import (
	"context"
	"encoding/json"
)

// ChannelSchemeClient is a [SchemeClient] whose payments draw on money the
// payer deposited earlier into an escrow (a payment channel, such as the
// "batch-settlement" scheme): it is stateful. A paying client that finds
// this interface asks it, before signing, how much the payment takes out
// of the wallet (a deposit, or nothing when a voucher against the balance
// suffices), signs with the deposit the client's policy allowed, and hands
// it the answer to every payment it created, so that it can advance its
// state only on what the server reports and recover from a corrective 402.
type ChannelSchemeClient interface {
	SchemeClient
	// Funding returns what paying req would move from the wallet into the
	// channel now: want is the deposit the scheme would make (zero when
	// the channel's balance covers the payment), need the least deposit
	// that would do (need ≤ want). It signs nothing.
	Funding(ctx context.Context, version int, req PaymentRequirements) (want, need Amount, err error)
	// CreateFundedPayload signs a payment of req that deposits exactly
	// deposit (zero: a voucher only). It fails, having signed nothing, when
	// deposit no longer covers what the channel needs. A payload it returns
	// must be followed by exactly one call to Conclude with that payload.
	CreateFundedPayload(ctx context.Context, version int, req PaymentRequirements, deposit Amount) (Object, error)
	// Conclude hands the scheme the answer to a payment it created.
	// It returns retry = true when the answer was a corrective 402 the
	// scheme recovered from, so that paying again may succeed. An error
	// means the server broke the scheme's rules (the scheme then refuses
	// to sign more on that channel) or the scheme's state could not be
	// stored.
	Conclude(ctx context.Context, version int, req PaymentRequirements, payload Object, ans PaymentAnswer) (retry bool, err error)
}

// PaymentAnswer is what a paying client learnt of a payment it sent.
type PaymentAnswer struct {
	// StatusCode is the HTTP status of the answer; 0 when none arrived.
	StatusCode int
	// Settlement is the decoded PAYMENT-RESPONSE; nil if none.
	Settlement *SettleResponse
	// Required is the decoded PAYMENT-REQUIRED of a 402 answer; nil if
	// none.
	Required *PaymentRequired
	// URL is the resource paid, without its query: where the scheme can
	// reach the server again (a cooperative refund).
	URL string
	// Delivered is false when the payment certainly never reached the
	// server (the connection could not be made).
	Delivered bool
}

// DecodeChannelPaymentResponse decodes a PAYMENT-RESPONSE header of a
// channel scheme's payment as @x402/evm's batch-settlement server writes it
// for a voucher, which [DecodePaymentResponse] refuses: a success with
// "transaction":"" (a voucher is no transaction) and "amount":"" (read as
// absent). It still requires the network.
func DecodeChannelPaymentResponse(h string) (*SettleResponse, error) {
	if sr, err := DecodePaymentResponse(h); err == nil {
		return sr, nil
	}
	data, err := headerJSON(h, ReasonInvalidResponse)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, newError(ReasonInvalidResponse, ErrInvalidMessage, "PAYMENT-RESPONSE is not a JSON object")
	}
	if string(m["amount"]) == `""` {
		delete(m, "amount")
	}
	fixed, err := json.Marshal(m)
	if err != nil {
		return nil, newError(ReasonInvalidResponse, ErrInvalidMessage, "PAYMENT-RESPONSE: %v", err)
	}
	var sr SettleResponse
	if err := json.Unmarshal(fixed, &sr); err != nil {
		return nil, newError(ReasonInvalidResponse, ErrInvalidMessage, "PAYMENT-RESPONSE: %v", err)
	}
	if sr.Network == "" {
		return nil, newError(ReasonInvalidResponse, ErrInvalidMessage, "PAYMENT-RESPONSE names no network")
	}
	return &sr, nil
}
