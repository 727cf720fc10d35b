package x402http

import (
	"errors"
	"math/big"
	"testing"

	"github.com/go402/go402/x402"
)

// FuzzMeter: whatever a handler reports, the charge is the sum of the
// reports capped at the maximum, and ErrOverMaximum is returned exactly
// from each report that went beyond it.
func FuzzMeter(f *testing.F) {
	f.Add(uint64(100), uint64(30), uint64(12), uint64(60), uint64(7))
	f.Add(uint64(0), uint64(1), uint64(0), uint64(0), uint64(1))
	f.Add(^uint64(0), ^uint64(0), ^uint64(0), uint64(2), ^uint64(0))
	f.Fuzz(func(t *testing.T, max, a, b, units, unit uint64) {
		m := &meter{max: x402.NewAmount(max), unit: x402.NewAmount(unit)}
		want := new(big.Int)
		limit := new(big.Int).SetUint64(max)
		report := func(v *big.Int, err error) {
			want.Add(want, v)
			// A report of 0 adds nothing, even to a charge capped already.
			over := want.Cmp(limit) > 0 && v.Sign() > 0
			if over != errors.Is(err, ErrOverMaximum) || (err != nil && !over) {
				t.Fatalf("sum %s, max %s: error %v", want, limit, err)
			}
		}
		report(new(big.Int).SetUint64(a), m.add(x402.NewAmount(a)))
		report(new(big.Int).SetUint64(b), m.add(x402.NewAmount(b)))
		p := new(big.Int).Mul(new(big.Int).SetUint64(units), new(big.Int).SetUint64(unit))
		if unit != 0 {
			// Use, through a request carrying the meter.
			report(p, useMeter(m, units))
		}
		used, over := m.close()
		if want.Cmp(limit) > 0 {
			want.Set(limit)
		}
		if used.Big().Cmp(want) != 0 || used.Cmp(m.max) > 0 {
			t.Fatalf("used %s, want %s (over %v)", used, want, over)
		}
		if err := m.add(x402.NewAmount(1)); !errors.Is(err, ErrMeterClosed) {
			t.Fatalf("after close: %v", err)
		}
	})
}
