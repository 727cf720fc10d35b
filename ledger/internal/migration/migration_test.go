package migration

import (
	"reflect"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("two")},
		"m/0001_init.sql": {Data: []byte("one")},
	}
	ms, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{1, "0001_init.sql", "one"}, {2, "0002_more.sql", "two"}}
	if !reflect.DeepEqual(ms, want) {
		t.Fatalf("Load: %+v, want %+v", ms, want)
	}
	if got := Pending(ms, []int{1}); len(got) != 1 || got[0].Version != 2 {
		t.Errorf("Pending after 1: %+v", got)
	}
	if got := Pending(ms, []int{1, 2}); len(got) != 0 {
		t.Errorf("Pending after 1, 2: %+v", got)
	}
	if v := Newest(ms, []int{1, 2}); v != 0 {
		t.Errorf("Newest of known versions: %d", v)
	}
	if v := Newest(ms, []int{1, 2, 5, 3}); v != 5 {
		t.Errorf("Newest: %d, want 5", v)
	}
}

func TestLoadRejects(t *testing.T) {
	bad := map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"repeat":    {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no start":  {"m/0002_b.sql": {}},
		"bad name":  {"m/1_a.sql": {}},
		"no number": {"m/init.sql": {}},
		"zero":      {"m/0000_a.sql": {}},
		"other":     {"m/0001_a.sql": {}, "m/README": {}},
		"empty":     {"m/.keep/x": {}},
		"missing":   {},
	}
	for name, fsys := range bad {
		if ms, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: Load succeeded: %+v", name, ms)
		}
	}
}
