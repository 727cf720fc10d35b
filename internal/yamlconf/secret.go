package yamlconf

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Redacted is what a non-empty Secret prints as.
const Redacted = "[redacted]"

// Secret is a string that never prints: every fmt verb, log/slog,
// encoding/json and encoding.TextMarshaler show "[redacted]" (and an empty
// secret shows ""). Value returns the content.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// Format prints String whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue hides the secret from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the secret from encoding/json.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText hides the secret from encoders using encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
