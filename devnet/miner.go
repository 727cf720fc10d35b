package devnet

import (
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
)

// startMiner starts block production: a block as soon as transactions reach
// the pending pool (unless NoAutoMine) and, with BlockTime > 0, on that
// interval too.
//
// Two goroutines: the first (forwardTxEvents, not started with NoAutoMine)
// only forwards tx-pool events into a one-slot "work available" channel and
// never blocks, because the pool sends those events from its reorg loop,
// which TxPool.Sync (called while mining) waits for. The second produces
// blocks; it is the only caller of the simulated
// beacon (which is not safe for concurrent use) apart from Start, which runs
// before it exists, and mineMu serialises both anyway.
func (d *Devnet) startMiner() {
	work := make(chan struct{}, 1)
	if !d.cfg.NoAutoMine {
		d.forwardTxEvents(work)
	}

	d.loopsDone.Add(1)
	go func() {
		defer d.loopsDone.Done()
		var tick <-chan time.Time
		if d.cfg.BlockTime > 0 {
			t := time.NewTicker(d.cfg.BlockTime)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-d.stop:
				return
			case <-work:
				d.minePending()
			case <-tick:
				d.mineInterval()
			}
		}
	}()
}

// forwardTxEvents signals work whenever transactions reach the pending pool.
func (d *Devnet) forwardTxEvents(work chan<- struct{}) {
	events := make(chan core.NewTxsEvent, 16)
	sub := d.eth.TxPool().SubscribeTransactions(events, true)
	d.loopsDone.Add(1)
	go func() {
		defer d.loopsDone.Done()
		defer sub.Unsubscribe()
		for {
			select {
			case <-d.stop:
				return
			case err := <-sub.Err():
				if err != nil {
					d.log.Error("tx pool subscription failed; blocks are no longer mined on demand", "err", err)
				}
				return
			case <-events:
				select {
				case work <- struct{}{}:
				default: // already signalled; the miner will see every pending tx
				}
			}
		}
	}()
}

// minePending mines blocks until the pool has no executable transactions
// left, or until a block includes none of them (e.g. their fee cap is below
// the base fee), so that it never spins.
func (d *Devnet) minePending() {
	d.mineMu.Lock()
	defer d.mineMu.Unlock()
	d.minePendingLocked()
}

// minePendingLocked is minePending for a caller that holds mineMu.
func (d *Devnet) minePendingLocked() {
	for {
		if err := d.eth.TxPool().Sync(); err != nil {
			return // pool is shutting down
		}
		if pending, _ := d.eth.TxPool().Stats(); pending == 0 {
			return
		}
		if !d.waitTimestampLead() {
			return
		}
		blk := d.commit()
		if blk == nil || len(blk.Transactions()) == 0 {
			return
		}
	}
}

// mineInterval mines a block for the BlockTime ticker, unless the chain's
// timestamps are already at or ahead of the wall clock (after a burst of
// transaction-triggered blocks): then the tick is skipped so the clock can
// catch up.
func (d *Devnet) mineInterval() {
	d.mineMu.Lock()
	defer d.mineMu.Unlock()
	if d.eth.BlockChain().CurrentBlock().Time >= d.clockLocked() {
		return
	}
	d.commit()
}

// waitTimestampLead delays until the next block's timestamp would be at most
// Config.TimestampLead ahead of the wall clock. It returns false if the devnet is
// closing.
func (d *Devnet) waitTimestampLead() bool {
	maxLead := uint64(d.cfg.TimestampLead / time.Second)
	for {
		next := d.eth.BlockChain().CurrentBlock().Time + 1 // the beacon uses max(now, parent+1)
		now := d.clockLocked()
		if next <= now+maxLead {
			return true
		}
		d.log.Debug("block timestamps ahead of wall clock; delaying next block", "lead", time.Duration(next-now)*time.Second)
		t := time.NewTimer(time.Until(time.Unix(int64(next-maxLead), 0).Add(-d.timeShift)))
		select {
		case <-d.stop:
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// commit seals one block with the pending transactions and returns it, or
// nil if no block was produced. The caller holds mineMu.
func (d *Devnet) commit() *types.Block {
	chain := d.eth.BlockChain()
	before := chain.CurrentBlock().Number.Uint64()
	d.beacon.Commit()
	head := chain.CurrentBlock()
	if head.Number.Uint64() == before {
		d.log.Warn("block production failed", "head", before)
		return nil
	}
	blk := chain.GetBlock(head.Hash(), head.Number.Uint64())
	if blk == nil {
		return nil
	}
	d.log.Debug("mined block", "number", blk.NumberU64(), "txs", len(blk.Transactions()), "time", blk.Time(), "gasUsed", blk.GasUsed())
	return blk
}

// clockLocked is the chain's notion of now, in Unix seconds: the wall clock
// plus whatever AdvanceTime added. The caller holds mineMu.
func (d *Devnet) clockLocked() uint64 {
	return uint64(time.Now().Add(d.timeShift).Unix())
}

// advanceTimeAttempts bounds AdvanceTime's retries when transactions keep
// arriving between mining them and sealing the empty time-shift block.
const advanceTimeAttempts = 5

// AdvanceTime moves the chain's clock forward by d, rounded down to whole
// seconds (d must be at least 1 s), for tests of time locks such as the
// batch-settlement withdraw delay. It mines the pending transactions, then
// an empty block whose timestamp is the head's plus d, and returns once that
// block is the head. Later blocks are sealed at max(wall clock, parent + 1 s)
// as before, so after an advance their timestamps go up one second per block
// until the wall clock catches up (never, in practice); Config.TimestampLead
// then caps their lead over the wall clock plus the total advanced.
//
// EIP-3009 authorizations (and anything else) whose validity window was
// computed from the wall clock before the advance may be expired on chain
// after it; sign them from the head block's timestamp instead.
func (d *Devnet) AdvanceTime(dur time.Duration) error {
	secs := dur / time.Second
	if secs < 1 {
		return fmt.Errorf("devnet: AdvanceTime(%v): the chain's clock moves in whole seconds, at least 1s", dur)
	}
	d.mineMu.Lock()
	defer d.mineMu.Unlock()
	var err error
	for range advanceTimeAttempts {
		select {
		case <-d.stop:
			return ErrClosed
		default:
		}
		d.minePendingLocked()
		if err = d.beacon.AdjustTime(secs * time.Second); err == nil {
			d.timeShift += secs * time.Second
			d.log.Debug("advanced chain time", "by", secs*time.Second, "head", d.eth.BlockChain().CurrentBlock().Time)
			return nil
		}
	}
	return fmt.Errorf("devnet: advance time by %v: %w", secs*time.Second, err)
}
