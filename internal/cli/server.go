package cli

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// serverLimits are the time limits of one of the command's HTTP servers
// (see the http.Server fields of the same names). A zero Read or Write
// means no limit; a zero ReadHeader or Idle means the default.
type serverLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// apiLimits are the limits of a server of small JSON requests and answers
// (the facilitator, the demo and bench servers): an answer may wait for a
// settlement, which write allows for.
func apiLimits(write time.Duration) serverLimits {
	return serverLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: write, Idle: 2 * time.Minute}
}

// newServer is every HTTP server the commands start: h with the limits
// lim, its errors logged to log at warn level (nil: discarded), and its
// requests' contexts derived from base (nil: the background).
func newServer(h http.Handler, lim serverLimits, log *slog.Logger, base context.Context) *http.Server {
	if lim.ReadHeader <= 0 {
		lim.ReadHeader = 10 * time.Second
	}
	if lim.Idle <= 0 {
		lim.Idle = 2 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       max(lim.Read, 0),
		WriteTimeout:      max(lim.Write, 0),
		IdleTimeout:       lim.Idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if base != nil {
		srv.BaseContext = func(net.Listener) context.Context { return base }
	}
	return srv
}
