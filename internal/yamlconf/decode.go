package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxValues bounds the values one document may expand to, counting each
// use of an alias as a copy of what it refers to: a few lines of nested
// aliases could otherwise stand for billions of values.
const MaxValues = 100_000

// Fields is the schema of a mapping: the handler of each known key, called
// with the key's value (never a null one).
type Fields map[string]func(Value)

// Decode parses data, a single YAML document named o.File, and decodes
// its top-level mapping with top. Positions are recorded in o; ${NAME}
// references are expanded with env (nil means an empty environment).
// Empty data (or a document holding only comments) decodes nothing. The
// problems found are returned joined, each a *FieldError.
func Decode(o *Origins, data []byte, env func(string) string, top Fields) error {
	if env == nil {
		env = func(string) string { return "" }
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return syntaxError(o.File, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return &FieldError{File: o.File, Line: line, Msg: "invalid YAML: a single document is expected (remove the second ---)"}
	}
	d := &decoder{o: o, env: env}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		d.value(doc.Content[0], "", 0).Fields(top)
	}
	return errors.Join(d.errs...)
}

// syntaxError turns "yaml: line 3: ..." into "name:3: invalid YAML: ...".
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				return &FieldError{File: name, Line: line, Msg: "invalid YAML: " + text}
			}
		}
	}
	return &FieldError{File: name, Msg: "invalid YAML: " + msg}
}

// decoder is the state of one Decode.
type decoder struct {
	o        *Origins
	env      func(string) string
	errs     []error
	values   int
	overflow bool
}

// value wraps n (following aliases) at path; at, if not 0, is the line
// where an alias brought n in.
func (d *decoder) value(n *yaml.Node, path string, at int) Value {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	d.values++
	return Value{d: d, n: n, path: path, at: at}
}

// Value is one value of the document being decoded, at a key path such as
// "routes[0].price". Its methods decode it into a destination, or record a
// problem (leaving the destination alone).
type Value struct {
	d    *decoder
	n    *yaml.Node
	path string
	at   int
}

// Path returns the value's key path.
func (v Value) Path() string { return v.path }

// Line returns the line the value is on.
func (v Value) Line() int { return v.n.Line }

// Failf records a problem with the value.
func (v Value) Failf(format string, args ...any) {
	v.d.errs = append(v.d.errs, &FieldError{File: v.d.o.File, Line: v.Line(), Field: v.path, Msg: fmt.Sprintf(format, args...)})
}

func (v Value) null() bool { return v.n.Kind == yaml.ScalarNode && v.n.Tag == "!!null" }

// tooMany reports (once) whether the document expanded past MaxValues.
func (v Value) tooMany() bool {
	if v.d.values <= MaxValues {
		return false
	}
	if !v.d.overflow {
		v.d.overflow = true
		v.Failf("the document expands to more than %d values (through aliases)", MaxValues)
	}
	return true
}

// Fields decodes a mapping: each key must be in fs, and appear once. A
// key with a null value is left unset.
func (v Value) Fields(fs Fields) {
	if v.null() || v.tooMany() {
		return
	}
	if v.n.Kind != yaml.MappingNode {
		what := v.path
		if what == "" {
			what = "the top level"
		}
		v.Failf("%s must be a mapping of keys to values", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.n.Content); i += 2 {
		k, raw := v.n.Content[i], v.n.Content[i+1]
		key := Value{d: v.d, n: k, path: join(v.path, k.Value)}
		h, known := fs[k.Value]
		switch {
		case k.Kind != yaml.ScalarNode:
			key.path = v.path
			key.Failf("keys must be plain names")
			continue
		case !known:
			key.Failf("unknown key%s", suggest(k.Value, fs))
			continue
		case seen[k.Value]:
			key.Failf("duplicate key")
			continue
		}
		seen[k.Value] = true
		at := v.at
		if raw.Kind == yaml.AliasNode && at == 0 {
			at = k.Line
		}
		val := v.d.value(raw, key.path, at)
		if val.null() {
			continue
		}
		// The key's line: where a mapping or list value starts.
		v.d.o.Record(key.path, Origin{Line: recordLine(k, at)})
		h(val)
	}
}

// recordLine is where a value whose key or list item is n is reported by
// later validation: where the alias that brought it in is, if any.
func recordLine(n *yaml.Node, at int) int {
	if at > 0 {
		return at
	}
	return n.Line
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// List decodes a sequence, calling item with each element (at path[i]).
func (v Value) List(item func(Value)) {
	if v.tooMany() {
		return
	}
	if v.n.Kind != yaml.SequenceNode {
		v.Failf("must be a list (- item lines, or [a, b])")
		return
	}
	for i, raw := range v.n.Content {
		at := v.at
		if raw.Kind == yaml.AliasNode && at == 0 {
			at = raw.Line
		}
		e := v.d.value(raw, fmt.Sprintf("%s[%d]", v.path, i), at)
		v.d.o.Record(e.path, Origin{Line: recordLine(raw, at)})
		item(e)
	}
}

// Scalar returns the value as a string with its ${NAME} references
// expanded; ok is false (and a problem recorded) if it is not a single
// value or a reference cannot be expanded.
func (v Value) Scalar() (s string, ok bool) {
	if v.n.Kind != yaml.ScalarNode {
		v.Failf("must be a single value, not a list or mapping")
		return "", false
	}
	if v.null() {
		return "", true
	}
	return v.expand(v.n.Value)
}

// String decodes a string.
func (v Value) String(dst *string) {
	if s, ok := v.Scalar(); ok {
		*dst = s
	}
}

// Secret decodes a secret: a single value, taken literally (never
// expanded, never quoted in a message).
func (v Value) Secret(dst *Secret) {
	if v.n.Kind != yaml.ScalarNode {
		v.Failf("must be a single value, not a list or mapping")
		return
	}
	*dst = Secret(v.n.Value)
}

// Strings decodes a list of non-empty strings.
func (v Value) Strings(dst *[]string) {
	v.List(func(e Value) {
		s, ok := e.Scalar()
		switch {
		case !ok:
		case s == "":
			e.Failf("must not be empty")
		default:
			*dst = append(*dst, s)
		}
	})
}

// Bool decodes true or false.
func (v Value) Bool(dst *bool) {
	s, ok := v.Scalar()
	if !ok {
		return
	}
	b, err := ParseBool(s)
	if err != nil {
		v.Failf("%v", err)
		return
	}
	*dst = b
}

// Int decodes a decimal integer that fits in bits bits, signed.
func (v Value) Int(bits int, dst func(int64)) {
	s, ok := v.Scalar()
	if !ok {
		return
	}
	x, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
	if err != nil {
		v.Failf("must be a decimal integer")
		return
	}
	dst(x)
}

// Uint decodes a non-negative decimal integer below 2^bits.
func (v Value) Uint(bits int, dst func(uint64)) {
	s, ok := v.Scalar()
	if !ok {
		return
	}
	x, err := strconv.ParseUint(strings.TrimSpace(s), 10, bits)
	if err != nil {
		v.Failf("must be a non-negative decimal integer below 2^%d", bits)
		return
	}
	dst(x)
}

// Duration decodes a duration with a unit, such as 90s or 2m.
func (v Value) Duration(dst *time.Duration) {
	s, ok := v.Scalar()
	if !ok {
		return
	}
	d, err := ParseDuration(s)
	if err != nil {
		v.Failf("%v", err)
		return
	}
	*dst = d
}

// ParseBool parses true or false (as strconv.ParseBool does), with the
// kit's message.
func ParseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, errors.New("must be true or false")
	}
	return b, nil
}

// ParseDuration parses a Go duration with a unit, such as 90s or 2m; a
// bare number is refused.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("must be a duration with a unit, such as 90s or 2m")
	}
	return d, nil
}

// expand replaces ${NAME} by the environment variable NAME; "$${" is a
// literal "${". An unset or empty variable is an error.
func (v Value) expand(s string) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	ok := true
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), ok
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			v.Failf("unterminated ${ (write $${ for a literal ${)")
			return b.String(), false
		}
		name := s[i+2 : i+end]
		if !IsEnvName(name) {
			v.Failf("${...} must hold an environment variable name")
			ok = false
		} else if val := v.d.env(name); val == "" {
			v.Failf("environment variable %s (referenced as ${%s}) is not set", name, name)
			ok = false
		} else {
			b.WriteString(val)
		}
		s = s[i+end+1:]
	}
}

// IsEnvName reports whether s is a portable environment variable name:
// letters, digits and _, not starting with a digit.
func IsEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// suggest returns " (did you mean X?)" for a near miss of a known key (the
// same but for case, a prefix of it or the other way round, or at most two
// edits away), or " (known keys: ...)".
func suggest(key string, fs Fields) string {
	names := make([]string, 0, len(fs))
	for k := range fs {
		names = append(names, k)
	}
	slices.Sort(names)
	lk := strings.ToLower(key)
	best, bestScore := "", 3
	for _, k := range names {
		lo := strings.ToLower(k)
		score := 3
		switch {
		case lo == lk:
			score = 0
		case len(lk) < 4:
		case strings.HasPrefix(lo, lk) || strings.HasPrefix(lk, lo):
			score = 1
		case editDistance(lo, lk) <= 2:
			score = 2
		}
		if score < bestScore {
			best, bestScore = k, score
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // not a typo of a key name
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
