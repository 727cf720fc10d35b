package bazaar

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go402/go402/x402"
)

// HTTP declares a paid HTTP route as discoverable. Schemas are inline JSON
// Schemas (a JSON object each); examples are JSON values. Every field is
// optional.
type HTTP struct {
	// Method is the route's method; if empty, the x402http middleware
	// fills it in from the route's pattern (GET when it has none).
	Method string
	// Query is an example of the query parameters (a JSON object), and
	// QuerySchema their schema ({"type":"object","properties":...}).
	Query       json.RawMessage
	QuerySchema json.RawMessage
	// BodyType is "json" (the default), "form-data" or "text", for POST,
	// PUT and PATCH; Body is an example body and BodySchema its schema.
	BodyType   string
	Body       json.RawMessage
	BodySchema json.RawMessage
	// OutputType is the response's type ("json" if empty); Output is an
	// example response and OutputSchema its schema.
	OutputType   string
	Output       json.RawMessage
	OutputSchema json.RawMessage
	// RouteTemplate is the route's template ("/users/:id") when its path
	// has parameters, so that a catalogue lists the route once; the
	// x402http middleware fills it in from the route's pattern.
	RouteTemplate string
}

// Tool declares a paid MCP tool as discoverable.
type Tool struct {
	// Name is the tool's name, as passed to tools/call. Required.
	Name        string
	Description string
	// InputSchema is the JSON Schema of the tool's arguments, the one the
	// tool declares in tools/list. If empty, {"type":"object"}.
	InputSchema json.RawMessage
	// Example is example arguments (a JSON object).
	Example json.RawMessage
	// Transport is "streamable-http" (the default when empty) or "sse".
	Transport string
	// OutputType, Output and OutputSchema are as in [HTTP].
	OutputType   string
	Output       json.RawMessage
	OutputSchema json.RawMessage
}

// bodyMethod reports whether m carries a body (POST, PUT, PATCH), and ok
// whether m is a method the extension knows.
func bodyMethod(m string) (body, ok bool) {
	switch m {
	case "GET", "HEAD", "DELETE":
		return false, true
	case "POST", "PUT", "PATCH":
		return true, true
	}
	return false, false
}

// obj is a schema property: s if given, else fallback.
func obj(s json.RawMessage, fallback string) json.RawMessage {
	if len(s) == 0 {
		return json.RawMessage(fallback)
	}
	return s
}

// Extension returns the bazaar extension declaring the route, for
// PaymentRequired.extensions under [Key]. method is used when d.Method is
// empty. It refuses a method the extension does not know and schemas or
// examples that are not valid JSON.
func (d HTTP) Extension(method string) (x402.Object, error) {
	if d.Method != "" {
		method = d.Method
	}
	method = strings.ToUpper(method)
	if method == "" {
		method = "GET"
	}
	hasBody, ok := bodyMethod(method)
	if !ok {
		return nil, fmt.Errorf("bazaar: method %q cannot be declared (GET, HEAD, DELETE, POST, PUT or PATCH)", method)
	}
	in := Input{Type: TypeHTTP, Method: method, QueryParams: d.Query}
	props := map[string]json.RawMessage{
		"type":   json.RawMessage(`{"type":"string","const":"http"}`),
		"method": json.RawMessage(`{"type":"string","enum":["GET","HEAD","DELETE"]}`),
	}
	required := []string{"type", "method"}
	if len(d.Query) > 0 || len(d.QuerySchema) > 0 {
		props["queryParams"] = obj(d.QuerySchema, `{"type":"object"}`)
	}
	if hasBody {
		props["method"] = json.RawMessage(`{"type":"string","enum":["POST","PUT","PATCH"]}`)
		in.BodyType = d.BodyType
		if in.BodyType == "" {
			in.BodyType = "json"
		}
		in.Body = d.Body
		if len(in.Body) == 0 {
			in.Body = json.RawMessage(`{}`)
		}
		props["bodyType"] = json.RawMessage(`{"type":"string","enum":["json","form-data","text"]}`)
		props["body"] = obj(d.BodySchema, `{}`)
		required = append(required, "bodyType", "body")
	}
	if d.RouteTemplate != "" && !ValidRouteTemplate(d.RouteTemplate) {
		return nil, fmt.Errorf("bazaar: route template %q is not a path of safe characters with :name parameters", d.RouteTemplate)
	}
	return build(in, props, required, d.RouteTemplate, d.OutputType, d.Output, d.OutputSchema)
}

// Extension returns the bazaar extension declaring the tool.
func (d Tool) Extension() (x402.Object, error) {
	if d.Name == "" {
		return nil, fmt.Errorf("bazaar: a tool needs a name")
	}
	in := Input{Type: TypeMCP, ToolName: d.Name, Description: d.Description, Transport: d.Transport,
		InputSchema: obj(d.InputSchema, `{"type":"object"}`), Example: d.Example}
	props := map[string]json.RawMessage{
		"type":        json.RawMessage(`{"type":"string","const":"mcp"}`),
		"toolName":    json.RawMessage(`{"type":"string"}`),
		"description": json.RawMessage(`{"type":"string"}`),
		"transport":   json.RawMessage(`{"type":"string","enum":["streamable-http","sse"]}`),
		"inputSchema": json.RawMessage(`{"type":"object"}`),
		"example":     json.RawMessage(`{"type":"object"}`),
	}
	return build(in, props, []string{"type", "toolName", "inputSchema"}, "", d.OutputType, d.Output, d.OutputSchema)
}

// build assembles {info, schema} and checks it as a facilitator would.
func build(in Input, inputProps map[string]json.RawMessage, required []string, template, outType string, example, outSchema json.RawMessage) (x402.Object, error) {
	info := Info{Input: in}
	schema := map[string]any{
		"$schema":  SchemaDialect,
		"type":     "object",
		"required": []string{"input"},
	}
	props := map[string]any{
		"input": map[string]any{"type": "object", "properties": inputProps, "required": required, "additionalProperties": false},
	}
	if outType != "" || len(example) > 0 || len(outSchema) > 0 {
		if outType == "" {
			outType = "json"
		}
		info.Output = &Output{Type: outType, Example: example}
		props["output"] = map[string]any{
			"type":       "object",
			"properties": map[string]json.RawMessage{"type": json.RawMessage(`{"type":"string"}`), "format": json.RawMessage(`{"type":"string"}`), "example": obj(outSchema, `{}`)},
			"required":   []string{"type"},
		}
	}
	schema["properties"] = props
	sb, err := json.Marshal(schema)
	if err != nil {
		return nil, fmt.Errorf("bazaar: a schema or example is not valid JSON: %w", err)
	}
	b, err := json.Marshal(Extension{Info: info, Schema: sb, RouteTemplate: template})
	if err != nil {
		return nil, fmt.Errorf("bazaar: a schema or example is not valid JSON: %w", err)
	}
	if _, err := Parse(b); err != nil {
		return nil, err
	}
	return x402.Object(b), nil
}
