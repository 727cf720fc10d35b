package evm_test

import (
	"context"
	"math/big"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// gateBatches holds every batch request until release is closed, and
// records how many eth_calls each request carried.
type gateBatches struct {
	next    evm.BatchCaller
	release chan struct{}
	entered atomic.Int64
	mu      sync.Mutex
	sizes   []int
}

func (g *gateBatches) BatchCallContext(ctx context.Context, b []rpc.BatchElem) error {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(b))
	g.mu.Unlock()
	g.entered.Add(1)
	<-g.release
	return g.next.BatchCallContext(ctx, b)
}

// waitFor polls cond until it holds (or fails the test after a while).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// verifyInOneBatch verifies payments concurrently with all their chain
// reads in one batch request: it first fills every batch slot with a
// filler verify held at the gate, so that the payments queue up together.
func verifyInOneBatch(t *testing.T, w *world, gate *gateBatches, filler []*x402.Payment, payments []*x402.Payment) []*x402.VerifyResponse {
	t.Helper()
	ctx := t.Context()
	var wg sync.WaitGroup
	for i, p := range filler {
		wg.Go(func() {
			if v, err := w.fac.Verify(ctx, p); err != nil || !v.IsValid {
				t.Errorf("filler verify: %+v %v", v, err)
			}
		})
		waitFor(t, "the filler's batch request", func() bool { return gate.entered.Load() == int64(i+1) })
	}
	results := make([]*x402.VerifyResponse, len(payments))
	for i, p := range payments {
		wg.Go(func() {
			var err error
			if results[i], err = w.fac.Verify(ctx, p); err != nil {
				t.Errorf("verify %d: %v", i, err)
			}
		})
	}
	waitFor(t, "the payments' reads to queue", func() bool { return evm.QueuedReads(w.fac) == 3*len(payments) })
	close(gate.release)
	wg.Wait()
	if got := gate.entered.Load(); got != int64(len(filler)+1) {
		t.Fatalf("%d batch requests, want %d (the fillers' and one for the payments)", got, len(filler)+1)
	}
	return results
}

// fundedPayer is a fresh payer holding exactly amount of the token.
func (w *world) fundedPayer(t *testing.T, amount int64) *evm.ExactClient {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if amount > 0 {
		if err := w.net.Mint(t.Context(), crypto.PubkeyToAddress(key.PublicKey), big.NewInt(amount)); err != nil {
			t.Fatal(err)
		}
	}
	return newClient(t, key)
}

// TestVerifyBatchedVerdicts: verifies whose reads share one batch request
// (and so, through Multicall3, aggregate3 calls) each get the verdict they
// get alone: valid, nonce used, insufficient balance, simulation revert,
// and two payments of one payer who can afford either but not both (each
// is valid alone, so each must be valid here, judged against the same
// pre-state, not after the other's simulated transfer).
func TestVerifyBatchedVerdicts(t *testing.T) {
	for _, multicall := range []bool{true, false} {
		t.Run(map[bool]string{true: "multicall", false: "plain"}[multicall], func(t *testing.T) {
			gate := &gateBatches{release: make(chan struct{})}
			w := newWorld(t, 0, func(c *evm.ExactFacilitatorConfig) {
				gate.next = c.Backend.(interface{ Client() *rpc.Client }).Client()
				c.RPC = gate
				c.NoReadMulticall = !multicall
			})
			req := w.requirements(t, "$0.001") // 1000 atomic units
			zeroPayTo := req
			zeroPayTo.PayTo = (common.Address{}).Hex()
			used := pay(t, w.client, req)
			close(gate.release) // let the settlement's reads through
			if s, err := w.fac.Settle(t.Context(), used, x402.SettleHooks{}); err != nil || !s.Success {
				t.Fatalf("settle: %+v %v", s, err)
			}
			gate.release = make(chan struct{})
			gate.entered.Store(0)

			exact := w.fundedPayer(t, 1000)
			payments := []*x402.Payment{
				0: pay(t, w.client, req),
				1: used,
				2: pay(t, exact, req),
				3: pay(t, w.fundedPayer(t, 0), req),
				4: pay(t, w.client, zeroPayTo),
				5: pay(t, exact, req),
				6: pay(t, w.client, req),
			}
			want := []x402.Reason{0: "", 1: x402.ReasonExactEVMNonceAlreadyUsed, 2: "", 3: x402.ReasonExactEVMInsufficientBalance,
				4: x402.ReasonExactEVMSimulationFailed, 5: "", 6: ""}
			filler := make([]*x402.Payment, 4)
			for i := range filler {
				filler[i] = pay(t, w.client, req)
			}
			got := verifyInOneBatch(t, w, gate, filler, payments)
			for i, v := range got {
				if v == nil {
					continue
				}
				if v.IsValid != (want[i] == "") || v.InvalidReason != want[i] {
					t.Errorf("payment %d: valid %v reason %q (%s), want reason %q", i, v.IsValid, v.InvalidReason, v.InvalidMessage, want[i])
				}
			}
			last := gate.sizes[len(gate.sizes)-1]
			if multicall && last >= 3*len(payments) {
				t.Errorf("the payments' batch request had %d eth_calls for %d verifies: not aggregated", last, len(payments))
			}
			t.Logf("%d verifies in one batch request of %d eth_calls", len(payments), last)
		})
	}
}

// BenchmarkVerifyDevnet verifies concurrently (32 in flight, 16 payers)
// against the devnet over loopback JSON-RPC, the node included in the
// process's CPU: with the reads folded into aggregate3 calls and without.
func BenchmarkVerifyDevnet(b *testing.B) {
	for _, multicall := range []bool{true, false} {
		b.Run(map[bool]string{true: "multicall", false: "plain"}[multicall], func(b *testing.B) {
			ctx := b.Context()
			net, err := devnet.Start(ctx, devnet.Config{Accounts: 16, RPCAddr: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			defer net.Close()
			tok := net.Token()
			asset := evm.Asset{Address: tok.Address, Symbol: tok.Symbol, Name: tok.Name, Version: tok.Version, Decimals: tok.Decimals}
			rpcClient, err := ethclient.DialContext(ctx, net.RPCURL())
			if err != nil {
				b.Fatal(err)
			}
			defer rpcClient.Close()
			fac, err := evm.NewExactFacilitator(ctx, evm.ExactFacilitatorConfig{Network: x402.Network(net.Network()), Backend: rpcClient,
				Assets: []evm.Asset{asset}, NoReadMulticall: !multicall})
			if err != nil {
				b.Fatal(err)
			}
			nets := &evm.Networks{}
			if err := net.Register(nets); err != nil {
				b.Fatal(err)
			}
			price, _ := x402.ParsePrice("$0.001")
			accts := net.Accounts()
			req, err := nets.Requirements(x402.Network(net.Network()), price, accts[0].Address, 300)
			if err != nil {
				b.Fatal(err)
			}
			payments := make([]*x402.Payment, 256)
			for i := range payments {
				payments[i] = benchPay(b, accts[i%len(accts)], req)
			}
			var next atomic.Int64
			b.SetParallelism(16) // 32 in flight on 2 CPUs
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p := payments[next.Add(1)%int64(len(payments))]
					if v, err := fac.Verify(ctx, p); err != nil || !v.IsValid {
						b.Errorf("verify: %+v %v", v, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
			// CPU time, node included, is steadier than throughput on a
			// shared machine.
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/verify")
		})
	}
}

// benchPay is pay for a benchmark: payer signs a v2 payment for req.
func benchPay(b *testing.B, payer devnet.Account, req x402.PaymentRequirements) *x402.Payment {
	b.Helper()
	s, err := evm.NewPrivateKeySignerFromECDSA(payer.PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: s})
	if err != nil {
		b.Fatal(err)
	}
	obj, err := c.CreatePayload(b.Context(), x402.V2, req)
	if err != nil {
		b.Fatal(err)
	}
	p, err := x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj}, &req).Payment()
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
