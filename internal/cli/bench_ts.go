package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// nodeStartTimeout bounds the wait for the Node facilitator's "listening"
// line.
const nodeStartTimeout = 30 * time.Second

// tsPeer describes the official TypeScript facilitator used by go402 bench.
type tsPeer struct {
	node     string // path of the node binary
	script   string // interop/js/facilitator-v2.mjs
	Node     string `json:"node,omitempty"`     // node --version
	Packages string `json:"packages,omitempty"` // "@x402/core 2.27.0, @x402/evm 2.27.0"
}

// findTSPeer checks that node and the interop packages (`make interop`) are
// present. It returns a reason when they are not.
func findTSPeer(ctx context.Context, interopDir string) (*tsPeer, string) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, "node is not on PATH"
	}
	script := filepath.Join(interopDir, "js", "facilitator-v2.mjs")
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Sprintf("%s not found (run from the repository root or set --interop-dir)", script)
	}
	var versions []string
	for _, pkg := range []string{"core", "evm"} {
		raw, err := os.ReadFile(filepath.Join(interopDir, "node_modules", "@x402", pkg, "package.json"))
		if err != nil {
			return nil, fmt.Sprintf("%s/node_modules is not installed (run `make interop`)", interopDir)
		}
		var meta struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Sprintf("@x402/%s/package.json: %v", pkg, err)
		}
		versions = append(versions, "@x402/"+pkg+" "+meta.Version)
	}
	p := &tsPeer{node: node, script: script, Packages: strings.Join(versions, ", ")}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(vctx, node, "--version").Output(); err == nil {
		p.Node = strings.TrimSpace(string(out))
	}
	return p, ""
}

// nodeProc is a running Node facilitator. Its stdin is a pipe the script
// watches (EXIT_ON_STDIN_EOF): if this process dies, the pipe closes and
// Node exits too.
type nodeProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}
	stderr *tailBuffer
	url    string
}

// startTSFacilitator runs facilitator-v2.mjs on a free loopback port with
// env added to the environment, and waits for its "listening" line.
func (p *tsPeer) startTSFacilitator(ctx context.Context, env map[string]string) (*nodeProc, error) {
	cmd := exec.CommandContext(ctx, p.node, p.script)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PORT=0", "EXIT_ON_STDIN_EOF=1")
	cmd.WaitDelay = 3 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	np := &nodeProc{cmd: cmd, stdin: stdin, done: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = np.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.script, err)
	}
	port := make(chan string, 1)
	var drained sync.WaitGroup
	drained.Add(1)
	go func() {
		defer drained.Done()
		re := regexp.MustCompile(`^Facilitator listening (\d+)$`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case port <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		drained.Wait() // Wait closes stdout: read it to the end first
		_ = cmd.Wait()
		close(np.done)
	}()
	timer := time.NewTimer(nodeStartTimeout)
	defer timer.Stop()
	select {
	case pt := <-port:
		np.url = "http://127.0.0.1:" + pt
		return np, nil
	case <-np.done:
		return nil, fmt.Errorf("%s exited before listening (%v): %s", p.script, cmd.ProcessState, np.stderr.String())
	case <-timer.C:
		err = fmt.Errorf("%s: no listening line within %v: %s", p.script, nodeStartTimeout, np.stderr.String())
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = np.close()
	return nil, err
}

// close stops the Node process and waits for it.
func (np *nodeProc) close() error {
	_ = np.stdin.Close()
	_ = np.cmd.Process.Kill()
	select {
	case <-np.done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("node facilitator did not exit")
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
