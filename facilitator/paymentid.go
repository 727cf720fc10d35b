package facilitator

import (
	"context"
	"fmt"
	"strings"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// bindPaymentID applies the payment-identifier extension to a settle: the
// payment's id, if it carries one, is bound (durably, in the ledger, when
// the store keeps payment ids) to the payment, within the scope of its
// network and payee. A repeat of the same payment under its id goes on
// and gets the first outcome (the settlement key answers it); another
// payment under a bound id is refused without settling, as is an id that
// is not 16 to 128 valid characters. It returns the refusal, or an error
// if the ledger could not be read.
func (f *Facilitator) bindPaymentID(ctx context.Context, p *x402.Payment, key x402.SettlementKey, fp string) (*x402.Error, error) {
	if p.Version != x402.V2 {
		return nil, nil
	}
	pid, err := x402.ParsePaymentIdentifier(p.Extensions)
	if err != nil {
		return &x402.Error{Reason: x402.ReasonInvalidPaymentID, Message: "payment identifier must be 16-128 characters of letters, digits, hyphens and underscores"}, nil
	}
	ids, ok := f.cfg.Store.(ledger.PaymentIDs)
	if pid.ID == "" || !ok {
		return nil, nil
	}
	b := &ledger.PaymentIDBinding{
		Scope: string(p.Requirements.Network) + "|" + strings.ToLower(p.Requirements.PayTo),
		ID:    pid.ID, SettlementKey: key.String(), Fingerprint: fp,
	}
	existing, bound, err := ids.BindPaymentID(ctx, b)
	switch {
	case err != nil:
		return nil, fmt.Errorf("facilitator: payment identifier: %w", err)
	case bound, existing.SettlementKey == b.SettlementKey && existing.Fingerprint == b.Fingerprint:
		return nil, nil
	}
	return &x402.Error{Reason: x402.ReasonPaymentIDConflict, Message: "payment identifier already used with another payment"}, nil
}
