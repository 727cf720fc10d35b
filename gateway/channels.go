package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/postgres"
	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/x402"
)

// Route schemes, as written in the configuration.
const (
	SchemeExact           = evm.SchemeExact
	SchemeBatchSettlement = batchsettlement.Scheme
)

// Channels configures the payment channels of batch-settlement routes (key
// "channels"): where the channels are kept, who signs claims and refunds,
// and when vouchers are claimed. It is read when the first
// batch-settlement route is built; changing it needs a restart.
type Channels struct {
	// SQLite is the channel store's SQLite file. Key "channels.sqlite".
	// Exactly one of SQLite and Postgres is set when a route uses
	// batch-settlement.
	SQLite string
	// Postgres is a PostgreSQL connection string, for several gateway
	// instances sharing the channels. Key "channels.postgres".
	Postgres string
	// ReceiverAuthorizerKeyEnv names the environment variable holding the
	// hex private key that signs claim batches and refunds. Empty means
	// the role is delegated to the facilitator: the receiverAuthorizer its
	// /supported advertises for batch-settlement. Key
	// "channels.receiverAuthorizerKeyEnv".
	ReceiverAuthorizerKeyEnv string
	// WithdrawDelaySeconds is the channels' withdrawal delay announced to
	// payers, 900 s to 30 days; 0 means 900. Key
	// "channels.withdrawDelaySeconds".
	WithdrawDelaySeconds int64
	// ClaimIntervalSeconds is how often idle channels' vouchers are
	// claimed and settled to payTo; 0 means 60. Key
	// "channels.claimIntervalSeconds".
	ClaimIntervalSeconds int
	// ClaimIdleSeconds is how long a channel must be idle before the
	// interval claims it; 0 means channelserver's default. Key
	// "channels.claimIdleSeconds".
	ClaimIdleSeconds int
	// ClaimThreshold, in the asset's atomic units, claims every channel
	// at once when that much has been charged since the last claim; empty
	// means none. Key "channels.claimThreshold".
	ClaimThreshold string
}

// batch reports whether route r is paid by batch-settlement.
func (r *Route) batch() bool { return r.Scheme == SchemeBatchSettlement }

// routeScheme is the scheme route r is paid with.
func (r *Route) routeScheme() string {
	if r.Scheme == "" {
		return SchemeExact
	}
	return r.Scheme
}

// usesChannels reports whether a priced route of c uses batch-settlement.
func (c *Config) usesChannels() bool {
	for i := range c.Routes {
		if !c.Routes[i].Free() && c.Routes[i].batch() {
			return true
		}
	}
	return false
}

// validate checks the channels section when a route needs it.
func (ch *Channels) validate(v *validator, c *Config) {
	if !c.usesChannels() {
		return
	}
	if (ch.SQLite == "") == (ch.Postgres == "") {
		v.fail("channels", "a batch-settlement route needs a channel store: set exactly one of channels.sqlite and channels.postgres")
	}
	if d := ch.WithdrawDelaySeconds; d != 0 && (d < batchsettlement.MinWithdrawDelay || d > batchsettlement.MaxWithdrawDelay) {
		v.fail("channels.withdrawDelaySeconds", "must be between %d and %d", batchsettlement.MinWithdrawDelay, batchsettlement.MaxWithdrawDelay)
	}
	if ch.ClaimIntervalSeconds < 0 || ch.ClaimIdleSeconds < 0 {
		v.fail("channels", "claimIntervalSeconds and claimIdleSeconds must not be negative")
	}
	if ch.ClaimThreshold != "" {
		if _, err := x402.ParseAmount(ch.ClaimThreshold); err != nil {
			v.fail("channels.claimThreshold", "%v", err)
		}
	}
}

// channelState is the gateway's channel server, built once.
type channelState struct {
	srv   *channelserver.Server
	store channels.Store
	claim channelserver.ClaimConfig
	key   string // what it was built from
}

// channelServer returns the gateway's channel server for cfg, building it
// on first use. g.mu is held.
func (g *Gateway) channelServer(ctx context.Context, cfg *Config, fac x402.Facilitator, nets *evm.Networks) (*channelserver.Server, error) {
	ch := cfg.Channels
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%d", ch.SQLite, ch.Postgres, ch.ReceiverAuthorizerKeyEnv, ch.WithdrawDelaySeconds)
	if g.chans != nil {
		if g.chans.key != key {
			return nil, cfg.fieldError("channels", "cannot change the channel store, receiver authorizer or withdraw delay while running; restart")
		}
		return g.chans.srv, nil
	}
	if fac == nil {
		return nil, cfg.fieldError("facilitator", "batch-settlement routes need a facilitator")
	}
	var signer evm.Signer
	var authorizer common.Address
	if env := ch.ReceiverAuthorizerKeyEnv; env != "" {
		getenv := cfg.env
		if getenv == nil {
			getenv = os.Getenv
		}
		s, err := evm.NewPrivateKeySigner(getenv(env))
		if err != nil {
			return nil, cfg.fieldError("channels.receiverAuthorizerKeyEnv", "environment variable %s: not a private key", env)
		}
		signer, authorizer = s, s.Address()
	} else {
		a, err := delegatedAuthorizer(ctx, cfg, fac)
		if err != nil {
			return nil, err
		}
		authorizer = a
	}
	store, err := openChannelStore(ctx, &ch)
	if err != nil {
		return nil, cfg.fieldError("channels", "%v", err)
	}
	scheme := &batchsettlement.Server{Networks: nets, ReceiverAuthorizer: authorizer, WithdrawDelay: uint64(ch.WithdrawDelaySeconds)}
	srv, err := channelserver.New(channelserver.Config{Scheme: scheme, Store: store, Facilitator: fac, Authorizer: signer, Logger: g.log.With("component", "channels")})
	if err != nil {
		_ = store.Close()
		return nil, cfg.fieldError("channels", "%v", err)
	}
	cc := channelserver.ClaimConfig{
		Interval: time.Duration(ch.ClaimIntervalSeconds) * time.Second,
		Idle:     time.Duration(ch.ClaimIdleSeconds) * time.Second,
	}
	if ch.ClaimThreshold != "" {
		cc.Threshold, _ = x402.ParseAmount(ch.ClaimThreshold) // valid: checked by Validate
	}
	g.chans = &channelState{srv: srv, store: store, claim: cc, key: key}
	return srv, nil
}

// delegatedAuthorizer is the receiverAuthorizer fac advertises for
// batch-settlement on the networks of cfg's batch-settlement routes.
func delegatedAuthorizer(ctx context.Context, cfg *Config, fac x402.Facilitator) (common.Address, error) {
	sup, err := fac.Supported(ctx)
	if err != nil {
		return common.Address{}, cfg.fieldError("channels.receiverAuthorizerKeyEnv", "no receiver-authorizer key is set and the facilitator's /supported failed: %v", err)
	}
	var found common.Address
	for _, k := range sup.Kinds {
		if k.X402Version != x402.V2 || k.Scheme != SchemeBatchSettlement {
			continue
		}
		if s, ok := k.Extra.StringField("receiverAuthorizer"); ok && common.IsHexAddress(s) && common.HexToAddress(s) != (common.Address{}) {
			found = common.HexToAddress(s)
			break
		}
	}
	if found == (common.Address{}) {
		return found, cfg.fieldError("channels.receiverAuthorizerKeyEnv", "no receiver-authorizer key is set and the facilitator advertises no batch-settlement receiverAuthorizer")
	}
	return found, nil
}

func openChannelStore(ctx context.Context, ch *Channels) (channels.Store, error) {
	if ch.Postgres != "" {
		return postgres.Open(ctx, postgres.Config{URL: ch.Postgres})
	}
	return sqlite.Open(ctx, sqlite.Config{Path: ch.SQLite})
}

// registerChannels registers srv as the batch-settlement scheme server of
// every network a batch-settlement route of cfg is paid on.
func registerChannels(cfg *Config, schemes *x402.Registry[x402.SchemeServer], srv *channelserver.Server) error {
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		if r.Free() || !r.batch() {
			continue
		}
		for _, n := range cfg.EffectiveNetworks(r) {
			if _, _, err := schemes.Lookup(x402.V2, SchemeBatchSettlement, n); err == nil {
				continue
			}
			if err := schemes.Register(x402.V2, SchemeBatchSettlement, n, srv); err != nil {
				return fmt.Errorf("gateway: registering batch-settlement on %s: %w", n, err)
			}
		}
	}
	return nil
}

// ClaimChannels claims every unclaimed batch-settlement voucher now and
// settles the claimed amounts to the receivers. Without batch-settlement
// routes it does nothing.
func (g *Gateway) ClaimChannels(ctx context.Context) (channelserver.ClaimResult, error) {
	g.mu.Lock()
	cs := g.chans
	g.mu.Unlock()
	if cs == nil {
		return channelserver.ClaimResult{}, nil
	}
	return cs.srv.Claim(ctx, cs.claim, true)
}

// runClaims runs the channel claimer until ctx ends (then claims every
// voucher left); nothing without batch-settlement routes.
func (g *Gateway) runClaims(ctx context.Context) error {
	g.mu.Lock()
	cs := g.chans
	g.mu.Unlock()
	if cs == nil {
		return nil
	}
	if err := cs.srv.RunClaims(ctx, cs.claim); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("gateway: channel claims: %w", err)
	}
	return nil
}

func (g *Gateway) closeChannels() error {
	if g.chans == nil {
		return nil
	}
	err := g.chans.store.Close()
	g.chans = nil
	if err != nil {
		return fmt.Errorf("gateway: closing the channel store: %w", err)
	}
	return nil
}
