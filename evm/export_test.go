package evm

// QueuedReads is the number of chain reads of f waiting for a batch
// request: tests use it to put several verifies in one batch.
func QueuedReads(f *ExactFacilitator) int {
	f.reads.mu.Lock()
	defer f.reads.mu.Unlock()
	n := 0
	for _, r := range f.reads.queue {
		n += len(r.calls)
	}
	return n
}
