// Package atomicfile owns replacing a small state file all at once: the new
// content goes to a temporary file in the same directory, is synced, and is
// renamed over the old one, so that a reader or a crash sees the old file or
// the new one, never a part. The client's budget file and the batch-settlement
// payer's channel file are written through it; their locking is their own.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces the file at path with data.
func Write(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}
