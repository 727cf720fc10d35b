package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/x402"
)

// The stack's batch-settlement route: GET /metered at $0.001, paid with
// vouchers on a payment channel. A payer deposits at least
// stackChannelMinDeposit ($1, a thousand calls) once; the server verifies
// each voucher locally and claims them in one transaction when the channel
// has been idle (devClaimIdle) at the next claim round (every
// devClaimInterval on `go402 dev`; the demo claims explicitly).
const (
	stackChannelPath       = "/metered"
	stackChannelMinDeposit = 1_000_000
	devClaimInterval       = 30 * time.Second
	devClaimIdle           = 5 * time.Second
)

// newStackChannels returns the batch-settlement server of the stack's
// channel route: channels kept in SQLite in a temporary directory removed
// at cleanup, the seller's key as receiver authorizer (it signs the claim
// batches), deposits, claims and settlements through fac.
func newStackChannels(ctx context.Context, nets *evm.Networks, fac x402.Facilitator, seller devnet.Account, logger *slog.Logger, cleanup *closers) (*channelserver.Server, error) {
	return openChannelServer(ctx, nets, fac, seller, stackChannelMinDeposit, logger, cleanup)
}

// openChannelServer is newStackChannels with the minimum deposit (atomic
// units) it announces.
func openChannelServer(ctx context.Context, nets *evm.Networks, fac x402.Facilitator, seller devnet.Account, minDeposit uint64, logger *slog.Logger, cleanup *closers) (*channelserver.Server, error) {
	auth, err := evm.NewPrivateKeySignerFromECDSA(seller.PrivateKey)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "go402-dev-channels-")
	if err != nil {
		return nil, err
	}
	cleanup.add(func() error { return os.RemoveAll(dir) })
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "channels.db"), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("opening the channel store: %w", err)
	}
	cleanup.add(store.Close)
	scheme := &batchsettlement.Server{Networks: nets, ReceiverAuthorizer: auth.Address(), MinDeposit: x402.NewAmount(minDeposit)}
	return channelserver.New(channelserver.Config{Scheme: scheme, Store: store, Facilitator: fac, Authorizer: auth, Logger: logger})
}

// devClaimConfig is how `go402 dev` claims: every devClaimInterval, the
// channels idle for devClaimIdle (never in the middle of a burst), and
// every unclaimed voucher at shutdown.
func devClaimConfig() channelserver.ClaimConfig {
	return channelserver.ClaimConfig{Interval: devClaimInterval, Idle: devClaimIdle}
}

// watchedClaimConfig is devClaimConfig with the withdrawal watcher: at each
// round the claimer reads the channels' state on st's devnet and claims a
// channel whose payer asked to withdraw at once, idle or not.
func watchedClaimConfig(st *stack) channelserver.ClaimConfig {
	cc := devClaimConfig()
	cc.Chain = &channelserver.ChainState{Caller: st.devnet.Client(), Network: st.network}
	return cc
}

// runStackClaims runs the claimer of srv until cleanup, which stops it
// (after its shutdown claim) before the facilitator and the channel store
// close (cleanup is LIFO).
func runStackClaims(ctx context.Context, srv *channelserver.Server, cc channelserver.ClaimConfig, logger *slog.Logger, cleanup *closers) {
	done := make(chan struct{})
	cctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(done)
		if err := srv.RunClaims(cctx, cc); err != nil {
			logger.Error("the shutdown claim failed", "err", err)
		}
	}()
	cleanup.add(func() error { stop(); <-done; return nil })
}
