package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/channelstest"
	"github.com/go402/go402/channels/sqlite"
)

func newDB(t *testing.T) func(t *testing.T) channels.Store {
	path := filepath.Join(t.TempDir(), "channels.db")
	return func(t *testing.T) channels.Store {
		t.Helper()
		s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	channelstest.Run(t, channelstest.Options{NewDB: newDB})
}

// A second store on a file in use is refused: the store's memory is
// authoritative only while it is the file's one writer.
func TestOneProcessPerFile(t *testing.T) {
	open := newDB(t)
	s := open(t)
	defer s.Close()
	_, err := sqlite.Open(t.Context(), sqlite.Config{Path: s.(*sqlite.Store).Path()})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v, want in use", err)
	}
}

func TestOpenRefusesPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if _, err := sqlite.Open(t.Context(), sqlite.Config{Path: p}); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}
