package gateway

import (
	"time"

	"github.com/go402/go402/internal/yamlconf"
)

// Default server time limits applied by [Parse] (see [Timeouts]).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 10 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
)

// Timeouts bounds the connections of the gateway's HTTP server (`go402
// gateway`): see the fields of the same names of http.Server. They apply
// when the server starts; a reload keeps the running server's.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers. Key
	// "timeouts.readHeader"; 0 means the default, 10s.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included: the longest
	// upload a client may send through the gateway. Key "timeouts.read";
	// 0 means the default, 10m.
	Read time.Duration
	// Write bounds writing a response, from the end of the request's
	// headers. Key "timeouts.write"; 0 (the default) means no limit, since
	// upstreams may stream (server-sent events, large downloads). Set it
	// when no route streams.
	Write time.Duration
	// Idle bounds how long a kept-alive connection waits for its next
	// request. Key "timeouts.idle"; 0 means the default, 2m.
	Idle time.Duration
}

func (t *Timeouts) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"readHeader": func(v yamlconf.Value) { v.Duration(&t.ReadHeader) },
		"read":       func(v yamlconf.Value) { v.Duration(&t.Read) },
		"write":      func(v yamlconf.Value) { v.Duration(&t.Write) },
		"idle":       func(v yamlconf.Value) { v.Duration(&t.Idle) },
	}
}

func (t *Timeouts) defaults() {
	if t.ReadHeader == 0 {
		t.ReadHeader = DefaultReadHeaderTimeout
	}
	if t.Read == 0 {
		t.Read = DefaultReadTimeout
	}
	if t.Idle == 0 {
		t.Idle = DefaultIdleTimeout
	}
}

func (v *validator) timeouts() {
	t := v.c.Timeouts
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"timeouts.readHeader", t.ReadHeader}, {"timeouts.read", t.Read}, {"timeouts.write", t.Write}, {"timeouts.idle", t.Idle}} {
		if d.d < 0 {
			v.fail(d.key, "must not be negative")
		}
	}
}
