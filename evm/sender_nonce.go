package evm

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/ethereum/go-ethereum/core/types"
)

// releaseNonce gives back a nonce whose transaction the node does not have,
// and fills the gap it leaves if higher nonces are out.
func (s *Sender) releaseNonce(ctx context.Context, nonce uint64, why string) {
	gap := s.nonces.release(nonce)
	s.log.Debug("evm: nonce released", "nonce", nonce, "reason", why, "gap", gap)
	if gap && s.gapFill {
		s.fillGaps(ctx)
	}
}

// fillGaps submits zero-value self-transfers on released nonces that lie
// below nonces already handed out, so that the transactions above them are
// not held back until the next Send.
func (s *Sender) fillGaps(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resolveTimeout)
	defer cancel()
	for range maxGapFills {
		nonce, ok := s.nonces.takeReleased()
		if !ok {
			return
		}
		err := s.fill(ctx, nonce)
		if err != nil {
			s.log.Warn("evm: could not fill nonce gap", "nonce", nonce, "from", s.from, "err", err)
			return
		}
	}
}

// fill submits one filler transaction on nonce, releasing it again (without
// filling) if it does not get in.
func (s *Sender) fill(ctx context.Context, nonce uint64) error {
	gas, err := s.estimateGas(ctx, s.from, new(big.Int), nil)
	var tip, feeCap *big.Int
	if err == nil {
		tip, feeCap, err = s.fees(ctx)
	}
	var tx *types.Transaction
	if err == nil {
		tx, err = types.SignNewTx(s.key, s.signer, &types.DynamicFeeTx{
			ChainID: s.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
			Gas: gas, To: &s.from, Value: new(big.Int),
		})
	}
	if err != nil {
		s.nonces.release(nonce)
		return err
	}
	outcome, err := s.broadcast(ctx, tx)
	switch outcome {
	case sendAccepted:
		s.log.Warn("evm: filled nonce gap", "nonce", nonce, "hash", tx.Hash())
		return nil
	case sendNonceTaken:
		return nil // the nonce is used, so there is no gap
	case sendRejected:
		s.nonces.release(nonce)
		return err
	}
	// Lost in transit, maybe: re-submit it like any other, so the gap it
	// fills does not stay open.
	s.watchUnknown(tx)
	return fmt.Errorf("%w: %w", ErrSendUnknown, err)
}

// resync moves the nonce counter forward to the node's pending nonce.
func (s *Sender) resync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resolveTimeout)
	defer cancel()
	n, err := s.backend.PendingNonceAt(ctx, s.from)
	if err != nil {
		return err
	}
	s.nonces.advance(n)
	return nil
}

// ResetNonce sets the nonce counter to the node's pending nonce and forgets
// released nonces. Use it after the node lost pool transactions, and only
// while no Send is in progress and no sent transaction is unmined: it may
// move the counter backwards.
func (s *Sender) ResetNonce(ctx context.Context) error {
	n, err := s.backend.PendingNonceAt(ctx, s.from)
	if err != nil {
		return fmt.Errorf("evm: reading pending nonce of %s: %w", s.from, err)
	}
	s.nonces.reset(n)
	return nil
}

// nonceManager hands out the nonces of one account. All methods are safe for
// concurrent use; none does I/O.
type nonceManager struct {
	mu       sync.Mutex
	next     uint64   // the lowest nonce never handed out
	released []uint64 // given back nonces, ascending, each < next
}

// reset sets the counter to n and forgets released nonces.
func (m *nonceManager) reset(n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next = n
	m.released = m.released[:0]
}

// acquire returns the lowest released nonce, or else the next fresh one.
func (m *nonceManager) acquire() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.released) > 0 {
		n := m.released[0]
		m.released = slices.Delete(m.released, 0, 1)
		return n
	}
	n := m.next
	m.next++
	return n
}

// takeReleased removes and returns the lowest released nonce, if any.
func (m *nonceManager) takeReleased() (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.released) == 0 {
		return 0, false
	}
	n := m.released[0]
	m.released = slices.Delete(m.released, 0, 1)
	return n, true
}

// release gives back n, which the node does not have. It reports whether
// released nonces remain below nonces that are handed out (a gap).
func (m *nonceManager) release(n uint64) (gap bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n >= m.next {
		return len(m.released) > 0 // stale: the counter was reset below n
	}
	i, found := slices.BinarySearch(m.released, n)
	if !found {
		m.released = slices.Insert(m.released, i, n)
	}
	// Released nonces at the top of the range are simply not handed out.
	for len(m.released) > 0 && m.released[len(m.released)-1] == m.next-1 {
		m.released = m.released[:len(m.released)-1]
		m.next--
	}
	return len(m.released) > 0
}

// advance moves the counter forward to at least n, the node's pending nonce,
// and drops released nonces below n, which are used.
func (m *nonceManager) advance(n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n > m.next {
		m.next = n
	}
	i, _ := slices.BinarySearch(m.released, n)
	m.released = slices.Delete(m.released, 0, i)
}

// state returns the counter and a copy of the released list (for tests).
func (m *nonceManager) state() (next uint64, released []uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next, slices.Clone(m.released)
}
