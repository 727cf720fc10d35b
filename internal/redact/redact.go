// Package redact keeps secrets out of go402's logs and errors: RPC
// providers put API keys in their URLs' user information
// (https://:KEY@host), paths (/v2/KEY) and queries (?apikey=KEY), and
// transport errors quote the URL they failed on (Post "https://host/v2/KEY":
// ...). Every component (the facilitator, the EVM sender and scheme, the
// gateway, the go402 commands) logs through [Logger] and wraps the errors
// of an RPC endpoint with [Scrub], so that one rule reduces every URL to
// its scheme and host.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Error returns err's text with every URL reduced as [Text] does; "" for
// a nil err.
func Error(err error) string {
	if err == nil {
		return ""
	}
	return Text(err.Error())
}

// Text reduces every URL in s to its scheme and host, followed by
// "/…" when it had more: RPC providers put API keys in the path or query,
// and transport errors quote the URL they failed on (Post
// "https://host/v2/KEY": ...). User information (user:password@) is
// dropped as well. Text that is not a URL is left as it is.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		for start < i && !isLetter(s[start]) {
			start++ // a scheme starts with a letter
		}
		if start == i {
			b.WriteString(s[:i+3])
			s = s[i+3:]
			continue
		}
		end := i + 3
		for end < len(s) && !endsURL(s[end]) {
			end++
		}
		b.WriteString(s[:start])
		b.WriteString(redactURL(s[start:i], s[i+3:end]))
		s = s[end:]
	}
}

// URL reduces a URL, such as an RPC endpoint, to its scheme and
// host, followed by "/…" when it had more: RPC providers put API keys in
// the path or query. User information is dropped. Text that is not a URL
// with a host gives "(unparsable URL)".
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if host, _ := hostOf(rest); !ok || !isScheme(scheme) || host == "" {
		return "(unparsable URL)"
	}
	return redactURL(scheme, rest)
}

// redactURL is scheme://host of a URL whose text after "://" is rest.
func redactURL(scheme, rest string) string {
	host, more := hostOf(rest)
	out := scheme + "://" + host
	if more != "" && more != "/" {
		out += "/…"
	}
	return out
}

// hostOf splits rest, the text of a URL after "://", into its host (with
// the port, without user information) and what follows it.
func hostOf(rest string) (host, more string) {
	host = rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		host, more = rest[:j], rest[j:]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	return host, more
}

func isScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := range len(s) {
		if !isSchemeByte(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isSchemeByte(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// endsURL reports whether c cannot be part of a URL as error messages
// quote them.
func endsURL(c byte) bool {
	switch c {
	case '"', '\'', '`', '<', '>', 0x7f:
		return true
	}
	return c <= ' '
}

// Logger returns a logger writing to l's handler with every URL in its
// messages and values reduced as [Text] does, so that no log line shows
// an RPC key, whatever error or value it carries. A nil l gives a logger
// that discards; a logger that already redacts is returned as it is.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	if _, ok := l.Handler().(redactingHandler); ok {
		return l
	}
	return slog.New(Handler(l.Handler()))
}

// Handler returns a slog.Handler that reduces every URL in the messages
// and values of its records (see [Logger]) before passing them to h.
func Handler(h slog.Handler) slog.Handler {
	if r, ok := h.(redactingHandler); ok {
		return r
	}
	return redactingHandler{h}
}

// redactingHandler is a slog.Handler that redacts URLs (see Logger)
// before passing records on.
type redactingHandler struct{ h slog.Handler }

func (r redactingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return r.h.Enabled(ctx, level)
}

func (r redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, Text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return redactingHandler{r.h.WithAttrs(red)}
}

func (r redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{r.h.WithGroup(name)}
}

// redactAttr redacts the URLs in a's value: in a string, an error (given
// as its redacted text), a group's members, and any other value whose
// text holds one (given as its redacted text).
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		v = slog.StringValue(Text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, m := range g {
			red[i] = redactAttr(m)
		}
		v = slog.GroupValue(red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			v = slog.StringValue(Error(x))
		case url.URL:
			v = slog.StringValue(Text(x.String()))
		default:
			if s := fmt.Sprintf("%+v", x); strings.Contains(s, "://") {
				v = slog.StringValue(Text(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Scrub rewrites err's text so that it shows neither raw, the URL of an
// endpoint err may quote, nor any other URL beyond its scheme and host,
// keeping the error chain for errors.Is and errors.As. Besides the URL as
// written, it replaces the forms net/http quotes it in (re-encoded, with
// the password hidden) by its [URL] form, then reduces every URL left as
// [Text] does. A nil err gives nil.
func Scrub(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	forms := []string{raw}
	if u, perr := url.Parse(raw); perr == nil {
		forms = append(forms, u.String(), u.Redacted())
		if _, hasPassword := u.User.Password(); hasPassword {
			// net/http's client quotes a URL with its password as "***".
			forms = append(forms, strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1))
		}
	}
	scrubbed := msg
	for _, f := range forms {
		if f != "" {
			scrubbed = strings.ReplaceAll(scrubbed, f, URL(raw))
		}
	}
	scrubbed = Text(scrubbed)
	if scrubbed == msg {
		return err
	}
	return &scrubbedError{msg: scrubbed, err: err}
}

// scrubbedError is an error with a rewritten message.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// DSN hides the password and the query (which may carry one) of a
// PostgreSQL URL; anything else gives "(connection string)".
func DSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "(connection string)"
	}
	u.RawQuery = ""
	return u.Redacted()
}

// Wrap rewrites err's text with every URL reduced as [Text] does, keeping
// the error chain for errors.Is and errors.As: for errors that may quote
// an endpoint whose URL the caller does not know. A nil err gives nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := Text(msg); red != msg {
		return &scrubbedError{msg: red, err: err}
	}
	return err
}
