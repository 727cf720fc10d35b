package bazaar

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// maxValidateSteps bounds the work of one validation (local $refs can
// make a schema expand exponentially).
const maxValidateSteps = 20000

// validator checks a value against the subset of JSON Schema 2020-12 that
// discovery declarations use: type, const, enum, properties, required,
// additionalProperties, items, allOf, anyOf, oneOf, not and same-document
// $ref. Other keywords (formats, bounds, patterns) are not checked: they
// constrain examples, not the shape a catalogue relies on.
type validator struct {
	root  any
	steps int
}

func (v *validator) validate(schema, value any, path string, depth int) error {
	v.steps++
	if v.steps > maxValidateSteps || depth > 4*MaxSchemaDepth {
		return reject("%s: the schema is too complex to validate", path)
	}
	switch s := schema.(type) {
	case bool:
		if !s {
			return reject("%s: the schema allows no value here", path)
		}
		return nil
	case map[string]any:
		return v.object(s, value, path, depth)
	default:
		return reject("%s: a schema must be an object or a boolean", path)
	}
}

func (v *validator) object(s map[string]any, value any, path string, depth int) error {
	if ref, ok := s["$ref"].(string); ok {
		target, err := v.resolve(ref)
		if err != nil {
			return reject("%s: %v", path, err)
		}
		if err := v.validate(target, value, path, depth+1); err != nil {
			return err
		}
	}
	if t, ok := s["type"]; ok && !typeMatches(t, value) {
		return reject("%s: want type %v, got %s", path, t, kind(value))
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, value) {
		return reject("%s: want the constant %v", path, c)
	}
	if e, ok := s["enum"].([]any); ok && !inEnum(e, value) {
		return reject("%s: %v is not one of %v", path, value, e)
	}
	if err := v.combinators(s, value, path, depth); err != nil {
		return err
	}
	switch t := value.(type) {
	case map[string]any:
		return v.properties(s, t, path, depth)
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range t {
				if err := v.validate(items, e, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (v *validator) combinators(s map[string]any, value any, path string, depth int) error {
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := v.validate(sub, value, path, depth+1); err != nil {
				return err
			}
		}
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		subs, ok := s[k].([]any)
		if !ok {
			continue
		}
		n := 0
		for _, sub := range subs {
			if v.validate(sub, value, path, depth+1) == nil {
				n++
			}
			if v.steps > maxValidateSteps {
				return reject("%s: the schema is too complex to validate", path)
			}
		}
		if n == 0 || (k == "oneOf" && n != 1) {
			return reject("%s: the value matches %d of the %s schemas", path, n, k)
		}
	}
	if not, ok := s["not"]; ok && v.validate(not, value, path, depth+1) == nil {
		return reject("%s: the value matches a schema it must not", path)
	}
	return nil
}

func (v *validator) properties(s map[string]any, value map[string]any, path string, depth int) error {
	props, _ := s["properties"].(map[string]any)
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			name, _ := r.(string)
			if _, ok := value[name]; !ok {
				return reject("%s: %q is required", path, name)
			}
		}
	}
	_, patterns := s["patternProperties"]
	extra, hasExtra := s["additionalProperties"]
	for k, e := range value {
		if ps, ok := props[k]; ok {
			if err := v.validate(ps, e, path+"."+k, depth+1); err != nil {
				return err
			}
			continue
		}
		if hasExtra && !patterns {
			if err := v.validate(extra, e, path+"."+k, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolve follows a same-document reference, "#" or "#/a/b" (a JSON
// Pointer); anything else was refused by checkLocal already.
func (v *validator) resolve(ref string) (any, error) {
	if ref == "#" {
		return v.root, nil
	}
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %s is not a JSON Pointer into this schema", short(ref))
	}
	cur := v.root
	for tok := range strings.SplitSeq(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("$ref %s points to nothing", short(ref))
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("$ref %s points to nothing", short(ref))
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("$ref %s points to nothing", short(ref))
		}
	}
	return cur, nil
}

func typeMatches(t, value any) bool {
	switch tt := t.(type) {
	case string:
		return isType(tt, value)
	case []any:
		for _, e := range tt {
			if s, ok := e.(string); ok && isType(s, value) {
				return true
			}
		}
	}
	return false
}

func isType(t string, value any) bool {
	switch t {
	case "integer":
		f, ok := value.(float64)
		return ok && f == math.Trunc(f)
	case "number":
		_, ok := value.(float64)
		return ok
	}
	return kind(value) == t
}

func kind(value any) string {
	switch value.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func inEnum(e []any, value any) bool {
	for _, x := range e {
		if reflect.DeepEqual(x, value) {
			return true
		}
	}
	return false
}
