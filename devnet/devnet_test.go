package devnet_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"

	"github.com/go402/go402/devnet"
)

func TestStartClose(t *testing.T) {
	t.Parallel()
	began := time.Now()
	d, err := devnet.Start(t.Context(), devnet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start time: %v", time.Since(began))
	if d.RPCURL() != "" {
		t.Errorf("RPCURL = %q without RPCAddr", d.RPCURL())
	}
	n, err := d.Client().BlockNumber(t.Context())
	if err != nil || n < 1 {
		t.Fatalf("BlockNumber = %d, %v; want the deployment block", n, err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := d.Mint(t.Context(), common.Address{1}, big.NewInt(1)); err == nil {
		t.Fatal("Mint after Close succeeded")
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]devnet.Config{
		"all interfaces":     {RPCAddr: "0.0.0.0:0"},
		"no host":            {RPCAddr: ":8545"},
		"public host name":   {RPCAddr: "example.com:8545"},
		"bad port":           {RPCAddr: "127.0.0.1:http"},
		"too many accounts":  {Accounts: devnet.MaxAccounts + 1},
		"negative accounts":  {Accounts: -1},
		"sub-second block":   {BlockTime: 500 * time.Millisecond},
		"negative block":     {BlockTime: -time.Second},
		"negative ETH":       {ETHBalance: big.NewInt(-1)},
		"negative token bal": {TokenBalance: big.NewInt(-1)},
		"sub-second lead":    {TimestampLead: 500 * time.Millisecond},
		"negative lead":      {TimestampLead: -time.Second},
	} {
		d, err := devnet.Start(t.Context(), cfg)
		if err == nil {
			d.Close()
			t.Errorf("%s: Start(%+v) succeeded", name, cfg)
			continue
		}
		if !errors.Is(err, devnet.ErrInvalidConfig) {
			t.Errorf("%s: error %v does not wrap ErrInvalidConfig", name, err)
		}
	}
}

func TestChainID(t *testing.T) {
	t.Parallel()
	for _, id := range []uint64{0, 84532} {
		t.Run(strconv.FormatUint(id, 10), func(t *testing.T) {
			t.Parallel()
			want := id
			if want == 0 {
				want = devnet.DefaultChainID
			}
			d := start(t, devnet.Config{ChainID: id, RPCAddr: "127.0.0.1:0"})
			if got := d.ChainID().Uint64(); got != want {
				t.Fatalf("ChainID() = %d, want %d", got, want)
			}
			if got, want := d.Network(), "eip155:"+strconv.FormatUint(want, 10); got != want {
				t.Fatalf("Network() = %q, want %q", got, want)
			}
			remote, err := ethclient.DialContext(t.Context(), d.RPCURL())
			if err != nil {
				t.Fatal(err)
			}
			defer remote.Close()
			for name, c := range map[string]*ethclient.Client{"in-process": d.Client(), "http": remote} {
				got, err := c.ChainID(t.Context())
				if err != nil || got.Uint64() != want {
					t.Fatalf("%s eth_chainId = %v, %v; want %d", name, got, err, want)
				}
			}

			// EIP-155 legacy and EIP-1559 transactions signed for this chain
			// id are accepted and mined; one signed for another chain is not.
			from := d.Accounts()[0]
			to := d.Accounts()[1].Address
			head, err := d.Client().HeaderByNumber(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			gasPrice := new(big.Int).Mul(head.BaseFee, big.NewInt(2))
			legacy, err := types.SignNewTx(from.PrivateKey, types.NewEIP155Signer(d.ChainID()), &types.LegacyTx{
				Nonce: 0, GasPrice: gasPrice, Gas: params.TxGas, To: &to, Value: big.NewInt(1),
			})
			if err != nil {
				t.Fatal(err)
			}
			dynamic, err := types.SignNewTx(from.PrivateKey, types.LatestSignerForChainID(d.ChainID()), &types.DynamicFeeTx{
				ChainID: d.ChainID(), Nonce: 1, GasTipCap: big.NewInt(params.GWei), GasFeeCap: new(big.Int).Add(gasPrice, big.NewInt(params.GWei)),
				Gas: params.TxGas, To: &to, Value: big.NewInt(2),
			})
			if err != nil {
				t.Fatal(err)
			}
			wrongID := new(big.Int).SetUint64(want + 1)
			wrong, err := types.SignNewTx(from.PrivateKey, types.NewEIP155Signer(wrongID), &types.LegacyTx{
				Nonce: 2, GasPrice: gasPrice, Gas: params.TxGas, To: &to, Value: big.NewInt(1),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.SendTransaction(t.Context(), wrong); err == nil {
				t.Fatal("transaction signed for another chain id was accepted")
			}
			for _, tx := range []*types.Transaction{legacy, dynamic} {
				if err := remote.SendTransaction(t.Context(), tx); err != nil {
					t.Fatalf("send type-%d tx: %v", tx.Type(), err)
				}
				r, err := d.WaitMined(t.Context(), tx.Hash())
				if err != nil || r.Status != types.ReceiptStatusSuccessful {
					t.Fatalf("type-%d tx: receipt %+v, %v", tx.Type(), r, err)
				}
			}
		})
	}
}

// TestAccounts checks the documented key derivation and the funding.
func TestAccounts(t *testing.T) {
	t.Parallel()
	eth := new(big.Int).Mul(big.NewInt(5), big.NewInt(params.Ether))
	d := start(t, devnet.Config{Accounts: 3, ETHBalance: eth, TokenBalance: big.NewInt(42_000_000)})

	accts := d.Accounts()
	if len(accts) != 3 {
		t.Fatalf("%d accounts, want 3", len(accts))
	}
	for i, a := range accts {
		seed := crypto.Keccak256([]byte("go402 devnet public dev-only seed/account/" + strconv.Itoa(i)))
		if got := crypto.FromECDSA(a.PrivateKey); !slices.Equal(got, seed) {
			t.Errorf("account %d key %x, want keccak256(seed/account/%d) = %x", i, got, i, seed)
		}
		if a.Address != crypto.PubkeyToAddress(a.PrivateKey.PublicKey) {
			t.Errorf("account %d address does not match its key", i)
		}
		bal, err := d.Client().BalanceAt(t.Context(), a.Address, nil)
		if err != nil || bal.Cmp(eth) != 0 {
			t.Errorf("account %d ETH balance %v, %v; want %v", i, bal, err, eth)
		}
		if got := balance(t, d, a.Address); got.Int64() != 42_000_000 {
			t.Errorf("account %d token balance %v, want 42000000", i, got)
		}
	}
	dep := d.Deployer()
	if seed := crypto.Keccak256([]byte("go402 devnet public dev-only seed/deployer")); !slices.Equal(crypto.FromECDSA(dep.PrivateKey), seed) {
		t.Error("deployer key does not follow the documented derivation")
	}
	if got := d.Token().Address; got != crypto.CreateAddress(dep.Address, 0) {
		t.Errorf("token at %s, want the deployer's first contract address", got)
	}
	if owner := call(t, d, "owner()").(common.Address); owner != dep.Address {
		t.Errorf("token owner %s, want deployer %s", owner, dep.Address)
	}

	// Accounts returns fresh key objects each call.
	if d.Accounts()[0].PrivateKey == accts[0].PrivateKey {
		t.Error("Accounts shares key objects between calls")
	}

	// Every index in range gives a valid, distinct key.
	seen := map[common.Address]bool{dep.Address: true}
	for i := range devnet.MaxAccounts {
		a, err := devnet.DevAccount(i)
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.Address] {
			t.Fatalf("account %d repeats an address", i)
		}
		seen[a.Address] = true
	}
	if _, err := devnet.DevAccount(devnet.MaxAccounts); err == nil {
		t.Error("DevAccount(MaxAccounts) succeeded")
	}
}

func TestDefaultFunding(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{})
	accts := d.Accounts()
	if len(accts) != devnet.DefaultAccounts {
		t.Fatalf("%d accounts, want %d", len(accts), devnet.DefaultAccounts)
	}
	last := accts[len(accts)-1].Address
	if got := balance(t, d, last); got.Cmp(big.NewInt(1_000_000_000_000)) != 0 {
		t.Errorf("token balance %v, want 1e12", got)
	}
	bal, err := d.Client().BalanceAt(t.Context(), last, nil)
	if err != nil || bal.Cmp(devnet.DefaultETHBalance()) != 0 {
		t.Errorf("ETH balance %v, %v, want 10000 ETH", bal, err)
	}
	// Mint helper.
	if err := d.Mint(t.Context(), last, big.NewInt(5)); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, d, last); got.Cmp(big.NewInt(1_000_000_000_005)) != 0 {
		t.Errorf("after Mint: %v", got)
	}
}

func TestInfoJSON(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{Accounts: 2, RPCAddr: "127.0.0.1:0", Name: "USD Coin"})
	b, err := json.Marshal(d.Info())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if got, want := keys(m), []string{"accounts", "chainId", "network", "permitToken", "rpcUrl", "token"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if m["chainId"] != float64(31337) || m["network"] != "eip155:31337" || m["rpcUrl"] != d.RPCURL() {
		t.Errorf("header fields: %s", b)
	}
	tok := m["token"].(map[string]any)
	if got, want := keys(tok), []string{"address", "decimals", "name", "version"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("token keys %v, want %v", got, want)
	}
	if tok["address"] != d.Token().Address.Hex() || tok["name"] != "USD Coin" || tok["version"] != "2" || tok["decimals"] != float64(6) {
		t.Errorf("token: %v", tok)
	}
	ptok := m["permitToken"].(map[string]any)
	if ptok["address"] != d.PermitToken().Address.Hex() || ptok["name"] != devnet.PermitTokenName || ptok["version"] != "1" || ptok["decimals"] != float64(6) {
		t.Errorf("permitToken: %v", ptok)
	}
	accts := m["accounts"].([]any)
	if len(accts) != 2 {
		t.Fatalf("%d accounts", len(accts))
	}
	for i, a := range accts {
		a := a.(map[string]any)
		if got, want := keys(a), []string{"address", "privateKey"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("account keys %v, want %v", got, want)
		}
		want := d.Accounts()[i]
		if a["address"] != want.Address.Hex() || a["privateKey"] != hexutil.Encode(crypto.FromECDSA(want.PrivateKey)) {
			t.Errorf("account %d: %v", i, a)
		}
	}
}

// TestRPCServer uses the node only through HTTP JSON-RPC, as another process
// would: nobody calls Commit, yet the transaction is mined.
func TestRPCServer(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{RPCAddr: "127.0.0.1:0"})
	ctx := t.Context()
	c, err := ethclient.DialContext(ctx, d.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	from := d.Accounts()[3]
	to := d.Accounts()[4].Address
	data, err := tokenABI.Pack("transfer", to, big.NewInt(1234))
	if err != nil {
		t.Fatal(err)
	}
	token := d.Token().Address
	nonce, err := c.PendingNonceAt(ctx, from.Address)
	if err != nil {
		t.Fatal(err)
	}
	gas, err := c.EstimateGas(ctx, ethereum.CallMsg{From: from.Address, To: &token, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	tip, err := c.SuggestGasTipCap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FeeHistory(ctx, 1, nil, []float64{50}); err != nil {
		t.Fatalf("eth_feeHistory: %v", err)
	}
	if _, err := c.SuggestGasPrice(ctx); err != nil {
		t.Fatalf("eth_gasPrice: %v", err)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignNewTx(from.PrivateKey, types.LatestSignerForChainID(d.ChainID()), &types.DynamicFeeTx{
		ChainID: d.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: &token, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	before := balance(t, d, to)
	if err := c.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	// Poll over HTTP only.
	var r *types.Receipt
	for r == nil {
		r, err = c.TransactionReceipt(ctx, tx.Hash())
		if errors.Is(err, ethereum.NotFound) {
			select {
			case <-ctx.Done():
				t.Fatal("transaction sent over JSON-RPC was never mined")
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatal("transfer reverted")
	}
	if got := balance(t, d, to); new(big.Int).Sub(got, before).Int64() != 1234 {
		t.Fatalf("balance moved by %v, want 1234", new(big.Int).Sub(got, before))
	}
	n, err := c.BlockNumber(ctx)
	if err != nil || n != r.BlockNumber.Uint64() {
		t.Fatalf("eth_blockNumber = %d, %v; want %d", n, err, r.BlockNumber)
	}
	if got, err := c.NonceAt(ctx, from.Address, nil); err != nil || got != nonce+1 {
		t.Fatalf("eth_getTransactionCount = %d, %v", got, err)
	}
}

func TestBlockTime(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{BlockTime: time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	first, err := d.Client().BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		n, err := d.Client().BlockNumber(ctx)
		if err != nil {
			t.Fatalf("no interval blocks: %v", err)
		}
		if n >= first+2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Interval blocks keep the chain's clock close to the wall clock.
	head, err := d.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lag := time.Now().Unix() - int64(head.Time); lag < -int64(devnet.MaxTimestampLead/time.Second) || lag > 3 {
		t.Errorf("head timestamp %d is %ds behind the wall clock", head.Time, lag)
	}
}

// TestNoEmptyBlocksWithoutBlockTime checks that on-demand mode only mines for
// transactions.
func TestNoEmptyBlocksWithoutBlockTime(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{})
	n1, err := d.Client().BlockNumber(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	n2, err := d.Client().BlockNumber(t.Context())
	if err != nil || n2 != n1 {
		t.Fatalf("block number went %d -> %d (%v) with no transactions", n1, n2, err)
	}
}

// TestConcurrentTransactions sends from many goroutines at once; every
// transaction must be mined, and timestamps must stay near the wall clock.
func TestConcurrentTransactions(t *testing.T) {
	t.Parallel()
	d := start(t, devnet.Config{Accounts: 8})
	accts := d.Accounts()
	sink := common.Address{0xee}
	const perAccount = 4
	var wg sync.WaitGroup
	errs := make(chan error, len(accts)*perAccount)
	for _, a := range accts {
		wg.Go(func() {
			for range perAccount {
				data, err := tokenABI.Pack("transfer", sink, big.NewInt(10))
				if err != nil {
					errs <- err
					return
				}
				r, err := transact(t, d, a.PrivateKey, data, 0)
				if err != nil {
					errs <- err
					return
				}
				if r.Status != types.ReceiptStatusSuccessful {
					errs <- errors.New("transfer reverted")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := balance(t, d, sink); got.Int64() != int64(len(accts)*perAccount*10) {
		t.Fatalf("sink balance %v, want %d", got, len(accts)*perAccount*10)
	}
	head, err := d.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lead := int64(head.Time) - time.Now().Unix()
	t.Logf("%d blocks, head timestamp lead %ds", head.Number.Uint64(), lead)
	if lead > int64(devnet.MaxTimestampLead/time.Second) {
		t.Errorf("head timestamp leads the wall clock by %ds", lead)
	}
}

func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		d, err := devnet.Start(b.Context(), devnet.Config{RPCAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTimestampLead: block timestamps grow by at least a second per block,
// so a burst of blocks runs ahead of the wall clock. The default caps the
// lead at MaxTimestampLead; a larger TimestampLead lets the burst go on.
func TestTimestampLead(t *testing.T) {
	t.Parallel()
	// With the default lead, 13 blocks minted back to back (more than
	// MaxTimestampLead's 10 s) never take the head more than 10 s ahead
	// of the clock: the miner waits.
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 1})
	if err != nil {
		t.Fatal(err)
	}
	to := d.Accounts()[0].Address
	for range 13 {
		if err := d.Mint(t.Context(), to, big.NewInt(1)); err != nil {
			t.Fatal(err)
		}
	}
	if lead := headLead(t, d); lead > devnet.MaxTimestampLead {
		t.Errorf("default lead: head %v ahead of the clock, more than %v", lead, devnet.MaxTimestampLead)
	}
	d.Close()

	// With a lead of an hour, blocks minted back to back take the head
	// past 10 s ahead of the clock. How many blocks that takes depends on
	// how fast this machine mints them, so mint until it happens, within
	// a bound that only a miner still capped at 10 s reaches.
	d, err = devnet.Start(t.Context(), devnet.Config{Accounts: 1, TimestampLead: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	to = d.Accounts()[0].Address
	const maxBlocks = 200
	for i := 1; ; i++ {
		if err := d.Mint(t.Context(), to, big.NewInt(1)); err != nil {
			t.Fatal(err)
		}
		if headLead(t, d) > devnet.MaxTimestampLead {
			break
		}
		if i == maxBlocks {
			t.Fatalf("TimestampLead 1h: head still at most %v ahead after %d blocks", devnet.MaxTimestampLead, maxBlocks)
		}
	}
}

// headLead is how far the head's timestamp is ahead of the wall clock.
func headLead(t *testing.T, d *devnet.Devnet) time.Duration {
	t.Helper()
	head, err := d.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(int64(head.Time)-time.Now().Unix()) * time.Second
}
