package facilitator_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator"
	"github.com/go402/go402/ledger/sqlite"
	"github.com/go402/go402/x402"
)

// BenchmarkVerifyParallel verifies distinct authorizations of one payer
// (who can afford them all) from many goroutines, against the devnet and
// a SQLite ledger: chain reads, the reservation and the ledger event.
func BenchmarkVerifyParallel(b *testing.B) {
	ctx := b.Context()
	net, err := devnet.Start(ctx, devnet.Config{Accounts: 5})
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "ledger.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	nets := &evm.Networks{}
	if err := net.Register(nets); err != nil {
		b.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.001")
	network := x402.Network(net.Network())
	req, err := nets.Requirements(network, price, net.Accounts()[1].Address, 60)
	if err != nil {
		b.Fatal(err)
	}
	sender, err := evm.NewSender(ctx, evm.SenderConfig{Backend: net.Client(), Key: net.Accounts()[3].PrivateKey, ChainID: net.ChainID(), PollInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	scheme, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: network, Backend: net.Client(), Sender: sender, Assets: net.NetworkConfig().Assets})
	if err != nil {
		b.Fatal(err)
	}
	fac, err := facilitator.New(facilitator.Config{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	if err := fac.Register(x402.V2, network, scheme); err != nil {
		b.Fatal(err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(net.Accounts()[0].PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	client, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		b.Fatal(err)
	}
	const pool = 1024
	reqs := make([]*x402.FacilitatorRequest, pool)
	for i := range reqs {
		obj, err := client.CreatePayload(ctx, x402.V2, req)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj}, &req)
	}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := fac.Verify(ctx, reqs[int(n.Add(1)-1)%pool])
			if err != nil || !r.IsValid {
				b.Errorf("verify: %+v, %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}
