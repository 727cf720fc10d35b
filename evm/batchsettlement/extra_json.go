package batchsettlement

import (
	"strconv"

	"github.com/go402/go402/x402"
)

// appendChannelState appends the JSON of s: the bytes json.Marshal gives
// for its channelStateJSON form (same keys, order and omissions), written
// without reflection on the hot path of every voucher's answer.
func appendChannelState(dst []byte, s *ChannelState) []byte {
	dst = append(dst, '{')
	first := true
	key := func(k string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
	}
	if s.HasChannelID {
		key("channelId")
		dst = append(dst, '"')
		dst = append(dst, s.ChannelID.Hex()...)
		dst = append(dst, '"')
	}
	amount := func(k string, a *x402.Amount) {
		key(k)
		dst = append(dst, '"')
		dst = append(dst, a.String()...)
		dst = append(dst, '"')
	}
	if s.HasBalance {
		amount("balance", &s.Balance)
	}
	if s.HasTotalClaimed {
		amount("totalClaimed", &s.TotalClaimed)
	}
	if s.HasWithdrawRequestedAt {
		key("withdrawRequestedAt")
		dst = strconv.AppendUint(dst, s.WithdrawRequestedAt, 10)
	}
	if s.HasRefundNonce {
		amount("refundNonce", &s.RefundNonce)
	}
	if s.HasCharged {
		amount("chargedCumulativeAmount", &s.ChargedCumulativeAmount)
	}
	return append(dst, '}')
}
