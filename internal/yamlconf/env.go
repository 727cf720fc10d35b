package yamlconf

import (
	"errors"
	"strings"
)

// EnvPrefix starts the name of every environment override.
const EnvPrefix = "GO402_"

// EnvName returns the environment variable that overrides key: GO402_
// and the key's path in upper snake case, where '.' and a boundary from a
// lower-case letter or digit to an upper-case letter become '_', without
// a final ".enabled". For example logLevel is GO402_LOG_LEVEL,
// signer.privateKeyEnv is GO402_SIGNER_PRIVATE_KEY_ENV and
// devnet.batch.enabled is GO402_DEVNET_BATCH.
func EnvName(key string) string {
	key = strings.TrimSuffix(key, ".enabled")
	var b strings.Builder
	b.WriteString(EnvPrefix)
	var prev byte
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '.':
			b.WriteByte('_')
		case c >= 'A' && c <= 'Z':
			if prev >= 'a' && prev <= 'z' || prev >= '0' && prev <= '9' {
				b.WriteByte('_')
			}
			b.WriteByte(c)
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		default:
			b.WriteByte(c)
		}
		prev = c
	}
	return b.String()
}

// Env describes the environment overrides of one command.
type Env struct {
	// Keys are the keys the environment may override, in the order they
	// are applied; each is read from EnvName(key).
	Keys []string
	// Exclusive lists groups of keys whose variables must not be set
	// together (such as two alternative databases).
	Exclusive [][]string
	// Retired maps variables no longer read to the one replacing them:
	// setting one is an error rather than silently ignored.
	Retired map[string]string
}

// Apply reads each key's variable with getenv and, if it is not empty,
// calls set(key, value, variable). Problems are returned joined, each a
// *FieldError naming the variable; nothing is set if a group in Exclusive
// is violated or a retired variable is set.
func (e Env) Apply(file string, getenv func(string) string, set func(key, value, source string) error) error {
	if getenv == nil {
		return nil
	}
	var errs []error
	for old, now := range e.Retired {
		if getenv(old) != "" {
			errs = append(errs, &FieldError{File: file, Msg: old + " is no longer read: rename it " + now})
		}
	}
	for _, group := range e.Exclusive {
		var names []string
		for _, k := range group {
			if n := EnvName(k); getenv(n) != "" {
				names = append(names, n)
			}
		}
		if len(names) > 1 {
			errs = append(errs, &FieldError{File: file, Source: strings.Join(names, " and "), Field: commonParent(group), Msg: "set only one of them"})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, k := range e.Keys {
		n := EnvName(k)
		if v := getenv(n); v != "" {
			if err := set(k, v, n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Parse decodes data with top (see [Decode]) and then, unless data is not
// valid YAML, applies the environment overrides e through set (see
// [Env.Apply]). The problems of both are returned joined.
func Parse(o *Origins, data []byte, getenv func(string) string, top Fields, e Env, set func(key, value, source string) error) error {
	err := Decode(o, data, getenv, top)
	if fe, ok := err.(*FieldError); ok && fe.Field == "" && strings.HasPrefix(fe.Msg, "invalid YAML") {
		return err // not YAML: the environment cannot help
	}
	return errors.Join(err, e.Apply(o.File, getenv, set))
}

// commonParent returns the longest common dotted prefix of keys.
func commonParent(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	parts := strings.Split(keys[0], ".")
	for _, k := range keys[1:] {
		p := strings.Split(k, ".")
		n := 0
		for n < len(parts) && n < len(p) && parts[n] == p[n] {
			n++
		}
		parts = parts[:n]
	}
	return strings.Join(parts, ".")
}
