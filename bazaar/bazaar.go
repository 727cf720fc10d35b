// Package bazaar is the x402 "bazaar" discovery extension: a resource
// server declares, in the extensions of its 402 answer, how a paid route or
// MCP tool is called (HTTP method, query or body, or the tool's name and
// input schema) and what it returns, with a JSON Schema that validates the
// declaration; a client echoes it in its payment; a facilitator that
// settled the payment catalogues the resource and lists it at
// GET /discovery/resources.
//
// Servers build the extension with [HTTP.Extension] or [Tool.Extension].
// Facilitators read an untrusted one with [Parse], which bounds its size,
// refuses a schema that points outside itself ($ref or $id other than a
// "#" fragment: nothing is ever fetched), and validates the declaration
// against its schema. [List] is the client of GET /discovery/resources;
// [ListResponse] is its body.
//
// The package depends on the standard library and package x402 only.
package bazaar

import (
	"encoding/json"
	"fmt"

	"github.com/go402/go402/x402"
)

// Key is the extension's key in PaymentRequired.extensions and
// PaymentPayload.extensions.
const Key = "bazaar"

// Resource types, the discriminator of Input.Type and the type filter of
// GET /discovery/resources.
const (
	TypeHTTP = "http"
	TypeMCP  = "mcp"
)

// SchemaDialect is the JSON Schema dialect a declaration's schema uses.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// Extension is the bazaar extension: the declaration (Info), the JSON
// Schema that validates it, and, for a route with parameters, its
// template ("/users/:id").
type Extension struct {
	Info          Info            `json:"info"`
	Schema        json.RawMessage `json:"schema"`
	RouteTemplate string          `json:"routeTemplate,omitempty"`
}

// Info says how to call the resource and what it returns.
type Info struct {
	Input  Input   `json:"input"`
	Output *Output `json:"output,omitempty"`
}

// Input is how to call the resource. Type is TypeHTTP or TypeMCP; the
// other fields apply to one of them.
type Input struct {
	Type string `json:"type"`

	// HTTP: the method; for GET, HEAD and DELETE example query
	// parameters, for POST, PUT and PATCH the body type ("json",
	// "form-data" or "text") and an example body.
	Method      string            `json:"method,omitempty"`
	QueryParams json.RawMessage   `json:"queryParams,omitempty"`
	PathParams  json.RawMessage   `json:"pathParams,omitempty"`
	BodyType    string            `json:"bodyType,omitempty"`
	Body        json.RawMessage   `json:"body,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`

	// MCP: the tool's name (as passed to tools/call), description,
	// transport ("streamable-http" or "sse"), the JSON Schema of its
	// arguments and example arguments.
	ToolName    string          `json:"toolName,omitempty"`
	Description string          `json:"description,omitempty"`
	Transport   string          `json:"transport,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema,omitempty"`
	Example     json.RawMessage `json:"example,omitempty"`
}

// Output describes the response: its type ("json", "text"), a format and
// an example.
type Output struct {
	Type    string          `json:"type,omitempty"`
	Format  string          `json:"format,omitempty"`
	Example json.RawMessage `json:"example,omitempty"`
}

// Declared returns the bazaar extension in a PaymentRequired's or a
// PaymentPayload's extensions, raw, or nil when there is none.
func Declared(extensions x402.Object) json.RawMessage {
	if extensions.IsNull() {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(extensions, &m) != nil {
		return nil
	}
	v := m[Key]
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// With returns extensions with ext set under [Key] (the others kept).
func With(extensions x402.Object, ext x402.Object) (x402.Object, error) {
	m := map[string]json.RawMessage{}
	if !extensions.IsNull() {
		if err := json.Unmarshal(extensions, &m); err != nil {
			return nil, fmt.Errorf("bazaar: extensions are not a JSON object: %w", err)
		}
	}
	m[Key] = json.RawMessage(ext)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("bazaar: encoding extensions: %w", err)
	}
	return x402.Object(b), nil
}
