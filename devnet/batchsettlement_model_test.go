package devnet_test

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go402/go402/evm"
)

// bsModel is the escrow's accounting for a few channels of one payer and
// receiver, kept in Go alongside the contract.
type bsModel struct {
	balance, claimed, refundNonce []int64
	pending                       []int64 // pending withdrawal amount, -1 for none
	receiverClaimed, settled      int64
}

func (m *bsModel) unclaimed(i int) int64 { return m.balance[i] - m.claimed[i] }

// TestBatchSettlementModel drives random deposits, claims, refunds,
// withdrawals and settlements against the contract and a Go model of the
// scheme's rules, checking after every step that the chain agrees with the
// model, that a step the model refuses reverts with the right error, and
// that the escrow always holds exactly what it owes.
func TestBatchSettlementModel(t *testing.T) {
	t.Parallel()
	e := newBSEnv(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	const channels, steps = 3, 40

	cfgs := make([]channelConfig, channels)
	m := &bsModel{
		balance: make([]int64, channels), claimed: make([]int64, channels), refundNonce: make([]int64, channels),
		pending: make([]int64, channels),
	}
	for i := range cfgs {
		cfgs[i] = e.config(byte(i + 1))
		m.pending[i] = -1
	}
	salt := int64(1000)
	escrow0 := e.tokenBalance(evm.BatchSettlementAddress())

	for step := range steps {
		i := rng.IntN(channels)
		c := cfgs[i]
		switch op := rng.IntN(6); op {
		case 0: // deposit
			amt := 1 + rng.Int64N(1000)
			salt++
			e.send(e.relayer, e.depositCall(c, e.payer.PrivateKey, amt, salt))
			m.balance[i] += amt
		case 1: // claim up to a new voucher, sometimes beyond the balance
			total := m.claimed[i] + rng.Int64N(m.unclaimed(i)+50)
			data := e.pack("claim", []voucherClaim{e.claimOf(c, e.payer.PrivateKey, total, total)})
			switch {
			case total > m.balance[i]:
				e.wantRevert(e.receiver, data, "ClaimExceedsBalance()")
			default:
				e.send(e.receiver, data)
				if total > m.claimed[i] {
					m.receiverClaimed += total - m.claimed[i]
					m.claimed[i] = total
				}
			}
		case 2: // cooperative refund
			amt := 1 + rng.Int64N(600)
			e.send(e.authorizer, e.pack("refund", c, big.NewInt(amt)))
			m.refundNonce[i]++
			paid := min(amt, m.unclaimed(i))
			m.balance[i] -= paid
			if m.pending[i] >= 0 && paid > 0 {
				if paid >= m.pending[i] {
					m.pending[i] = -1
				} else {
					m.pending[i] -= paid
				}
			}
		case 3: // initiate a withdrawal
			amt := 1 + rng.Int64N(600)
			data := e.pack("initiateWithdraw", c, big.NewInt(amt))
			switch {
			case m.pending[i] >= 0:
				e.wantRevert(e.payer, data, "WithdrawalAlreadyPending()")
			case amt > m.unclaimed(i):
				e.wantRevert(e.payer, data, "WithdrawAmountExceedsAvailable()")
			default:
				e.send(e.payer, data)
				m.pending[i] = amt
			}
		case 4: // finalize a withdrawal after the delay
			data := e.pack("finalizeWithdraw", c)
			if m.pending[i] < 0 {
				e.wantRevert(e.payer, data, "WithdrawalNotPending()")
				break
			}
			if err := e.d.AdvanceTime(900 * time.Second); err != nil {
				t.Fatal(err)
			}
			e.send(e.payer, data)
			m.balance[i] -= min(m.pending[i], m.unclaimed(i))
			m.pending[i] = -1
		case 5: // settle
			e.send(e.relayer, e.pack("settle", e.receiver.Address, e.d.Token().Address))
			m.settled = m.receiverClaimed
		}
		e.checkModel(step, cfgs, m, escrow0)
	}
}

// checkModel compares the contract's state with the model.
func (e *bsEnv) checkModel(step int, cfgs []channelConfig, m *bsModel, escrow0 int64) {
	e.t.Helper()
	var owed int64
	for i, c := range cfgs {
		id := e.channelID(c)
		b, cl := e.channel(id)
		if b != m.balance[i] || cl != m.claimed[i] {
			e.t.Fatalf("step %d: channel %d = (%d, %d), model (%d, %d)", step, i, b, cl, m.balance[i], m.claimed[i])
		}
		if n := e.view("refundNonce", id)[0].(*big.Int).Int64(); n != m.refundNonce[i] {
			e.t.Fatalf("step %d: channel %d refundNonce %d, model %d", step, i, n, m.refundNonce[i])
		}
		pw := e.view("pendingWithdrawals", id)
		if pending := pw[1].(*big.Int).Sign() != 0; pending != (m.pending[i] >= 0) || (pending && pw[0].(*big.Int).Int64() != m.pending[i]) {
			e.t.Fatalf("step %d: channel %d pendingWithdrawals %v, model %d", step, i, pw, m.pending[i])
		}
		owed += m.balance[i]
	}
	r := e.view("receivers", e.receiver.Address, e.d.Token().Address)
	if r[0].(*big.Int).Int64() != m.receiverClaimed || r[1].(*big.Int).Int64() != m.settled {
		e.t.Fatalf("step %d: receivers %v, model (%d, %d)", step, r, m.receiverClaimed, m.settled)
	}
	// The escrow holds every channel's balance less what was already paid
	// to the receiver.
	if got, want := e.tokenBalance(evm.BatchSettlementAddress())-escrow0, owed-m.settled; got != want {
		e.t.Fatalf("step %d: escrow holds %d, owes %d", step, got, want)
	}
}
