package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modulePackage is one directory of non-test Go files in the module.
type modulePackage struct {
	path  string // path inside the module, slash-separated: "facilitator/remote"
	name  string // package clause name: "remote"
	files []*ast.File
	fset  *token.FileSet
}

// modulePackages parses the non-test Go files of every package in the
// module under root.
func modulePackages(t *testing.T, root string) []*modulePackage {
	t.Helper()
	fset := token.NewFileSet()
	byDir := map[string]*modulePackage{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		p := byDir[dir]
		if p == nil {
			rel, err := filepath.Rel(root, dir)
			if err != nil {
				return err
			}
			p = &modulePackage{path: filepath.ToSlash(rel), name: f.Name.Name, fset: fset}
			byDir[dir] = p
		}
		p.files = append(p.files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pkgs := make([]*modulePackage, 0, len(byDir))
	for _, p := range byDir {
		pkgs = append(pkgs, p)
	}
	slices.SortFunc(pkgs, func(a, b *modulePackage) int { return strings.Compare(a.path, b.path) })
	return pkgs
}

// errorPrefixPattern matches a message that starts with "go402: ", the path
// of a module package or the name of one, followed by ": ".
func errorPrefixPattern(pkgs []*modulePackage) *regexp.Regexp {
	seen := map[string]bool{"go402": true}
	for _, p := range pkgs {
		seen[p.path] = true
		if p.name != "main" {
			seen[p.name] = true
		}
	}
	alts := make([]string, 0, len(seen))
	for s := range seen {
		alts = append(alts, regexp.QuoteMeta(s))
	}
	// Longest first, so that "ledger/sqlite" is preferred over "ledger".
	slices.SortFunc(alts, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return regexp.MustCompile(`^(` + strings.Join(alts, "|") + `): `)
}

// errorMessages calls fn with every string literal that is the first
// argument of errors.New or fmt.Errorf in f.
func errorMessages(f *ast.File, fn func(pos token.Pos, msg string)) {
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok || !(x.Name == "errors" && sel.Sel.Name == "New" || x.Name == "fmt" && sel.Sel.Name == "Errorf") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		msg, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		fn(lit.Pos(), msg)
		return true
	})
}

// TestErrorPrefixes enforces the error-prefix convention of library
// packages: a message that names a package at its start ("evm: …") names
// its own package by its path inside the module ("facilitator/remote: …",
// not "remote: " or "go402: "). Internal, main and example packages are
// exempt: the command prints its own prefix.
func TestErrorPrefixes(t *testing.T) {
	root := repoRoot(t)
	pkgs := modulePackages(t, root)
	if len(pkgs) == 0 {
		t.Fatal("found no packages")
	}
	prefix := errorPrefixPattern(pkgs)
	var literals, prefixed int
	for _, p := range pkgs {
		elems := strings.Split(p.path, "/")
		if p.name == "main" || slices.Contains(elems, "internal") || elems[0] == "examples" {
			continue
		}
		for _, f := range p.files {
			errorMessages(f, func(pos token.Pos, msg string) {
				literals++
				m := prefix.FindStringSubmatch(msg)
				if m == nil {
					return
				}
				prefixed++
				if m[1] != p.path {
					position := p.fset.Position(pos)
					rel, _ := filepath.Rel(root, position.Filename)
					t.Errorf("%s:%d: error message %q starts with %q; a message of package %s starts with %q",
						filepath.ToSlash(rel), position.Line, msg, m[1]+": ", p.path, p.path+": ")
				}
			})
		}
	}
	if literals == 0 || prefixed == 0 {
		t.Fatalf("checked %d error messages, %d with a package prefix; the walk found nothing to check", literals, prefixed)
	}
	t.Logf("checked %d error messages, %d with a package prefix", literals, prefixed)
}
