package x402http

import (
	"regexp"
	"strings"

	"github.com/go402/go402/bazaar"
)

// declareDiscovery adds the bazaar extension of r.Discovery to
// r.Extensions; method is the pattern's ("" for every method: GET).
func declareDiscovery(r *Route, method string) error {
	if r.Discovery == nil {
		return nil
	}
	d := *r.Discovery
	if d.RouteTemplate == "" {
		d.RouteTemplate = routeTemplate(r.Pattern)
	}
	ext, err := d.Extension(method)
	if err != nil {
		return err
	}
	r.Extensions, err = bazaar.With(r.Extensions, ext)
	return err
}

var paramRE = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// routeTemplate returns the bazaar route template of a pattern's path with
// parameters ("/users/{id}" → "/users/:id"), or "" for a literal path, or
// one that ends in a wildcard or is not a valid template.
func routeTemplate(pattern string) string {
	path := pattern
	if _, p, ok := strings.Cut(strings.TrimSpace(pattern), " "); ok {
		path = strings.TrimSpace(p)
	}
	if !strings.Contains(path, "{") || strings.Contains(path, "...") || strings.HasSuffix(path, "*") {
		return ""
	}
	t := paramRE.ReplaceAllString(path, ":$1")
	if !bazaar.ValidRouteTemplate(t) {
		return ""
	}
	return t
}
