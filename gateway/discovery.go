package gateway

import (
	"encoding/json"
	"strings"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/internal/routepattern"
	"github.com/go402/go402/internal/yamlconf"
)

// Discovery is how a discoverable route is called and what it answers,
// for the bazaar extension of its 402 (package bazaar): examples and JSON
// Schemas, each written as JSON text in the YAML. Every field is optional.
// Key "routes[i].discovery".
type Discovery struct {
	// Method is the method to declare; "" means the path's, or GET.
	Method string
	// Query and QuerySchema: an example of the query parameters (a JSON
	// object) and their schema.
	Query, QuerySchema string
	// BodyType ("json", "form-data" or "text"), Body and BodySchema, for
	// POST, PUT and PATCH.
	BodyType, Body, BodySchema string
	// Output and OutputSchema: an example answer and its schema.
	Output, OutputSchema string
}

func (d *Discovery) schema() yamlconf.Fields {
	return yamlconf.Fields{
		"method":       func(v yamlconf.Value) { v.String(&d.Method) },
		"query":        func(v yamlconf.Value) { v.String(&d.Query) },
		"querySchema":  func(v yamlconf.Value) { v.String(&d.QuerySchema) },
		"bodyType":     func(v yamlconf.Value) { v.String(&d.BodyType) },
		"body":         func(v yamlconf.Value) { v.String(&d.Body) },
		"bodySchema":   func(v yamlconf.Value) { v.String(&d.BodySchema) },
		"output":       func(v yamlconf.Value) { v.String(&d.Output) },
		"outputSchema": func(v yamlconf.Value) { v.String(&d.OutputSchema) },
	}
}

// isZero reports whether no discovery field is set.
func (d *Discovery) isZero() bool { return *d == Discovery{} }

func raw(s string) json.RawMessage {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return json.RawMessage(s)
}

// bazaarHTTP returns the declaration of a discoverable route, nil for
// another.
func (r *Route) bazaarHTTP() *bazaar.HTTP {
	if !r.Discoverable {
		return nil
	}
	d := &r.Discovery
	m := d.Method
	if m == "" {
		if pat, err := routepattern.Parse(r.Path); err == nil {
			m = pat.Method
		}
	}
	return &bazaar.HTTP{
		Method: m, Query: raw(d.Query), QuerySchema: raw(d.QuerySchema),
		BodyType: d.BodyType, Body: raw(d.Body), BodySchema: raw(d.BodySchema),
		Output: raw(d.Output), OutputSchema: raw(d.OutputSchema),
	}
}

// discovery checks a route's discoverable and discovery keys: only a
// priced route is discoverable, and its declaration must be one a
// facilitator accepts (valid JSON, examples valid against their schemas,
// no external $ref, within bazaar.MaxExtensionBytes).
func (v *validator) discovery(r *Route, p string) {
	if !r.Discoverable {
		if !r.Discovery.isZero() {
			v.fail(p+".discovery", "set discoverable: true to declare the route discoverable")
		}
		return
	}
	if r.Free() {
		v.fail(p+".discoverable", "only a priced route is discoverable (a facilitator lists what it settled)")
		return
	}
	if _, err := r.bazaarHTTP().Extension("GET"); err != nil {
		v.fail(p+".discovery", "%v", err)
	}
}
