package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go402/go402/x402"
)

// Payments through a payment channel (a scheme client implementing
// x402.ChannelSchemeClient, such as the EVM "batch-settlement" one) are
// accounted as money leaving the wallet: the budgets count a deposit in full
// when it is signed (it stays counted: escrowed money is spent until a
// refund brings it back, see [Client.Refunded]), and a voucher paid from the
// channel's balance counts nothing more, since its money was counted with
// the deposit. So Spending.Spent is what left the wallet, never the sum of
// the prices of the calls; Spending.Payments still counts every call paid.
// MaxPerRequest bounds the price of each call; Budget and BudgetPerHost
// bound the deposits.

// retriedKey marks the context of a payment made again after a corrective
// 402, so that it is made again at most once.
type retriedKey struct{}

// checkChannel sizes the deposit of a channel option and applies the policy
// to it: the deposit the scheme wants, or, if the budgets refuse it, the
// least it needs. An allowed option is appended to ch.allowed.
func (c *Client) checkChannel(ctx context.Context, version int, o *Option, u usage, ch *choice) *PolicyError {
	want, need, err := o.channel.Funding(ctx, version, o.Requirements)
	if err != nil {
		ch.schemeErr = errors.Join(ch.schemeErr, fmt.Errorf("client: %s on %s: %w", o.Requirements.Scheme, o.Requirements.Network, err))
		return nil
	}
	o.deposit = want
	pe := c.policy.check(o, u)
	if pe != nil && (pe.Rule == RuleBudget || pe.Rule == RuleBudgetPerHost) && need.Cmp(want) < 0 {
		o.deposit = need
		pe = c.policy.check(o, u)
	}
	if pe != nil {
		if !o.deposit.IsZero() && (pe.Rule == RuleBudget || pe.Rule == RuleBudgetPerHost) && pe.Err == nil {
			pe.Err = fmt.Errorf("the payment needs a deposit of %s atomic units into a payment channel", o.deposit)
		}
		return pe
	}
	ch.allowed = append(ch.allowed, *o)
	return nil
}

// answerOf reads what an answer to a paid request says, from its headers
// only (the body is left to the caller).
func answerOf(req *http.Request, resp *http.Response, delivered bool) x402.PaymentAnswer {
	ans := x402.PaymentAnswer{URL: redact(req.URL), Delivered: delivered || resp != nil}
	if resp == nil {
		return ans
	}
	ans.StatusCode = resp.StatusCode
	ans.Settlement = settlementFrom(resp.Header)
	if ans.Settlement == nil {
		ans.Settlement, _ = x402.DecodeChannelPaymentResponse(resp.Header.Get(x402.HeaderPaymentResponse))
	}
	if h := resp.Header.Get(x402.HeaderPaymentRequired); h != "" && resp.StatusCode == http.StatusPaymentRequired {
		if pr, err := x402.DecodePaymentRequired(h); err == nil {
			ans.Required = pr
		}
	}
	return ans
}

// concludeChannel finishes a payment made through a channel: it hands the
// answer to the scheme (which checks the server's report and advances the
// channel), settles the budget held, and after a corrective 402 the scheme
// recovered from, pays once more with the server's new terms.
func (c *Client) concludeChannel(req *http.Request, off *offer, b body, res *payHold, receipt *Receipt, obj x402.Object, resp *http.Response, delivered bool, sendErr error) (*http.Response, error) {
	ctx, chosen := req.Context(), res.option
	ans := answerOf(req, resp, delivered)
	retry, cerr := chosen.channel.Conclude(ctx, off.version, off.accepts[chosen.index], obj, ans)
	if sendErr != nil {
		if delivered {
			res.unresolved(ctx)
			oc := *chosen
			return nil, &OutcomeUnknownError{Option: &oc, Err: fmt.Errorf("sending the paid request to %s: %w", redact(req.URL), sendErr)}
		}
		res.finish(ctx, resolvedUnspent)
		return nil, fmt.Errorf("client: sending the paid request to %s: %w", redact(req.URL), sendErr)
	}
	res.channelSR = ans.Settlement
	out, err := c.conclude(req, resp, delivered, res, receipt)
	if cerr != nil {
		// The server broke the scheme's rules: the scheme signs nothing
		// more on the channel, and the caller must know.
		if out != nil {
			drainClose(out.Body)
		}
		c.log.DebugContext(ctx, "channel payment refused by the scheme's checks", "url", redact(req.URL), "err", cerr)
		return nil, fmt.Errorf("client: %w", cerr)
	}
	if !retry || ans.Required == nil || ctx.Value(retriedKey{}) != nil {
		return out, err
	}
	// Pay again on the original terms: the corrective 402's carry the
	// channel's state in extra, which the server does not match a payment's
	// accepted requirements against.
	c.log.DebugContext(ctx, "channel state recovered from a corrective 402; paying again", "url", redact(req.URL))
	return c.pay(req.WithContext(context.WithValue(ctx, retriedKey{}, true)), off, b)
}

// Refunded credits the budgets with amount (atomic units of asset on
// network) that a cooperative refund of a payment channel returned to the
// wallet: deposits are counted as spent when made, and what comes back is
// no longer spent. host is the host the deposits were counted on (the
// per-host budget) given as a URL of the server; nil credits only the
// total. Spending never goes below zero.
func (c *Client) Refunded(ctx context.Context, network x402.Network, asset string, amount x402.Amount, server *url.URL) error {
	host := ""
	if server != nil {
		host = hostKey(server)
	}
	whole, unit := wholeUnits(amount, 0), unitAtomic+" "+assetKey(network, asset)
	if a, ok := c.assets.Lookup(network, asset); ok {
		whole, unit = wholeUnits(amount, a.Decimals), ""
	}
	return c.budget.update(ctx, func(st *budgetState) error {
		if st.empty() {
			return errNoChange
		}
		if st.Unit != unit {
			return fmt.Errorf("%w: it counts %s, this refund %s", errBudgetUnit, unitName(st.Unit), unitName(unit))
		}
		st.Spent = subFloor(st.Spent, whole)
		if v, ok := st.Hosts[host]; ok && host != "" {
			st.Hosts[host] = subFloor(v, whole)
		}
		return nil
	})
}

func subFloor(a, b decimal) decimal {
	if a.Cmp(b) <= 0 {
		return decimal{}
	}
	return a.Sub(b)
}
