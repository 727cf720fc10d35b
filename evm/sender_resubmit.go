package evm

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// unknownTx is a transaction whose submission had an unknown outcome, and
// since when.
type unknownTx struct {
	tx    *types.Transaction
	since time.Time
}

// rebroadcastFor bounds how long a transaction with an unknown outcome is
// re-submitted. Past it, a facilitator may have released the settlement
// (it treats a transaction the node does not know, long after broadcast,
// as dropped), and funds must not move after that.
const rebroadcastFor = time.Minute

// watchUnknown keeps tx, whose submission had an unknown outcome, to be
// submitted again until its fate is known.
func (s *Sender) watchUnknown(tx *types.Transaction) {
	s.unknownMu.Lock()
	defer s.unknownMu.Unlock()
	if s.unknown == nil {
		s.unknown = map[common.Hash]unknownTx{}
	}
	if _, ok := s.unknown[tx.Hash()]; !ok {
		s.unknown[tx.Hash()] = unknownTx{tx: tx, since: s.now()}
	}
	if !s.watching {
		s.watching = true
		go s.resolveUnknown()
	}
}

// resolveUnknown re-submits the unknown-outcome transactions every
// rebroadcastInterval until none is left.
func (s *Sender) resolveUnknown() {
	t := time.NewTicker(s.rebroadcastInterval)
	defer t.Stop()
	for range t.C {
		s.unknownMu.Lock()
		txs := make([]unknownTx, 0, len(s.unknown))
		for _, u := range s.unknown {
			txs = append(txs, u)
		}
		if len(txs) == 0 {
			s.watching = false
			s.unknownMu.Unlock()
			return
		}
		s.unknownMu.Unlock()
		slices.SortFunc(txs, func(a, b unknownTx) int { return cmp.Compare(a.tx.Nonce(), b.tx.Nonce()) })
		for _, u := range txs {
			done := s.resolveOne(u.tx)
			if !done && s.now().Sub(u.since) > rebroadcastFor {
				s.log.Error("evm: giving up re-submitting a transaction whose outcome is unknown; its nonce stays taken (see Sender.ResetNonce)",
					"hash", u.tx.Hash(), "nonce", u.tx.Nonce(), "after", rebroadcastFor)
				done = true
			}
			if done {
				s.unknownMu.Lock()
				delete(s.unknown, u.tx.Hash())
				s.unknownMu.Unlock()
			}
		}
	}
}

// resolveOne submits tx again and reports whether its fate is settled: mined,
// superseded by another transaction with its nonce, or refused by the node
// (then its nonce is released and the gap filled).
func (s *Sender) resolveOne(tx *types.Transaction) (settled bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.resolveTimeout)
	defer cancel()
	if r, err := s.backend.TransactionReceipt(ctx, tx.Hash()); err == nil && r != nil {
		return true
	}
	err := s.backend.SendTransaction(ctx, tx)
	switch classifySend(err) {
	case sendAccepted:
		// The node has it now: from here it is an ordinary pending
		// transaction.
		return true
	case sendNonceTaken:
		// Mined since the receipt check, or its nonce went to another
		// transaction: either way it can never be mined again.
		s.log.Warn("evm: unknown-outcome transaction resolved: nonce used", "hash", tx.Hash(), "nonce", tx.Nonce())
		return true
	case sendRejected:
		s.log.Warn("evm: unknown-outcome transaction refused on re-submission; releasing its nonce", "hash", tx.Hash(), "nonce", tx.Nonce(), "err", err)
		s.releaseNonce(ctx, tx.Nonce(), "unknown-outcome transaction refused")
		return true
	}
	s.log.Debug("evm: re-submission outcome still unknown", "hash", tx.Hash(), "err", err)
	return false
}

type sendOutcome int

const (
	sendUnknown    sendOutcome = iota // the node may or may not have the transaction
	sendAccepted                      // the node has the transaction
	sendRejected                      // the node answered with an error: it does not have it
	sendNonceTaken                    // the nonce is used by another transaction
)

// rpcCodeError is the JSON-RPC error interface of go-ethereum's rpc package:
// an error value the node answered with, as opposed to a transport failure.
type rpcCodeError interface {
	error
	ErrorCode() int
}

// rpcDataError is go-ethereum's rpc.DataError.
type rpcDataError interface {
	error
	ErrorData() any
}

func classifySend(err error) sendOutcome {
	if err == nil {
		return sendAccepted
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "already known"), strings.Contains(msg, "alreadyknown"),
		strings.Contains(msg, "already imported"), containsPhrase(msg, "known transaction"):
		return sendAccepted
	case strings.Contains(msg, "nonce too low"), strings.Contains(msg, "replacement transaction underpriced"),
		strings.Contains(msg, "oldnonce"):
		return sendNonceTaken
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return sendUnknown
	}
	var rpcErr rpcCodeError
	if errors.As(err, &rpcErr) {
		switch rpcErr.ErrorCode() {
		case -32603, -32005:
			// Internal error, or a provider's rate limit: the answer says
			// nothing about whether the transaction reached the pool.
			return sendUnknown
		}
		return sendRejected
	}
	return sendUnknown
}

// containsPhrase reports whether phrase occurs in s at a word start, so that
// "known transaction" does not match "unknown transaction type".
func containsPhrase(s, phrase string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], phrase)
		if i < 0 {
			return false
		}
		i += off
		if i == 0 || !('a' <= s[i-1] && s[i-1] <= 'z') {
			return true
		}
		off = i + 1
	}
}

// broadcast submits tx and, if the outcome is unknown, re-submits the same
// signed transaction once under a detached context to find out.
func (s *Sender) broadcast(ctx context.Context, tx *types.Transaction) (sendOutcome, error) {
	err := s.backend.SendTransaction(ctx, tx)
	outcome := classifySend(err)
	if outcome != sendUnknown {
		return outcome, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resolveTimeout)
	defer cancel()
	err2 := s.backend.SendTransaction(rctx, tx)
	switch classifySend(err2) {
	case sendAccepted:
		return sendAccepted, nil
	case sendRejected:
		return sendRejected, err2
	case sendNonceTaken:
		// Mined since the first attempt, or the nonce went to another
		// transaction: the receipt tells.
		if r, rerr := s.backend.TransactionReceipt(rctx, tx.Hash()); rerr == nil && r != nil {
			return sendAccepted, nil
		}
		// The first submission may have been this transaction: re-signing
		// another with a new nonce could send a second one. Leave the
		// outcome unknown; the caller reports it as pending.
		return sendUnknown, errors.Join(err, err2)
	}
	return sendUnknown, errors.Join(err, err2)
}
