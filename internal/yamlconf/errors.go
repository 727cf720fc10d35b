package yamlconf

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is a problem with one configuration key. Its text is
// "file:line: field: message", or "file: field (from SOURCE): message"
// for a value that did not come from the file.
type FieldError struct {
	// File is the configuration's name as given to the parser.
	File string
	// Line is the line of the value (or of its closest parent when the key
	// is missing); 0 when unknown or not from the file.
	Line int
	// Source names the environment variable or flag the value came from,
	// if it did not come from the file.
	Source string
	// Field is the key's path, such as "routes[1].price"; empty for a
	// problem with the whole document.
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Source != "" {
			fmt.Fprintf(&b, " (from %s)", e.Source)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Origin is where a key's value came from: a line of the file, or another
// source such as an environment variable or a flag.
type Origin struct {
	Line   int
	Source string
}

// Origins records where each key of one configuration came from. Its zero
// value is ready to use; File names the configuration in messages.
type Origins struct {
	// File is the configuration's name, used in messages.
	File string
	m    map[string]Origin
}

// Record notes that key's value came from at. A value that replaces a
// whole section should Forget the section first.
func (o *Origins) Record(key string, at Origin) {
	if o.m == nil {
		o.m = map[string]Origin{}
	}
	o.m[key] = at
}

// Forget drops what was recorded for key and its children.
func (o *Origins) Forget(key string) {
	for k := range o.m {
		if k == key || isChild(k, key) {
			delete(o.m, k)
		}
	}
}

// IsSet reports whether a value was recorded for key: given in the file,
// or by an environment variable or a flag.
func (o *Origins) IsSet(key string) bool {
	_, ok := o.m[key]
	return ok
}

// isChild reports whether k is below key: "key.x" or "key[i]".
func isChild(k, key string) bool {
	rest, ok := strings.CutPrefix(k, key)
	return ok && rest != "" && (rest[0] == '.' || rest[0] == '[')
}

// Errorf returns a FieldError for key, located where key, or its closest
// recorded parent, came from.
func (o *Origins) Errorf(key, format string, args ...any) *FieldError {
	e := &FieldError{File: o.File, Field: key, Msg: fmt.Sprintf(format, args...)}
	for k := key; ; {
		if at, ok := o.m[k]; ok {
			e.Line, e.Source = at.Line, at.Source
			break
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return e
}

// Check collects the problems found by a validation, each located by
// Origins.
type Check struct {
	o    *Origins
	errs []error
}

// NewCheck returns an empty Check locating its problems with o.
func NewCheck(o *Origins) *Check { return &Check{o: o} }

// Failf records a problem with key.
func (c *Check) Failf(key, format string, args ...any) {
	c.errs = append(c.errs, c.o.Errorf(key, format, args...))
}

// Err returns the problems recorded, joined, or nil.
func (c *Check) Err() error { return errors.Join(c.errs...) }
