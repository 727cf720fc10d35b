package gateway

import (
	"errors"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/go402/go402/internal/routepattern"
)

// readOnly answers 405 to methods other than GET, HEAD and OPTIONS before
// any payment is asked for.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		}
	})
}

// fileServer serves the files of a directory through an os.Root, which
// refuses names (and symbolic links) leading outside it. Dotfiles are
// hidden; a directory serves its index.html, else a listing if enabled,
// else 404. It never redirects, so that a paid request is never charged
// for a redirect.
type fileServer struct {
	dir     string
	prefix  int // leading segments of the (cleaned) request path to drop
	listing bool
	log     *slog.Logger
}

func (f *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	segs := routepattern.Segments(r.URL.Path)
	if len(segs) < f.prefix {
		segs = nil
	} else {
		segs = segs[f.prefix:]
	}
	for _, s := range segs {
		if strings.HasPrefix(s, ".") || strings.ContainsRune(s, 0) {
			notFound(w)
			return
		}
	}
	name := path.Join(segs...)
	if name == "" {
		name = "."
	}
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		f.log.Warn("cannot open the directory of a route", "dir", f.dir, "err", err)
		notFound(w)
		return
	}
	defer root.Close()
	file, err := root.Open(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.log.Debug("refused a file", "name", name, "err", err)
		}
		notFound(w)
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		notFound(w)
		return
	}
	if info.IsDir() {
		if idx, err := root.Open(path.Join(name, "index.html")); err == nil {
			defer idx.Close()
			if ii, err := idx.Stat(); err == nil && ii.Mode().IsRegular() {
				http.ServeContent(w, r, ii.Name(), ii.ModTime(), idx)
				return
			}
		}
		if !f.listing {
			notFound(w)
			return
		}
		f.list(w, r, file)
		return
	}
	if !info.Mode().IsRegular() {
		notFound(w)
		return
	}
	http.ServeContent(w, r, info.Name(), info.ModTime(), file)
}

// list writes an HTML listing of dir, without dotfiles.
func (f *fileServer) list(w http.ResponseWriter, r *http.Request, dir *os.File) {
	entries, err := dir.ReadDir(-1)
	if err != nil {
		f.log.Warn("cannot list a directory", "dir", f.dir, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "cannot list the directory"})
		return
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	base := r.URL.Path
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	var b strings.Builder
	title := html.EscapeString(base)
	fmt.Fprintf(&b, "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Index of %s</title>\n<h1>Index of %s</h1>\n<ul>\n", title, title)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if e.IsDir() {
			name += "/"
		}
		href := (&url.URL{Path: base + name}).EscapedPath()
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", html.EscapeString(href), html.EscapeString(name))
	}
	b.WriteString("</ul>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(b.String()))
	}
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
}
