package yamlconf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// sample is a schema exercising every decoder.
type sample struct {
	Name    string
	Token   Secret
	On      bool
	Count   int64
	Size    uint64
	Wait    time.Duration
	Tags    []string
	Items   []item
	Nested  struct{ Deep string }
	origins Origins
}

type item struct {
	ID   string
	Port uint64
}

func (s *sample) fields() Fields {
	return Fields{
		"name":  func(v Value) { v.String(&s.Name) },
		"token": func(v Value) { v.Secret(&s.Token) },
		"on":    func(v Value) { v.Bool(&s.On) },
		"count": func(v Value) { v.Int(32, func(x int64) { s.Count = x }) },
		"size":  func(v Value) { v.Uint(16, func(x uint64) { s.Size = x }) },
		"wait":  func(v Value) { v.Duration(&s.Wait) },
		"tags":  func(v Value) { v.Strings(&s.Tags) },
		"items": func(v Value) {
			v.List(func(v Value) {
				var it item
				v.Fields(Fields{
					"id":   func(v Value) { v.String(&it.ID) },
					"port": func(v Value) { v.Uint(16, func(x uint64) { it.Port = x }) },
				})
				s.Items = append(s.Items, it)
			})
		},
		"nested": func(v Value) {
			v.Fields(Fields{"deep": func(v Value) { v.String(&s.Nested.Deep) }})
		},
	}
}

func decodeSample(t *testing.T, doc string, env map[string]string) (*sample, error) {
	t.Helper()
	s := &sample{origins: Origins{File: "c.yaml"}}
	err := Decode(&s.origins, []byte(doc), mapEnv(env), s.fields())
	return s, err
}

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDecodeValues(t *testing.T) {
	s, err := decodeSample(t, `
name: "${HOST}:$${literal}"
token: ${NOT_EXPANDED}
on: true
count: -12
size: 65535
wait: 1m30s
tags: [a, "${HOST}"]
items:
  - {id: x, port: 80}
  - &it {id: y, port: 443}
  - *it
nested: {deep: here}
`, map[string]string{"HOST": "h.example"})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case s.Name != "h.example:${literal}":
		t.Errorf("name = %q", s.Name)
	case s.Token.Value() != "${NOT_EXPANDED}":
		t.Errorf("token = %q: a secret is taken literally", s.Token.Value())
	case !s.On || s.Count != -12 || s.Size != 65535 || s.Wait != 90*time.Second:
		t.Errorf("scalars: %+v", s)
	case strings.Join(s.Tags, ",") != "a,h.example":
		t.Errorf("tags = %q", s.Tags)
	case len(s.Items) != 3 || s.Items[2] != (item{"y", 443}) || s.Nested.Deep != "here":
		t.Errorf("items %+v nested %+v", s.Items, s.Nested)
	}
	// Positions: a key's line, and what an alias brings in at the alias.
	for key, line := range map[string]int{"name": 2, "items": 9, "items[1].port": 11, "items[2]": 12, "items[2].port": 12, "nested.deep": 13} {
		e := s.origins.Errorf(key, "x")
		if e.Line != line {
			t.Errorf("%s reported at line %d, want %d", key, e.Line, line)
		}
	}
	if !s.origins.IsSet("wait") || s.origins.IsSet("nested.missing") {
		t.Error("IsSet")
	}
	if e := s.origins.Errorf("nested.missing", "x"); e.Line != 13 {
		t.Errorf("a missing key is reported at its parent's line, got %d", e.Line)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		s, err := decodeSample(t, doc, nil)
		if err != nil || s.Name != "" || s.origins.IsSet("name") {
			t.Errorf("%q: %v %+v", doc, err, s)
		}
	}
	s, err := decodeSample(t, "name:\ntags: ~\n", nil)
	if err != nil || s.origins.IsSet("name") || s.origins.IsSet("tags") {
		t.Errorf("null values must leave keys unset: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string
	}{
		{"syntax", "name: [a\n", "c.yaml:1: invalid YAML: "},
		{"tab", "nested:\n\tdeep: x\n", "c.yaml:2: invalid YAML"},
		{"two documents", "name: a\n---\nname: b\n", "c.yaml:2: invalid YAML: a single document is expected (remove the second ---)"},
		{"top level", "- a\n", "c.yaml:1: the top level must be a mapping of keys to values"},
		{"unknown prefix", "names: x\n", "c.yaml:1: names: unknown key (did you mean name?)"},
		{"unknown case", "Wait: 1s\n", "c.yaml:1: Wait: unknown key (did you mean wait?)"},
		{"unknown typo", "nested:\n  deeep: x\n", "c.yaml:2: nested.deeep: unknown key (did you mean deep?)"},
		{"unknown far", "colour: blue\n", "c.yaml:1: colour: unknown key (known keys: count, items, name, nested, on, size, tags, token, wait)"},
		{"duplicate", "name: a\nname: b\n", "c.yaml:2: name: duplicate key"},
		{"non-scalar key", "? [a]\n: b\n", "c.yaml:1: keys must be plain names"},
		{"not a mapping", "nested: x\n", "c.yaml:1: nested: nested must be a mapping of keys to values"},
		{"not a list", "tags: a\n", "c.yaml:1: tags: must be a list (- item lines, or [a, b])"},
		{"not a scalar", "name: [a]\n", "c.yaml:1: name: must be a single value, not a list or mapping"},
		{"secret not a scalar", "token: {a: b}\n", "c.yaml:1: token: must be a single value"},
		{"bool", "on: yes please\n", "c.yaml:1: on: must be true or false"},
		{"int", "count: many\n", "c.yaml:1: count: must be a decimal integer"},
		{"int range", "count: 9999999999\n", "c.yaml:1: count: must be a decimal integer"},
		{"uint negative", "size: -1\n", "c.yaml:1: size: must be a non-negative decimal integer below 2^16"},
		{"uint range", "size: 65536\n", "c.yaml:1: size: must be a non-negative decimal integer below 2^16"},
		{"duration without unit", "wait: 90\n", "c.yaml:1: wait: must be a duration with a unit, such as 90s or 2m"},
		{"empty list item", "tags: [a, '']\n", "c.yaml:1: tags[1]: must not be empty"},
		{"unset variable", "\nname: ${NOPE}\n", "c.yaml:2: name: environment variable NOPE (referenced as ${NOPE}) is not set"},
		{"empty variable", "name: ${EMPTY}\n", "environment variable EMPTY (referenced as ${EMPTY}) is not set"},
		{"bad variable name", "name: ${1X}\n", "c.yaml:1: name: ${...} must hold an environment variable name"},
		{"unterminated", "name: ${HOST\n", "c.yaml:1: name: unterminated ${ (write $${ for a literal ${)"},
		{"nested item", "items:\n  - id: a\n    prot: 1\n", "c.yaml:3: items[0].prot: unknown key (did you mean port?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeSample(t, tt.doc, map[string]string{"EMPTY": ""})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%T is not a *FieldError", err)
			}
		})
	}
}

// tree is a recursive schema: the one kind a document can blow up with
// aliases.
type tree struct{ kids []*tree }

func (tr *tree) fields() Fields {
	return Fields{"kids": func(v Value) {
		v.List(func(v Value) {
			k := &tree{}
			v.Fields(k.fields())
			tr.kids = append(tr.kids, k)
		})
	}}
}

func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {kids: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {kids: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("kids: [*a8]\n")
	o := Origins{File: "c.yaml"}
	tr := &tree{}
	fs := tr.fields()
	for i := range 9 {
		fs[fmt.Sprintf("a%d", i)] = func(Value) {}
	}
	err := Decode(&o, []byte(b.String()), nil, fs)
	if err == nil ||
		!strings.Contains(err.Error(), "the document expands to more than 100000 values (through aliases)") {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeAllErrorsAtOnce(t *testing.T) {
	_, err := decodeSample(t, "name: [a]\nbogus: 1\non: maybe\n", nil)
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if errors.As(e, &fe) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("want 3 joined FieldErrors, got %d: %v", n, err)
	}
}

func TestFieldErrorText(t *testing.T) {
	tests := []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "gateway.yaml", Line: 12, Field: "routes[0].price", Msg: "bad"}, "gateway.yaml:12: routes[0].price: bad"},
		{FieldError{File: "c.yaml", Source: "GO402_LISTEN", Field: "listen", Msg: "bad"}, "c.yaml: listen (from GO402_LISTEN): bad"},
		{FieldError{File: "c.yaml", Line: 3, Msg: "invalid YAML: x"}, "c.yaml:3: invalid YAML: x"},
		{FieldError{Field: "listen", Msg: "bad"}, "listen: bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestOrigins(t *testing.T) {
	var o Origins
	o.File = "f.yaml"
	o.Record("db", Origin{Line: 3})
	o.Record("db.sqlite", Origin{Line: 4})
	o.Record("list[1]", Origin{Line: 7})
	o.Record("list[10]", Origin{Line: 9})
	o.Forget("db") // replaced as a whole
	o.Record("db", Origin{Source: "GO402_DB"})
	if o.IsSet("db.sqlite") || !o.IsSet("db") {
		t.Error("Forget must drop the children of the key")
	}
	if got := o.Errorf("db.sqlite", "bad %d", 1).Error(); got != "f.yaml: db.sqlite (from GO402_DB): bad 1" {
		t.Errorf("got %q", got)
	}
	o.Forget("list[1]")
	if o.IsSet("list[1]") || !o.IsSet("list[10]") {
		t.Error("Forget list[1] must keep list[10]")
	}
	c := NewCheck(&o)
	if c.Err() != nil {
		t.Error("empty Check")
	}
	c.Failf("list[10].x", "one")
	c.Failf("other", "two")
	err := c.Err()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line != 9 || !strings.Contains(err.Error(), "f.yaml: other: two") {
		t.Errorf("Check: %v", err)
	}
}
