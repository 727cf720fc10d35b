//go:build linux

package interop

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killWithParent makes the kernel kill cmd's process when the test process
// dies, even when it dies without running cleanups (go test -timeout
// panics, a SIGKILL). Strictly, the signal is sent when the OS thread that
// started the process ends; the Go runtime ends a thread only when a
// goroutine locked to it exits, which the tests never do.
func killWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// orphanHelperEnv makes TestOrphanHelper start a Node peer and wait to be
// killed.
const orphanHelperEnv = "GO402_INTEROP_ORPHAN_HELPER"

// TestNodePeerDiesWithParent kills a process that started a Node peer the
// way the harness does, with SIGKILL so that no cleanup runs, and checks
// that the peer does not outlive it.
func TestNodePeerDiesWithParent(t *testing.T) {
	requireNode(t)
	helper := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestOrphanHelper$", "-test.v")
	helper.Env = append(os.Environ(), orphanHelperEnv+"=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "node peer pid "); ok {
				if n, err := strconv.Atoi(p); err == nil {
					pid <- n
				}
			}
		}
	}()
	var peer int
	select {
	case peer = <-pid:
	case <-time.After(startTimeout):
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatal("the helper process did not report its Node peer")
	}
	if !alive(peer) {
		t.Fatalf("node peer %d is not running before its parent is killed", peer)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	for deadline := time.Now().Add(5 * time.Second); alive(peer); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(peer, syscall.SIGKILL)
			t.Fatalf("node peer %d outlived its killed parent", peer)
		}
	}
}

// TestOrphanHelper is the process TestNodePeerDiesWithParent kills: it
// starts a Node peer, prints its pid and waits.
func TestOrphanHelper(t *testing.T) {
	if os.Getenv(orphanHelperEnv) != "1" {
		t.Skip("helper process of TestNodePeerDiesWithParent")
	}
	node := requireNode(t)
	cmd := exec.Command(node, "-e", "setInterval(() => {}, 1000)")
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("node peer pid %d\n", cmd.Process.Pid)
	time.Sleep(testTimeout)
	_ = cmd.Process.Kill()
}

// alive reports whether pid is a running process (a zombie is not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}
