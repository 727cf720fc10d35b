package x402http

import (
	"bufio"
	"bytes"
	"errors"
	"mime"
	"net"
	"net/http"
)

// meterWriter carries the answer of a metered payment, whose charge is
// known only once the handler returned. It holds the answer back, as
// settle-before-serve does, so that the receipt goes in a header and a
// refused settlement withholds the answer, until the handler streams: it
// flushes, answers text/event-stream, or writes more than MaxBufferBytes.
// From then on it passes the answer through, and the receipt follows the
// body as an HTTP trailer. With passthrough set it streams from the start.
type meterWriter struct {
	w           http.ResponseWriter
	header      http.Header // the handler's headers (w.Header() once streaming)
	status      int
	wroteHeader bool
	body        bytes.Buffer
	max         int64
	streaming   bool
	passthrough bool
	// onStream prepares w.Header() (already the handler's headers) just
	// before the status leaves.
	onStream func(h http.Header, status int)
}

func newMeterWriter(w http.ResponseWriter, max int64, passthrough bool, onStream func(http.Header, int)) *meterWriter {
	mw := &meterWriter{w: w, max: max, passthrough: passthrough, onStream: onStream}
	if passthrough {
		mw.header = w.Header()
	} else {
		mw.header = w.Header().Clone()
	}
	return mw
}

func (m *meterWriter) Header() http.Header { return m.header }

func (m *meterWriter) WriteHeader(code int) {
	if m.wroteHeader || (code >= 100 && code < 200) {
		// Informational statuses are not final, and a paid answer is
		// never upgraded (101): both are dropped.
		return
	}
	m.wroteHeader, m.status = true, code
	if m.passthrough || isEventStream(m.header.Get("Content-Type")) {
		m.stream()
	}
}

// isEventStream reports whether a Content-Type is text/event-stream.
func isEventStream(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}

// stream sends the status, the headers and what was buffered, and passes
// the rest of the answer through.
func (m *meterWriter) stream() {
	if m.streaming {
		return
	}
	m.streaming = true
	h := m.w.Header()
	if !m.passthrough {
		clear(h)
		for k, v := range m.header {
			h[k] = v
		}
		m.header = h
	}
	m.onStream(h, m.statusCode())
	m.w.WriteHeader(m.statusCode())
	if m.body.Len() > 0 {
		_, _ = m.w.Write(m.body.Bytes())
		m.body.Reset()
	}
}

func (m *meterWriter) Write(p []byte) (int, error) {
	if !m.wroteHeader {
		m.WriteHeader(http.StatusOK)
	}
	if !m.streaming && int64(m.body.Len()+len(p)) > m.max {
		m.stream()
	}
	if m.streaming {
		return m.w.Write(p)
	}
	return m.body.Write(p)
}

// FlushError streams the answer: what was written so far leaves now. It
// returns the error of the flush (such as a client gone).
func (m *meterWriter) FlushError() error {
	if !m.wroteHeader {
		m.WriteHeader(http.StatusOK)
	}
	m.stream()
	return http.NewResponseController(m.w).Flush()
}

// Flush is FlushError without the error.
func (m *meterWriter) Flush() { _ = m.FlushError() }

// Unwrap lets http.ResponseController reach the underlying writer (for
// deadlines); Flush and Hijack are this writer's.
func (m *meterWriter) Unwrap() http.ResponseWriter { return m.w }

// Hijack is refused: a paid response must go through the writer.
func (m *meterWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("x402http: hijacking a paid response is not supported")
}

// statusCode is the handler's status (200 if it wrote nothing).
func (m *meterWriter) statusCode() int {
	if m.status == 0 {
		return http.StatusOK
	}
	return m.status
}

// release sends a buffered answer with the handler's headers (and those
// prepare adds); it does nothing to an answer already streamed.
func (m *meterWriter) release(prepare func(http.Header)) {
	if m.streaming {
		return
	}
	h := m.w.Header()
	clear(h)
	for k, v := range m.header {
		h[k] = v
	}
	prepare(h)
	m.w.WriteHeader(m.statusCode())
	_, _ = m.w.Write(m.body.Bytes())
}
