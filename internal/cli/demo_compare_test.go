package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/go402/go402/evm/batchsettlement"
)

// The demo's comparison is real: 100 exact calls are 100 settlements of
// 68,574 gas each; 100 batch-settlement calls are exactly one deposit, one
// claim and one settle, mined successfully, whose receipts' gas is the
// table's; the payee receives exactly 100 × $0.001 each time.
func TestDemoCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet test")
	}
	var cleanup closers
	defer func() { _ = cleanup.close() }()
	st, err := startStack(t.Context(), &demoSteps{}, slog.New(slog.DiscardHandler), &cleanup, stackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := demoCompare(t.Context(), &demoSteps{}, st, 100)
	if err != nil {
		t.Fatal(err)
	}
	exact, channel := runs[0], runs[1]
	if exact.Scheme != "exact" || channel.Scheme != batchsettlement.Scheme || exact.Calls != 100 || channel.Calls != 100 {
		t.Fatalf("runs %+v %+v", exact, channel)
	}
	// One settlement per exact call, of about 68,574 gas each (the
	// calldata's zero bytes vary by a few gas).
	if len(exact.Transactions) != 100 || exact.GasPerCall < 68_400 || exact.GasPerCall > 68_800 {
		t.Errorf("exact: %d transactions, %d gas (%.1f per call); want 100 settlements of ~68,574 gas", len(exact.Transactions), exact.GasTotal, exact.GasPerCall)
	}
	if gas := receiptsGas(t, st, exact.Transactions); gas != exact.GasTotal {
		t.Errorf("exact gas %d per the receipts, table %d", gas, exact.GasTotal)
	}
	if exact.PayeeReceived != "100000" || channel.PayeeReceived != "100000" {
		t.Errorf("payee received %s (exact) and %s (batch-settlement), want 100000 each", exact.PayeeReceived, channel.PayeeReceived)
	}
	if exact.P50Ms <= 0 || channel.P50Ms <= 0 || exact.P99Ms < exact.P50Ms || channel.P99Ms < channel.P50Ms {
		t.Errorf("latencies exact %.2f/%.2f ms, batch-settlement %.2f/%.2f ms", exact.P50Ms, exact.P99Ms, channel.P50Ms, channel.P99Ms)
	}
	if len(channel.Transactions) != 3 {
		t.Fatalf("batch-settlement: transactions %v, want a deposit, a claim and a settle", channel.Transactions)
	}
	// Deposit, claim, settle: each mined successfully, the claim and the
	// settle sent to x402BatchSettlement, their gas the table's.
	gas := receiptsGas(t, st, channel.Transactions)
	for i, tx := range channel.Transactions {
		sent, _, err := st.devnet.Client().TransactionByHash(t.Context(), common.HexToHash(tx))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && (sent.To() == nil || *sent.To() != batchsettlement.SettlementContract()) {
			t.Errorf("transaction %d sent to %v, want x402BatchSettlement", i, sent.To())
		}
	}
	if gas != channel.GasTotal || channel.GasPerCall != float64(gas)/100 || channel.GasPerCall >= exact.GasPerCall/10 {
		t.Errorf("batch-settlement gas %d per the receipts, table %d (%.1f per call)", gas, channel.GasTotal, channel.GasPerCall)
	}
	// Nothing is left to claim.
	if res, err := st.channels.Claim(t.Context(), devClaimConfig(), true); err != nil || res.Vouchers != 0 {
		t.Errorf("a second claim: %+v %v", res, err)
	}
}

// receiptsGas checks that every transaction was mined successfully and
// returns their total gasUsed.
func receiptsGas(t *testing.T, st *stack, txs []string) uint64 {
	t.Helper()
	var gas uint64
	for i, tx := range txs {
		r, err := st.devnet.Client().TransactionReceipt(t.Context(), common.HexToHash(tx))
		if err != nil || r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("transaction %d %s: %v %+v", i, tx, err, r)
		}
		gas += r.GasUsed
	}
	return gas
}

// The text demo prints the comparison as a table.
func TestDemoCompareTable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run(t.Context(), []string{"demo", "--calls", "1", "--compare", "3"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, line := range []string{"3 calls at $0.001            exact              batch-settlement", "on-chain transactions     3                  3 (deposit, claim, settle)",
		"latency per call, p50", "payee received            0.003 USDC         0.003 USDC"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}
