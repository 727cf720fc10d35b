package yamlconf

import (
	"errors"
	"testing"
)

// FuzzDecode checks that no document panics the decoder, and that every
// problem it reports is a *FieldError naming the file.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"", "name: x\n", "items:\n  - {id: a, port: 1}\n  - &a {id: b}\n  - *a\n",
		"tags: [a, ${HOST}, $${x}]\n", "wait: 1s\nsize: 7\ncount: -1\non: true\n",
		"? [a]\n: b\n", "- a\n", "a: &a [*a]\n", "name: ${\n", "---\n---\n", "nested: {deep: !!binary aGk=}\n",
		"<<: {name: x}\n", "items: [~, null, [], {}]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &sample{origins: Origins{File: "f.yaml"}}
		err := Decode(&s.origins, data, mapEnv(map[string]string{"HOST": "h"}), s.fields())
		if err == nil {
			return
		}
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			var fe *FieldError
			if !errors.As(e, &fe) || fe.File != "f.yaml" {
				t.Fatalf("%T %v is not a *FieldError of f.yaml", e, e)
			}
		}
	})
}
