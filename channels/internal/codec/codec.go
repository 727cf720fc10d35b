// Package codec converts channel records to and from the column values the
// channel stores keep: amounts as canonical decimal strings, times as unix
// milliseconds (0 for the zero time).
package codec

import (
	"fmt"
	"strings"
	"time"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/x402"
)

// Millis is t as unix milliseconds, 0 for the zero time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time is the time of unix milliseconds ms, the zero time for 0.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Row is a channel's columns, in the order of Columns.
type Row struct {
	ID, Network                      string
	Config                           []byte
	Charged, SignedMax, Signature    string
	Balance, TotalClaimed            string
	WithdrawRequestedAt, RefundNonce int64
	SyncedAt, LastRequestAt          int64
}

// Columns are the column names of a Row, comma-separated.
const Columns = "id, network, config, charged, signed_max, signature, balance, total_claimed, withdraw_requested_at, refund_nonce, synced_at, last_request_at"

// Dest returns the scan destinations of r, in the order of Columns.
func (r *Row) Dest() []any {
	return []any{&r.ID, &r.Network, &r.Config, &r.Charged, &r.SignedMax, &r.Signature, &r.Balance, &r.TotalClaimed, &r.WithdrawRequestedAt, &r.RefundNonce, &r.SyncedAt, &r.LastRequestAt}
}

// Args returns r's values, in the order of Columns.
func (r *Row) Args() []any {
	return []any{r.ID, r.Network, r.Config, r.Charged, r.SignedMax, r.Signature, r.Balance, r.TotalClaimed, r.WithdrawRequestedAt, r.RefundNonce, r.SyncedAt, r.LastRequestAt}
}

// FromChannel is ch's row.
func FromChannel(ch *channels.Channel) Row {
	return Row{
		ID: NormID(ch.ID), Network: string(ch.Network), Config: ch.Config,
		Charged: ch.Charged.String(), SignedMax: ch.SignedMax.String(), Signature: ch.Signature,
		Balance: ch.Onchain.Balance.String(), TotalClaimed: ch.Onchain.TotalClaimed.String(),
		WithdrawRequestedAt: ch.Onchain.WithdrawRequestedAt, RefundNonce: int64(ch.Onchain.RefundNonce),
		SyncedAt: Millis(ch.Onchain.SyncedAt), LastRequestAt: Millis(ch.LastRequestAt),
	}
}

// Channel is the channel of r.
func (r *Row) Channel() (channels.Channel, error) {
	ch := channels.Channel{ID: r.ID, Network: x402.Network(r.Network), Config: r.Config, Signature: r.Signature}
	for _, f := range []struct {
		dst *x402.Amount
		src string
	}{{&ch.Charged, r.Charged}, {&ch.SignedMax, r.SignedMax}, {&ch.Onchain.Balance, r.Balance}, {&ch.Onchain.TotalClaimed, r.TotalClaimed}} {
		a, err := x402.ParseAmount(f.src)
		if err != nil {
			return channels.Channel{}, fmt.Errorf("channels/internal/codec: channel %s: %w", r.ID, err)
		}
		*f.dst = a
	}
	ch.Onchain.WithdrawRequestedAt = r.WithdrawRequestedAt
	ch.Onchain.RefundNonce = uint64(r.RefundNonce)
	ch.Onchain.SyncedAt = Time(r.SyncedAt)
	ch.LastRequestAt = Time(r.LastRequestAt)
	return ch, nil
}

// NormID is a channel id as stored: lower case.
func NormID(id string) string { return strings.ToLower(id) }
