package x402http

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
)

// errBufferFull is returned by bufferedWriter.Write past its limit.
var errBufferFull = errors.New("x402http: response larger than MaxBufferBytes")

// bufferedWriter holds a handler's response until the payment settles. The
// handler sees, and may change, the headers already set on the real writer
// (by outer middlewares and by this one), as it would without buffering.
type bufferedWriter struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	max      int64
	overflow bool
}

func newBufferedWriter(max int64, header http.Header) *bufferedWriter {
	return &bufferedWriter{header: header.Clone(), max: max}
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	// Informational (1xx) statuses are not the final status; they are
	// dropped, so a later failure status is what counts.
	if code >= 100 && code < 200 {
		return
	}
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if int64(b.body.Len()+len(p)) > b.max {
		b.overflow = true
		return 0, errBufferFull
	}
	return b.body.Write(p)
}

// statusCode is the handler's status (200 if it wrote nothing).
func (b *bufferedWriter) statusCode() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// copyHeader makes the real writer's headers those the handler left, as
// if it had written to it directly.
func (b *bufferedWriter) copyHeader(w http.ResponseWriter) {
	h := w.Header()
	clear(h)
	for k, v := range b.header {
		h[k] = v
	}
}

// flushTo sends the buffered status and body; the headers must have been
// copied with copyHeader.
func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	w.WriteHeader(b.statusCode())
	_, _ = w.Write(b.body.Bytes())
}

// streamWriter passes the response through and calls onHeader once, with
// the status, before the first byte leaves; used by ServeThenSettle so that
// a settlement is queued only for a successful status and streaming works.
type streamWriter struct {
	http.ResponseWriter
	// base is the response header as it was before the handler ran (the
	// middleware's and outer handlers' headers): a failed answer is sent
	// with these only.
	base        http.Header
	onHeader    func(status int) // may add response headers, or call fail
	wroteHeader bool
	status      int
	failed      bool // the response was replaced; the handler's output is dropped
}

// fail replaces the response with an error status and message before
// anything was sent. Every header the handler set is dropped: the answer
// carries the headers that were there before it ran, and its own.
func (s *streamWriter) fail(status int, msg string) {
	s.failed = true
	h := s.ResponseWriter.Header()
	clear(h)
	for k, v := range s.base {
		h[k] = v
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	s.ResponseWriter.WriteHeader(status)
	_, _ = s.ResponseWriter.Write(appendJSONString([]byte(`{"error":`), msg))
	_, _ = s.ResponseWriter.Write([]byte("}\n"))
}

func (s *streamWriter) WriteHeader(code int) {
	if s.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		s.ResponseWriter.WriteHeader(code) // informational: not the final status
		return
	}
	s.wroteHeader, s.status = true, code
	s.onHeader(code)
	if s.failed {
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	if s.failed {
		return len(p), nil // dropped: the client got the error instead
	}
	return s.ResponseWriter.Write(p)
}

// Flush supports streaming (server-sent events).
func (s *streamWriter) Flush() {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack is refused: a paid response must go through the writer.
func (s *streamWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("x402http: hijacking a paid response is not supported")
}
