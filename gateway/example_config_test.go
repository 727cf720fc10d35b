package gateway_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go402/go402/gateway"
)

// The example in examples/gateway must stay a valid configuration whose
// free route does not give away the files its paid route sells.
func TestExampleGatewayConfig(t *testing.T) {
	cfg, err := gateway.Load(filepath.Join("..", "examples", "gateway", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 {
		t.Errorf("%d routes", len(cfg.Routes))
	}
	if err := freeRoutesOverPaidFolders(cfg); err != nil {
		t.Error(err)
	}
	// Each folder holds what its route promises.
	for _, r := range cfg.Routes {
		entries, err := os.ReadDir(r.Dir)
		if err != nil || len(entries) == 0 {
			t.Errorf("route %s: folder %s: %d files, %v", r.Path, r.Dir, len(entries), err)
		}
	}
}

// The check above catches a free route over a paid folder, over a folder
// inside it, or over a folder containing it.
func TestFreeRoutesOverPaidFoldersCheck(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, free string
		bad        bool
	}{
		{"same folder", "./files", true},
		{"same folder, spelled differently", "./other/../files/", true},
		{"inside the paid folder", "./files/public", true},
		{"containing the paid folder", ".", true},
		{"separate folder", "./free", false},
		{"sibling with a common prefix", "./files-free", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := fmt.Sprintf("payTo: \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\"\nnetwork: eip155:84532\nfacilitator: {url: http://127.0.0.1:4022}\nroutes:\n"+
				"  - {path: /reports/*, dir: ./files, price: $0.01}\n  - {path: /free/*, dir: %q}\n", c.free)
			cfg, err := gateway.Parse(filepath.Join(dir, "gateway.yaml"), []byte(text), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = freeRoutesOverPaidFolders(cfg)
			if (err != nil) != c.bad {
				t.Errorf("free folder %s: %v, want an error: %v", c.free, err, c.bad)
			}
		})
	}
}

// freeRoutesOverPaidFolders reports every free route whose folder is, is
// inside or contains the folder of a paid route: it would serve the paid
// files for free.
func freeRoutesOverPaidFolders(cfg *gateway.Config) error {
	var errs []error
	for _, paid := range cfg.Routes {
		if paid.Dir == "" || paid.Free() {
			continue
		}
		for _, free := range cfg.Routes {
			if free.Dir == "" || !free.Free() {
				continue
			}
			p, f := realPath(paid.Dir), realPath(free.Dir)
			if within(f, p) || within(p, f) {
				errs = append(errs, fmt.Errorf("free route %s serves %s, which overlaps %s sold by %s", free.Path, free.Dir, paid.Dir, paid.Path))
			}
		}
	}
	return errors.Join(errs...)
}

// realPath is dir, absolute and cleaned, with symbolic links resolved when
// it exists.
func realPath(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return real
	}
	return filepath.Clean(dir)
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
