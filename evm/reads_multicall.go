package evm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Reading through Multicall3.
//
// With a Multicall3 address, the chainReader folds the calls of a batch into
// aggregate3 eth_calls, one per target contract (so a hostile token that
// burns its gas or misbehaves only affects its own payments), each call
// allowed to fail on its own. The node then runs one EVM call per
// aggregate instead of one per read.
//
// Calls in one aggregate see each other's state changes, so the plan keeps
// every call's result what it would be alone:
//   - the reads (calls with no transfer) of an aggregate come before its
//     simulated transfers, so they see the pre-state;
//   - two simulated transfers share an aggregate only if neither one's payer
//     is the other one's payer or payee: a transfer changes the balances of
//     its payer and payee and marks its payer's nonce used, and that is the
//     state a transfer of the same payer depends on. (Two verifies of one
//     payer are therefore simulated in separate aggregates, each against the
//     pre-state.)
//
// Inside an aggregate the token is called by Multicall3, not by the
// facilitator's address. transferWithAuthorization (EIP-3009) does not
// depend on its caller; receiveWithAuthorization, which does, is not used.

// aggregate is one aggregate3 eth_call standing for calls to one target.
type aggregate struct {
	target common.Address
	reads  []*ethCall
	sims   []*ethCall
	// payers and payees of sims, to keep conflicting transfers apart.
	payers, payees []common.Address
	out            hexutil.Bytes
}

// size is the number of calls in the aggregate.
func (a *aggregate) size() int { return len(a.reads) + len(a.sims) }

// takes reports whether the simulated transfer c can join a without
// seeing, or changing, state that another transfer of a depends on.
func (a *aggregate) takes(c *ethCall) bool {
	for _, p := range a.payers {
		if p == c.payer || p == c.payee {
			return false
		}
	}
	for _, p := range a.payees {
		if p == c.payer {
			return false
		}
	}
	return true
}

// multicallable reports whether c can go through aggregate3: a plain call
// to a contract, with no value, gas, or caller that matters.
func multicallable(c *ethCall) bool {
	m := c.msg
	return m.To != nil && (m.Value == nil || m.Value.Sign() == 0) && m.Gas == 0 &&
		m.GasPrice == nil && m.GasFeeCap == nil && m.GasTipCap == nil && len(m.AccessList) == 0 &&
		len(m.BlobHashes) == 0 && len(m.AuthorizationList) == 0 &&
		(c.transfer || m.From == (common.Address{}))
}

// planAggregates groups calls into aggregates of at most max calls each,
// under the rules above, in the calls' order within each target. Calls
// that cannot be aggregated are returned in direct.
func planAggregates(calls []*ethCall, max int) (aggs []*aggregate, direct []*ethCall) {
	byTarget := map[common.Address][]*aggregate{}
	for _, c := range calls {
		if !multicallable(c) {
			direct = append(direct, c)
			continue
		}
		target := *c.msg.To
		group := byTarget[target]
		var dst *aggregate
		for _, a := range group {
			if a.size() < max && (!c.transfer || a.takes(c)) {
				dst = a
				break
			}
		}
		if dst == nil {
			dst = &aggregate{target: target}
			byTarget[target] = append(group, dst)
			aggs = append(aggs, dst)
		}
		if c.transfer {
			dst.sims = append(dst.sims, c)
			dst.payers = append(dst.payers, c.payer)
			dst.payees = append(dst.payees, c.payee)
		} else {
			dst.reads = append(dst.reads, c)
		}
	}
	return aggs, direct
}

// selAggregate3 is aggregate3((address,bool,bytes)[]).
var selAggregate3 = selector("aggregate3((address,bool,bytes)[])")

// calldata ABI-encodes aggregate3 of the aggregate's reads, then its
// simulated transfers, each with allowFailure set.
func (a *aggregate) calldata() []byte {
	n := a.size()
	size := 4 + 64 + 32*n
	for _, c := range a.calls() {
		size += 32*4 + pad32(len(c.msg.Data))
	}
	out := make([]byte, size)
	copy(out, selAggregate3[:])
	w := out[4:]
	putUint(w[0:], 32) // offset of the array
	putUint(w[32:], uint64(n))
	head := w[64:] // offsets are relative to here
	pos := 32 * n
	for i, c := range a.calls() {
		putUint(head[32*i:], uint64(pos))
		e := head[pos:]
		copy(e[12:32], a.target[:])
		e[63] = 1 // allowFailure
		putUint(e[64:], 96)
		putUint(e[96:], uint64(len(c.msg.Data)))
		copy(e[128:], c.msg.Data)
		pos += 32*4 + pad32(len(c.msg.Data))
	}
	return out
}

// calls returns the aggregate's calls in the order they run.
func (a *aggregate) calls() []*ethCall {
	all := make([]*ethCall, 0, a.size())
	return append(append(all, a.reads...), a.sims...)
}

// settle gives each call of the aggregate its result from the aggregate's
// answer: a call that failed gets a revert error carrying its revert data.
func (a *aggregate) settle() error {
	calls := a.calls()
	results, err := decodeAggregate3(a.out, len(calls))
	if err != nil {
		return fmt.Errorf("evm: aggregate3 at %s: %w", a.target.Hex(), err)
	}
	for i, c := range calls {
		if results[i].success {
			c.out, c.err = results[i].data, nil
		} else {
			c.out, c.err = nil, &callRevert{data: results[i].data}
		}
	}
	return nil
}

// callRevert is the revert of one call in an aggregate, shaped like the
// node's answer to a reverted eth_call (code 3, data in hex) so that
// revertFromError reads it the same way.
type callRevert struct{ data []byte }

func (e *callRevert) Error() string          { return "execution reverted" }
func (e *callRevert) ErrorCode() int         { return 3 }
func (e *callRevert) ErrorData() interface{} { return hexutil.Encode(e.data) }

type result3 struct {
	success bool
	data    []byte
}

var errAggregateAnswer = errors.New("malformed aggregate3 answer")

// decodeAggregate3 decodes aggregate3's (bool,bytes)[] answer, which must
// hold n results. Every offset and length is checked against the answer.
func decodeAggregate3(out []byte, n int) ([]result3, error) {
	off, ok := readOffset(out, 0)
	if !ok || off+32 > len(out) {
		return nil, errAggregateAnswer
	}
	arr := out[off:]
	if l, ok := readOffset(arr, 0); !ok || l != n {
		return nil, fmt.Errorf("%w: %d results for %d calls", errAggregateAnswer, l, n)
	}
	body := arr[32:]
	res := make([]result3, n)
	for i := range res {
		eoff, ok := readOffset(body, 32*i)
		if !ok || eoff+64 > len(body) {
			return nil, errAggregateAnswer
		}
		e := body[eoff:]
		flag, ok := readOffset(e, 0)
		if !ok || flag > 1 {
			return nil, errAggregateAnswer
		}
		doff, ok := readOffset(e, 32)
		if !ok || doff+32 > len(e) {
			return nil, errAggregateAnswer
		}
		dlen, ok := readOffset(e, doff)
		if !ok || doff+32+dlen > len(e) {
			return nil, errAggregateAnswer
		}
		res[i] = result3{success: flag == 1, data: e[doff+32 : doff+32+dlen : doff+32+dlen]}
	}
	return res, nil
}

// readOffset reads the word at b[at:] as a small non-negative integer (an
// offset, a length or a bool).
func readOffset(b []byte, at int) (int, bool) {
	if at < 0 || at+32 > len(b) {
		return 0, false
	}
	w := b[at : at+32]
	for _, x := range w[:24] {
		if x != 0 {
			return 0, false
		}
	}
	v := binary.BigEndian.Uint64(w[24:])
	if v > uint64(len(b)) && v > 1 {
		return 0, false
	}
	return int(v), true
}

func putUint(dst []byte, v uint64) { binary.BigEndian.PutUint64(dst[24:32], v) }

func pad32(n int) int { return (n + 31) / 32 * 32 }

// readMulticall is the Multicall3 address that reads go through, or zero
// (see ExactFacilitatorConfig.ReadMulticall).
func readMulticall(ctx context.Context, cfg ExactFacilitatorConfig, batched bool) (common.Address, error) {
	if !batched || cfg.NoReadMulticall {
		return common.Address{}, nil
	}
	if cfg.ReadMulticall != (common.Address{}) {
		if err := checkMulticall(ctx, cfg.Backend, cfg.ReadMulticall); err != nil {
			return common.Address{}, fmt.Errorf("evm: exact facilitator: ReadMulticall: %w", err)
		}
		return cfg.ReadMulticall, nil
	}
	if checkMulticall(ctx, cfg.Backend, Multicall3Address()) != nil {
		return common.Address{}, nil
	}
	return Multicall3Address(), nil
}
