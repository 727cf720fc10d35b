package evm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// RevertError is a revert reported by the node during gas estimation. The
// scheme maps it to an x402 reason code, typically from Reason (USDC reverts
// with messages such as "FiatTokenV2: invalid signature").
type RevertError struct {
	// Reason is the decoded Error(string) message or the description of a
	// Panic(uint256) code; if the node sent no data, the text after
	// "execution reverted: " in its message, if any. Empty for custom
	// errors and bare reverts.
	Reason string
	// Data is the raw revert data (selector and arguments) when the node
	// returned it; custom Solidity errors can be decoded from it.
	Data []byte
	// Err is the error returned by the backend.
	Err error
}

// Error returns "execution reverted" with the reason or the data.
func (e *RevertError) Error() string {
	switch {
	case e.Reason != "":
		return "execution reverted: " + e.Reason
	case len(e.Data) > 0:
		return "execution reverted: data " + hexutil.Encode(e.Data)
	}
	return "execution reverted"
}

// Unwrap returns [ErrExecutionReverted] and the backend error.
func (e *RevertError) Unwrap() []error { return []error{ErrExecutionReverted, e.Err} }

// Selector returns the first four bytes of Data, the error selector, if
// there are at least four.
func (e *RevertError) Selector() ([4]byte, bool) {
	if len(e.Data) < 4 {
		return [4]byte{}, false
	}
	return [4]byte(e.Data[:4]), true
}

// estimateGas returns the gas limit for the call: the estimate with the
// safety margin, capped.
func (s *Sender) estimateGas(ctx context.Context, to common.Address, value *big.Int, data []byte) (uint64, error) {
	est, err := s.backend.EstimateGas(ctx, ethereum.CallMsg{From: s.from, To: &to, Value: value, Data: data})
	if err != nil {
		if rev := revertFromError(err); rev != nil {
			return 0, fmt.Errorf("%w: %w", ErrGasEstimation, rev)
		}
		return 0, fmt.Errorf("%w: %w", ErrGasEstimation, err)
	}
	if est > s.gasCap {
		return 0, fmt.Errorf("%w: estimate %d, cap %d", ErrGasCapExceeded, est, s.gasCap)
	}
	limit := math.Ceil(float64(est) * s.gasMultiplier)
	if limit >= float64(s.gasCap) {
		return s.gasCap, nil
	}
	return uint64(limit), nil
}

// revertFromError extracts a revert from an eth_estimateGas or eth_call
// error, or returns nil if err is nil or not one.
func revertFromError(err error) *RevertError {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var codeErr rpcCodeError
	isRevert := strings.Contains(strings.ToLower(msg), "execution reverted") ||
		(errors.As(err, &codeErr) && codeErr.ErrorCode() == 3)
	if !isRevert {
		return nil
	}
	rev := &RevertError{Err: err}
	var dataErr rpcDataError
	if errors.As(err, &dataErr) {
		if s, ok := dataErr.ErrorData().(string); ok {
			if b, derr := hexutil.Decode(s); derr == nil {
				rev.Data = b
			}
		}
	}
	if reason, uerr := abi.UnpackRevert(rev.Data); uerr == nil {
		rev.Reason = reason
	} else if len(rev.Data) == 0 {
		const prefix = "execution reverted: "
		if i := strings.Index(strings.ToLower(msg), prefix); i >= 0 {
			rev.Reason = msg[i+len(prefix):]
		}
	}
	return rev
}

// fees returns the tip and fee cap for a transaction sent now.
func (s *Sender) fees(ctx context.Context) (tip, feeCap *big.Int, err error) {
	tip, err = s.backend.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("evm: suggesting gas tip: %w", err)
	}
	head, err := s.backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("evm: reading latest header: %w", err)
	}
	if head.BaseFee == nil {
		return nil, nil, errors.New("evm: latest block has no base fee (chain without EIP-1559)")
	}
	tip = new(big.Int).Set(tip)
	if tip.Sign() < 0 {
		tip.SetInt64(0)
	}
	if s.maxTipCap != nil && tip.Cmp(s.maxTipCap) > 0 {
		tip.Set(s.maxTipCap)
	}
	base := head.BaseFee
	feeCap = new(big.Int).Lsh(base, 1)
	feeCap.Add(feeCap, tip)
	if limit := s.maxFeePerGas; limit != nil {
		if base.Cmp(limit) >= 0 {
			return nil, nil, fmt.Errorf("%w: base fee %s wei, cap %s wei", ErrFeeCapExceeded, base, limit)
		}
		if room := new(big.Int).Sub(limit, base); tip.Cmp(room) > 0 {
			tip = room
		}
		if feeCap.Cmp(limit) > 0 {
			feeCap.Set(limit)
		}
	}
	return tip, feeCap, nil
}
