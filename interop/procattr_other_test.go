//go:build !linux

package interop

import "os/exec"

// killWithParent does nothing here: only Linux can have the kernel kill a
// child when its parent dies. The harness's cleanups still kill the peers
// of a test that ends normally.
func killWithParent(*exec.Cmd) {}
