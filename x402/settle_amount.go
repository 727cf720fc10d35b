package x402

import (
	"bytes"
	"encoding/json"
)

// UnmarshalJSON decodes a settle response, reading "amount":"" as an
// absent amount. The reference "batch-settlement" scheme answers a request
// paid by a voucher, and its facilitator a claim, with "amount":"" (no
// transfer happened), which is not a decimal amount; any other amount is
// decoded as [Amount] does, strictly.
func (s *SettleResponse) UnmarshalJSON(b []byte) error {
	type plain SettleResponse
	var w struct {
		plain
		Amount json.RawMessage `json:"amount"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	out := SettleResponse(w.plain)
	out.Amount = nil
	if raw := bytes.TrimSpace(w.Amount); len(raw) > 0 && string(raw) != "null" && string(raw) != `""` {
		var a Amount
		if err := a.UnmarshalJSON(raw); err != nil {
			return err
		}
		out.Amount = &a
	}
	*s = out
	return nil
}

// UnmarshalJSON decodes as [SettleResponse.UnmarshalJSON] does.
func (s *anySchemeSettleResponse) UnmarshalJSON(b []byte) error {
	return (*SettleResponse)(s).UnmarshalJSON(b)
}
