package client

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// Policy limits what a [Client] pays. Every rule is checked before anything
// is signed; the zero Policy pays any option the client can sign, with no
// limit.
//
// Money limits (MaxPerRequest, Budget, BudgetPerHost) are prices in whole
// units of the asset paid, as the client's [Assets] registry describes it:
//   - "$0.10" means 0.10 of a US dollar stablecoin: the limit applies only
//     to assets marked USDStablecoin (the built-in USDC, USDT0, ... are);
//     an option in any other asset is refused (a *PolicyError wrapping
//     [ErrLimitCurrency]);
//   - "0.10 USDC" means 0.10 and only in assets whose symbol is USDC;
//   - "0.10" means 0.10 of whatever known token is paid;
//   - "1500000 atomic eip155:84532/0xToken" means 1,500,000 atomic units
//     and only of that asset on that network (see [AtomicLimit]). It is the
//     only kind of limit under which an asset the registry does not know
//     can be paid: its decimals, hence its price in whole units, are
//     unknown.
//
// Comparisons are exact decimal arithmetic, never floats.
type Policy struct {
	// MaxPerRequest is the highest price of one payment, such as "$0.10".
	// Empty means no per-payment ceiling.
	MaxPerRequest string
	// Budget is the most this Client may spend in total, counting every
	// other Client that shares BudgetFile. Empty means no total limit.
	Budget string
	// BudgetPerHost is the most that may be spent on one URL host (host
	// and port, as in URL.Host). Empty means no per-host limit.
	BudgetPerHost string
	// BudgetFile, if set, is a JSON file where spending is kept across runs
	// and shared between processes; access is serialised with an advisory
	// lock on BudgetFile + ".lock". If empty, spending is counted in memory
	// for the life of the Client.
	BudgetFile string
	// AllowNetworks are the networks that may be paid on, as CAIP-2 ids or
	// patterns ("eip155:8453", "eip155:*"); v1 names such as "base" are
	// accepted too. Empty means any.
	AllowNetworks []x402.Network
	// AllowAssets are the EVM token contract addresses that may be paid
	// in (any letter case). Empty means any asset. Either way, an asset
	// that Config.Assets does not know (its decimals, hence its price, are
	// unknown) is refused while a money limit is set ([RuleUnknownAsset]),
	// unless every limit set is in atomic units of that asset; without
	// limits it is paid, priced with extra.decimals if the server gives
	// them.
	AllowAssets []string
	// AllowPayTo are the EVM recipient addresses that may be paid (any
	// letter case). Empty means any.
	AllowPayTo []string
	// MaxValidity caps how long a signed payment stays valid: the
	// authorization is signed for min(the server's maxTimeoutSeconds,
	// MaxValidity). A payment the server did not take is counted against
	// the budgets until it expires unused on chain, so a short window frees
	// the budget sooner; the server must settle within it. Zero means
	// [DefaultMaxValidity]; it must be at least one second.
	MaxValidity time.Duration
	// Approve, if set, is called for the option about to be paid, after
	// every other rule passed and its price was reserved against the
	// budgets, just before signing. A non-nil error refuses the payment
	// (a *PolicyError with Rule "approval" wrapping it). It may be called
	// concurrently and must honour ctx. [Client.Quote] does not call it.
	Approve func(ctx context.Context, q Quote) error
}

// DefaultMaxValidity is the Policy.MaxValidity used when it is zero.
const DefaultMaxValidity = 3 * time.Minute

// Policy rules, as found in PolicyError.Rule.
const (
	RuleMaxPerRequest = "max-per-request"
	RuleBudget        = "budget"
	RuleBudgetPerHost = "budget-per-host"
	RuleNetwork       = "network"
	RuleAsset         = "asset"
	RulePayTo         = "payto"
	RuleApproval      = "approval"
	// RuleUnknownAsset refuses an asset that the client's Assets registry
	// does not know (so its decimals, and thus its price, are unknown)
	// while a money limit that is not in its atomic units is set.
	RuleUnknownAsset = "unknown-asset"
)

// ruleRank orders refusals by relevance: when no option is allowed, the
// refusal of the option that passed the most rules is reported.
func ruleRank(rule string) int {
	switch rule {
	case RuleNetwork:
		return 0
	case RuleAsset:
		return 1
	case RulePayTo:
		return 2
	case RuleUnknownAsset:
		return 3
	case RuleMaxPerRequest:
		return 4
	case RuleBudgetPerHost:
		return 5
	case RuleBudget:
		return 6
	}
	return 7 // RuleApproval
}

// PolicyError is a payment refused by the [Policy]. Nothing was signed.
//
//	var pe *client.PolicyError
//	if errors.As(err, &pe) && pe.Rule == client.RuleBudget { ... }
type PolicyError struct {
	// Rule is the rule that refused: one of the Rule constants.
	Rule string
	// Price is the refused option's price, such as "0.05 USDC".
	Price string
	// Limit is the configured limit for the money rules, such as "0.01".
	Limit string
	// Spent is, for the budget rules, what was already spent or reserved
	// when the payment was refused.
	Spent string
	// Option is the refused option.
	Option *Option
	// Err is the cause: the approval callback's error, or what the rule
	// found ("network eip155:1 is not allowed").
	Err error
}

// Error implements error, naming the rule and the price:
//
//	client: payment refused by policy max-per-request: price 0.05 USDC exceeds 0.01
func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString("client: payment refused by policy ")
	b.WriteString(e.Rule)
	b.WriteString(": price ")
	b.WriteString(e.Price)
	switch e.Rule {
	case RuleMaxPerRequest:
		if e.Limit != "" {
			b.WriteString(" exceeds " + e.Limit)
		}
	case RuleBudget, RuleBudgetPerHost:
		if e.Limit != "" {
			what := "budget"
			if e.Rule == RuleBudgetPerHost {
				what = "budget for this host"
			}
			b.WriteString(" exceeds what is left of the " + what + " " + e.Limit)
			if e.Spent != "" {
				b.WriteString(" (" + e.Spent + " spent)")
			}
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err.
func (e *PolicyError) Unwrap() error { return e.Err }

// limit is a parsed money limit.
type limit struct {
	text  string // canonical, for messages
	unit  string // "", "USD" (any asset), an asset symbol, or unitAtomic
	value decimal
	// network and asset name the asset of a limit in atomic units.
	network x402.Network
	asset   string
}

// unitAtomic is the unit of a limit in atomic units of one asset.
const unitAtomic = "atomic"

func parseLimit(field, s string) (*limit, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if f := strings.Fields(s); len(f) == 3 && f[1] == unitAtomic {
		return parseAtomicLimit(field, f[0], f[2])
	}
	p, err := x402.ParsePrice(s)
	if err != nil {
		return nil, fmt.Errorf("client: Policy.%s: %w", field, err)
	}
	return &limit{text: p.String(), unit: p.Unit, value: decimalFromPrice(p)}, nil
}

// parseAtomicLimit parses "<digits> atomic <network>/<asset>".
func parseAtomicLimit(field, amount, asset string) (*limit, error) {
	v, err := parseDecimal(amount)
	if err != nil || strings.Contains(amount, ".") {
		return nil, fmt.Errorf("client: Policy.%s: %q: an amount in atomic units is a whole number", field, amount)
	}
	i := strings.LastIndexByte(asset, '/')
	if i < 0 {
		return nil, fmt.Errorf("client: Policy.%s: %q: want NETWORK/ASSET after \"atomic\"", field, asset)
	}
	a := Asset{Network: x402.Network(asset[:i]), Address: asset[i+1:]}
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("client: Policy.%s: %w", field, err)
	}
	return &limit{text: amount + " atomic " + string(a.Network) + "/" + a.Address, unit: unitAtomic, value: v, network: a.Network, asset: a.Address}, nil
}

// AtomicLimit renders a limit of n atomic units of one asset, in the form
// [Policy] accepts: "1500000 atomic eip155:84532/0x...".
func AtomicLimit(n x402.Amount, network x402.Network, asset string) string {
	return n.String() + " " + unitAtomic + " " + string(network) + "/" + asset
}

// appliesTo reports whether the limit can be compared with the price of
// o: a bare limit applies to any asset of known decimals, one in dollars
// to US dollar stablecoins, one with a symbol to the assets with that
// symbol (in the client's Assets registry), and one in atomic units to
// its asset only.
func (l *limit) appliesTo(o *Option) bool {
	switch l.unit {
	case unitAtomic:
		return sameAsset(&Asset{Network: l.network, Address: l.asset}, o.Requirements.Network, o.Requirements.Asset)
	case "":
		return o.known
	case "USD":
		return o.known && o.Asset.USDStablecoin
	}
	return o.known && strings.EqualFold(l.unit, o.Asset.Symbol)
}

// price returns the price of o in the limit's terms: whole units, or for
// a limit in atomic units of an asset of unknown decimals, atomic units;
// and the limit's value in the same terms.
func (l *limit) price(o *Option) (price, max decimal) {
	if l.unit != unitAtomic {
		return o.whole, l.value
	}
	if o.known {
		// The limit in whole units of the asset.
		return o.whole, decimal{n: l.value.n, scale: l.value.scale + int(o.Asset.Decimals)}
	}
	return wholeUnits(o.Requirements.Amount, 0), l.value
}

// cost is price for the budgets: what paying o takes out of the wallet,
// which for a payment through a channel is its deposit (zero for a
// voucher against the balance), not its price.
func (l *limit) cost(o *Option) (cost, max decimal) {
	price, max := l.price(o)
	if o.channel == nil {
		return price, max
	}
	if l.unit == unitAtomic && !o.known {
		return wholeUnits(o.deposit, 0), max
	}
	return wholeUnits(o.deposit, o.dec), max
}

// usdStablecoin reports whether an asset symbol is a US dollar
// stablecoin's: the dollar assets of evm.DefaultNetworks and the common
// ones beside them. EURC and other currencies are not. It marks the
// built-in assets ([EVMAssets]); a declared asset says it itself.
func usdStablecoin(symbol string) bool {
	switch strings.ToUpper(symbol) {
	case "USDC", "USDBC", "USDT", "USDT0", "DAI", "USDS", "PYUSD", "MEGAUSD", "MUSD":
		return true
	}
	return false
}

// policy is a validated Policy.
type policy struct {
	maxPer, budget, perHost *limit
	networks                []x402.Network
	assets, payTo           map[common.Address]bool
	approve                 func(context.Context, Quote) error
	maxValidity             time.Duration
}

// Validate checks the policy as [New] does: the limits, the networks and
// the addresses.
func (p Policy) Validate() error {
	_, err := compilePolicy(p)
	return err
}

func compilePolicy(p Policy) (*policy, error) {
	c := &policy{approve: p.Approve, maxValidity: p.MaxValidity}
	switch {
	case c.maxValidity == 0:
		c.maxValidity = DefaultMaxValidity
	case c.maxValidity < time.Second:
		return nil, fmt.Errorf("client: Policy.MaxValidity %v: must be at least one second", p.MaxValidity)
	}
	var err error
	if c.maxPer, err = parseLimit("MaxPerRequest", p.MaxPerRequest); err != nil {
		return nil, err
	}
	if c.budget, err = parseLimit("Budget", p.Budget); err != nil {
		return nil, err
	}
	if c.perHost, err = parseLimit("BudgetPerHost", p.BudgetPerHost); err != nil {
		return nil, err
	}
	for _, n := range p.AllowNetworks {
		n = n.Canonical()
		if _, err := x402.ParseNetworkPattern(string(n)); err != nil {
			return nil, fmt.Errorf("client: Policy.AllowNetworks: %w", err)
		}
		c.networks = append(c.networks, n)
	}
	if c.assets, err = addressSet("AllowAssets", p.AllowAssets); err != nil {
		return nil, err
	}
	if c.payTo, err = addressSet("AllowPayTo", p.AllowPayTo); err != nil {
		return nil, err
	}
	return c, nil
}

func addressSet(field string, list []string) (map[common.Address]bool, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := make(map[common.Address]bool, len(list))
	for _, s := range list {
		a, ok := parseAddress(strings.TrimSpace(s))
		if !ok {
			return nil, fmt.Errorf("client: Policy.%s: %q is not a 0x-prefixed 20-byte hex address", field, s)
		}
		m[a] = true
	}
	return m, nil
}

// hasMoneyLimit reports whether any limit needs the price of an option.
func (p *policy) hasMoneyLimit() bool {
	return p.maxPer != nil || p.budget != nil || p.perHost != nil
}

// limits returns the money limits that are set.
func (p *policy) limits() []*limit {
	var ls []*limit
	for _, l := range []*limit{p.maxPer, p.perHost, p.budget} {
		if l != nil {
			ls = append(ls, l)
		}
	}
	return ls
}

// onlyAtomicFor reports whether every money limit set is in atomic units
// of the asset of o: then o can be checked against them even when its
// decimals are unknown.
func (p *policy) onlyAtomicFor(o *Option) bool {
	for _, l := range p.limits() {
		if l.unit != unitAtomic || !l.appliesTo(o) {
			return false
		}
	}
	return true
}

// charge returns the amount of o counted in the budgets, and whether it is
// counted: its price in whole units if its decimals are known, and else,
// under limits in atomic units of its asset, its atomic amount. An option
// of an unknown asset paid without limits is not counted.
func (p *policy) charge(o *Option) (amount decimal, unit string, counted bool) {
	whole, atomic := o.whole, o.Requirements.Amount
	if o.channel != nil {
		whole, atomic = wholeUnits(o.deposit, o.dec), o.deposit
	}
	switch {
	case o.known:
		return whole, "", true
	case p.hasMoneyLimit():
		// check allowed it: every limit is in atomic units of its asset,
		// which is what is counted.
		return wholeUnits(atomic, 0), unitAtomic + " " + assetKey(o.Requirements.Network, o.Requirements.Asset), true
	case o.priced:
		return whole, "", true
	}
	return decimal{}, "", false
}

// usage is what was spent or reserved when an option is evaluated.
type usage struct {
	total, host decimal
	// unit is what the budget file counts (see budgetState.Unit), and
	// recorded whether it holds any amount in it yet.
	unit     string
	recorded bool
}

// check applies every rule but approval to o, with the budgets checked
// against u. It returns nil if o may be paid.
func (p *policy) check(o *Option, u usage) *PolicyError {
	refuse := func(rule string, format string, args ...any) *PolicyError {
		oc := *o
		pe := &PolicyError{Rule: rule, Price: o.Price, Option: &oc}
		if format != "" {
			pe.Err = fmt.Errorf(format, args...)
		}
		return pe
	}
	if _, unit, counted := p.charge(o); counted && u.recorded && unit != u.unit {
		// Amounts in different units are never added up.
		return refuse(RuleBudget, "%w: it counts %s, this payment %s; use another budget file", errBudgetUnit, unitName(u.unit), unitName(unit))
	}
	req := &o.Requirements
	if len(p.networks) > 0 {
		ok := false
		for _, pat := range p.networks {
			if req.Network.Matches(pat) {
				ok = true
				break
			}
		}
		if !ok {
			return refuse(RuleNetwork, "network %s is not allowed", req.Network)
		}
	}
	if p.assets != nil && (o.asset == common.Address{} || !p.assets[o.asset]) {
		return refuse(RuleAsset, "asset %s is not allowed", req.Asset)
	}
	if p.payTo != nil && (o.payTo == common.Address{} || !p.payTo[o.payTo]) {
		return refuse(RulePayTo, "recipient %s is not allowed", req.PayTo)
	}
	if !o.known && p.hasMoneyLimit() && !p.onlyAtomicFor(o) {
		return refuse(RuleUnknownAsset, "asset %s on %s is not in the client's assets registry, so its price cannot be checked against the limits: declare it with its decimals, or set the limits in atomic units of this asset", req.Asset, req.Network)
	}
	if l := p.maxPer; l != nil {
		if !l.appliesTo(o) {
			return p.symbolMismatch(refuse(RuleMaxPerRequest, ""), l, o)
		}
		if price, max := l.price(o); price.Cmp(max) > 0 {
			pe := refuse(RuleMaxPerRequest, "")
			pe.Limit = l.text
			return pe
		}
	}
	if l := p.perHost; l != nil {
		if pe := p.checkBudget(refuse(RuleBudgetPerHost, ""), l, o, u.host); pe != nil {
			return pe
		}
	}
	if l := p.budget; l != nil {
		if pe := p.checkBudget(refuse(RuleBudget, ""), l, o, u.total); pe != nil {
			return pe
		}
	}
	return nil
}

func (p *policy) symbolMismatch(pe *PolicyError, l *limit, o *Option) *PolicyError {
	pe.Limit = l.text
	unit := l.unit
	switch unit {
	case "USD":
		unit = "US dollars"
	case unitAtomic:
		unit = "atomic units of token " + l.asset + " on " + string(l.network)
	}
	pe.Err = fmt.Errorf("%w: the limit is in %s, the price in %s", ErrLimitCurrency, unit, symbolOrAddress(o))
	return pe
}

// checkBudget returns pe filled in if o's price does not fit in l after
// spent, and nil if it fits.
func (p *policy) checkBudget(pe *PolicyError, l *limit, o *Option, spent decimal) *PolicyError {
	if !l.appliesTo(o) {
		return p.symbolMismatch(pe, l, o)
	}
	if cost, max := l.cost(o); spent.Add(cost).Cmp(max) <= 0 {
		return nil
	}
	pe.Limit = l.text
	pe.Spent = spent.String()
	return pe
}

// moreRelevant returns the refusal to report of a and b; a wins ties, so
// refusals should be offered in order of preference.
func moreRelevant(a, b *PolicyError) *PolicyError {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case ruleRank(b.Rule) > ruleRank(a.Rule):
		return b
	}
	return a
}
