package evm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A Sender on a backend whose transport errors quote the RPC URL (as
// go-ethereum's do: Post "https://host/v2/KEY": ...) shows the URL's
// scheme and host only, in its logs and in its errors, whatever logger
// it is given.
func TestSenderNeverShowsTheRPCURL(t *testing.T) {
	c := newSimChain(t)
	c.mine(t)
	h := &hookBackend{Backend: c.client}
	var logs lockedBuffer
	s := c.sender(t, h, func(cfg *SenderConfig) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	for _, raw := range []string{"https://:SECRETPW@rpc.example/", "https://rpc.example/v2/SECRETKEY", "https://rpc.example/?apikey=SECRETQ"} {
		h.setSend(func(context.Context, *types.Transaction, func(context.Context) error) error {
			return &url.Error{Op: "Post", URL: raw, Err: errors.New("dial tcp: connection refused")}
		})
		_, err := s.Send(context.Background(), recipient(1), nil)
		if !errors.Is(err, ErrSendUnknown) {
			t.Fatalf("%s: %v", raw, err)
		}
		var ue *url.Error
		if !errors.As(err, &ue) {
			t.Errorf("the error chain is lost: %#v", err)
		}
		for _, text := range []string{err.Error(), logs.String()} {
			for _, secret := range []string{"SECRETPW", "SECRETKEY", "SECRETQ"} {
				if strings.Contains(text, secret) {
					t.Errorf("%s shows in: %s", secret, text)
				}
			}
		}
		if !strings.Contains(logs.String(), "https://rpc.example") {
			t.Errorf("the logs do not name the host: %s", logs.String())
		}
		h.setSend(nil)
		if err := s.ResetNonce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
