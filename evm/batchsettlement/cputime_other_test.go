//go:build !unix

package batchsettlement

import "time"

// processCPU is unavailable here; benchmarks report no CPU time.
func processCPU() time.Duration { return 0 }
