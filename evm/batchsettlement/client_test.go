package batchsettlement_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// Two stores on one file (two processes) updating the same record
// concurrently lose no update: the file lock serialises them.
func TestChannelStoreSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "channels.json")
	a, err := batchsettlement.OpenChannelStore(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := batchsettlement.OpenChannelStore(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := common.HexToHash("0x01")
	var wg sync.WaitGroup
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, "eip155:8453", id, func(rec batchsettlement.ChannelRecord, ok bool) (*batchsettlement.ChannelRecord, error) {
				rec.Charged, _ = rec.Charged.Add(x402.NewAmount(1))
				return &rec, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rec, ok, err := a.Get(ctx, "eip155:8453", id)
	if err != nil || !ok || rec.Charged != x402.NewAmount(40) || rec.ChannelID != id {
		t.Fatalf("rec %+v ok %v err %v", rec, ok, err)
	}
	list, err := b.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	// Deleting.
	if err := a.Update(ctx, "eip155:8453", id, func(batchsettlement.ChannelRecord, bool) (*batchsettlement.ChannelRecord, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, "eip155:8453", id); ok {
		t.Fatal("deleted record still there")
	}
}

// A corrupt or unknown channel file is refused rather than read as empty
// (which would lose the record of deposits).
func TestChannelStoreRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"corrupt": "{not json",
		"version": `{"version": 9, "channels": {}}`,
	} {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := batchsettlement.OpenChannelStore(p); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

// The payer sizes deposits like @x402/evm: the server's minDeposit, else
// a multiple of the price, never less than what the call needs, capped by
// MaxDeposit.
func TestPayerFunding(t *testing.T) {
	s, err := evm.NewPrivateKeySigner(exampleKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := &batchsettlement.Server{ReceiverAuthorizer: common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")}
	price, _ := x402.ParsePrice("$0.001")
	req, err := srv.Requirements("eip155:84532", price, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 60)
	if err != nil {
		t.Fatal(err)
	}
	noMin := &batchsettlement.Server{ReceiverAuthorizer: srv.ReceiverAuthorizer, NoMinDeposit: true}
	reqNoMin, err := noMin.Requirements("eip155:84532", price, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		req        x402.PaymentRequirements
		cfg        batchsettlement.PayerConfig
		want, need uint64
		err        error
	}{
		{"announced minDeposit", req, batchsettlement.PayerConfig{}, 10_000, 1000, nil},
		{"default multiplier", reqNoMin, batchsettlement.PayerConfig{}, 5000, 1000, nil},
		{"multiplier 3", reqNoMin, batchsettlement.PayerConfig{DepositMultiplier: 3}, 3000, 1000, nil},
		{"capped", req, batchsettlement.PayerConfig{MaxDeposit: x402.NewAmount(2500)}, 2500, 1000, nil},
		{"cap below need", req, batchsettlement.PayerConfig{MaxDeposit: x402.NewAmount(999)}, 0, 0, batchsettlement.ErrDepositCap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Signer = s
			p, err := batchsettlement.NewPayer(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			want, need, err := p.Funding(context.Background(), x402.V2, tc.req)
			if tc.err != nil {
				if err == nil || !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || want != x402.NewAmount(tc.want) || need != x402.NewAmount(tc.need) {
				t.Fatalf("want %s need %s err %v", want, need, err)
			}
		})
	}
	p, _ := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: s})
	if err := p.CanPay(x402.V1, req); err == nil {
		t.Fatal("v1 payable")
	}
}

// A payer pays a batch-settlement route: it asks how much the payment takes
// from the wallet, signs with that deposit, and hands the answer back so
// that the channel advances on what the server reports.
func ExamplePayer() {
	s, _ := evm.NewPrivateKeySigner(exampleKey)
	store := batchsettlement.NewMemoryChannelStore() // or OpenChannelStore(path)
	p, _ := batchsettlement.NewPayer(batchsettlement.PayerConfig{Signer: s, Store: store})
	srv := &batchsettlement.Server{ReceiverAuthorizer: common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")}
	price, _ := x402.ParsePrice("$0.001")
	req, _ := srv.Requirements("eip155:84532", price, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 60)

	ctx := context.Background()
	want, _, _ := p.Funding(ctx, x402.V2, req)
	payload, _ := p.CreateFundedPayload(ctx, x402.V2, req, want)
	pl, _ := batchsettlement.ParseChannelPayload(payload)
	fmt.Println(pl.Type(), "of", want, "with a voucher for", pl.SignedVoucher().MaxClaimableAmount)
	// ... send it; then, whatever the answer:
	_, _ = p.Conclude(ctx, x402.V2, req, payload, x402.PaymentAnswer{})
	// Output: deposit of 10000 with a voucher for 1000
}
