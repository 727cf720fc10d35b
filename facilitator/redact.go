package facilitator

import "github.com/go402/go402/internal/redact"

// RedactURL reduces a URL, such as an RPC endpoint, to its scheme and
// host, followed by "/…" when it had more: RPC providers put API keys in
// the path or query. User information is dropped. Text that is not a URL
// with a host gives "(unparsable URL)". It is the rule every go402
// component logs with.
func RedactURL(raw string) string { return redact.URL(raw) }

// ScrubURL rewrites err's text so that it shows neither raw, a URL it may
// quote, nor any other URL beyond its scheme and host (see RedactURL),
// keeping the error chain for errors.Is and errors.As. A nil err gives
// nil.
func ScrubURL(err error, raw string) error { return redact.Scrub(err, raw) }

// RedactDSN hides the password and the query (which may carry one) of a
// PostgreSQL URL; anything else gives "(connection string)".
func RedactDSN(dsn string) string { return redact.DSN(dsn) }
