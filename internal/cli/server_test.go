package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every server the commands start has all four time limits.
func TestServerLimits(t *testing.T) {
	for _, lim := range []serverLimits{apiLimits(time.Minute), {}, {Read: time.Hour}} {
		srv := newServer(http.NotFoundHandler(), lim, nil, nil)
		if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || srv.ReadTimeout != lim.Read || srv.WriteTimeout != lim.Write || srv.ErrorLog == nil {
			t.Errorf("%+v: server %+v", lim, srv)
		}
	}
	if s := newServer(http.NotFoundHandler(), apiLimits(time.Minute), nil, nil); s.ReadTimeout <= 0 || s.WriteTimeout != time.Minute {
		t.Errorf("apiLimits: %v %v", s.ReadTimeout, s.WriteTimeout)
	}
}

// go402 gateway drops a client that sends a request body too slowly
// (timeouts.read), rather than holding the connection and the upstream's
// for as long as the client likes.
func TestGatewaySlowBodyTimesOut(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "read")
	}))
	t.Cleanup(up.Close)
	cfgPath := filepath.Join(t.TempDir(), "gw.yaml")
	cfg := fmt.Sprintf("timeouts: {read: 1s}\nroutes:\n  - {path: /free/*, upstream: %s}\n", up.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr gwBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"gateway", "--config", cfgPath, "--listen", "127.0.0.1:0"}, strings.NewReader(""), &stdout, &stderr)
	}()
	urlRE := regexp.MustCompile(`URL +http://(\S+)`)
	gwWait(t, "the URL line", done, func() bool { return urlRE.MatchString(stdout.String()) })
	addr := urlRE.FindStringSubmatch(stdout.String())[1]

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /free/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	// The rest of the body never comes. The gateway must end the exchange
	// (an answer or a closed connection); the deadline only keeps a
	// gateway without a read limit from hanging the test.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n')
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the gateway still waits for the body: no read time limit")
	}
	cancel()
	<-done
}
