package bazaar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/go402/go402/x402"
)

// Limits [Parse] applies to an untrusted extension.
const (
	// MaxExtensionBytes bounds the encoded extension: a larger one is
	// refused. (A 402 answer carries it in its PAYMENT-REQUIRED header,
	// which x402http bounds at 8 KiB once base64-encoded.)
	MaxExtensionBytes = 4 << 10
	// MaxDescriptionBytes bounds a description: a longer one is truncated
	// (at a character boundary).
	MaxDescriptionBytes = 512
	// MaxSchemaDepth bounds the nesting of a schema: a deeper one is
	// refused.
	MaxSchemaDepth = 32
	// MaxToolNameBytes bounds an MCP tool's name.
	MaxToolNameBytes = 128
)

// ReasonRejected is the reason code of the errors of [Parse].
const ReasonRejected x402.Reason = "invalid_bazaar_extension"

func reject(format string, args ...any) error {
	return &x402.Error{Reason: ReasonRejected, Message: fmt.Sprintf(format, args...)}
}

// Parse reads an untrusted bazaar extension (as a client echoed it in a
// payment) and returns it checked:
//
//   - at most MaxExtensionBytes, schemas nested at most MaxSchemaDepth;
//   - an input of type "http" with a known method (and a body type for
//     POST, PUT and PATCH), or of type "mcp" with a tool name and an input
//     schema;
//   - its schema, and an MCP tool's input schema, inline: every $ref and
//     $id must be a "#" fragment of the same document, so that nothing is
//     ever fetched or read from elsewhere;
//   - info valid against the schema;
//   - a description longer than MaxDescriptionBytes truncated, and a
//     routeTemplate that is not a plain path template dropped.
//
// It returns an *x402.Error with reason [ReasonRejected] otherwise.
func Parse(raw []byte) (*Extension, error) {
	if len(raw) > MaxExtensionBytes {
		return nil, reject("the extension is %d bytes; at most %d are catalogued", len(raw), MaxExtensionBytes)
	}
	var ext Extension
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&ext); err != nil {
		return nil, reject("the extension is not a bazaar declaration: %v", err)
	}
	if err := checkInput(&ext.Info.Input); err != nil {
		return nil, err
	}
	if ext.Info.Output != nil && len(ext.Info.Output.Type) > 64 {
		return nil, reject("output.type is too long")
	}
	if len(ext.Schema) == 0 || string(ext.Schema) == "null" {
		return nil, reject("the extension has no schema")
	}
	schema, err := decodeSchema(ext.Schema, "schema")
	if err != nil {
		return nil, err
	}
	if d, ok := schema.(map[string]any)["$schema"]; ok && d != SchemaDialect {
		return nil, reject("schema.$schema is %v; want %s", d, SchemaDialect)
	}
	if ext.Info.Input.Type == TypeMCP {
		if _, err := decodeSchema(ext.Info.Input.InputSchema, "info.input.inputSchema"); err != nil {
			return nil, err
		}
	}
	var info any
	if err := json.Unmarshal(mustJSON(ext.Info), &info); err != nil {
		return nil, reject("info: %v", err)
	}
	v := &validator{root: schema}
	if err := v.validate(schema, info, "info", 0); err != nil {
		return nil, err
	}
	ext.Info.Input.Description = Truncate(ext.Info.Input.Description, MaxDescriptionBytes)
	if !ValidRouteTemplate(ext.RouteTemplate) {
		ext.RouteTemplate = ""
	}
	return &ext, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// checkInput checks the discriminated fields of an input.
func checkInput(in *Input) error {
	switch in.Type {
	case TypeHTTP:
		body, ok := bodyMethod(in.Method)
		if !ok {
			return reject("info.input.method %q is not GET, HEAD, DELETE, POST, PUT or PATCH", in.Method)
		}
		if body {
			switch in.BodyType {
			case "json", "form-data", "text":
			default:
				return reject("info.input.bodyType %q is not json, form-data or text", in.BodyType)
			}
		}
	case TypeMCP:
		if in.ToolName == "" || len(in.ToolName) > MaxToolNameBytes || !printable(in.ToolName) {
			return reject("info.input.toolName must be 1 to %d printable characters", MaxToolNameBytes)
		}
		if len(in.InputSchema) == 0 {
			return reject("info.input.inputSchema is missing")
		}
	default:
		return reject("info.input.type %q is neither %q nor %q", in.Type, TypeHTTP, TypeMCP)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// decodeSchema decodes a schema (a JSON object) and checks that it refers
// to nothing outside itself and is not nested too deeply.
func decodeSchema(raw json.RawMessage, where string) (any, error) {
	var s any
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, reject("%s is not JSON: %v", where, err)
	}
	if _, ok := s.(map[string]any); !ok {
		return nil, reject("%s is not a JSON object", where)
	}
	if err := checkLocal(s, where, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// refKeys are the keywords whose values are URI references.
var refKeys = []string{"$ref", "$id", "$dynamicRef", "$recursiveRef", "$anchor", "$dynamicAnchor"}

// checkLocal walks a schema: every reference must be a same-document
// fragment ("#..."), and nesting at most MaxSchemaDepth.
func checkLocal(s any, where string, depth int) error {
	if depth > MaxSchemaDepth {
		return reject("%s is nested more than %d levels", where, MaxSchemaDepth)
	}
	switch t := s.(type) {
	case map[string]any:
		for _, k := range refKeys {
			v, ok := t[k]
			if !ok {
				continue
			}
			ref, isStr := v.(string)
			if !isStr || (k != "$anchor" && k != "$dynamicAnchor" && !strings.HasPrefix(ref, "#")) {
				return reject("%s.%s is %s: only same-document references (\"#...\") are allowed; external schemas are never fetched", where, k, short(fmt.Sprint(v)))
			}
		}
		for k, v := range t {
			if err := checkLocal(v, where+"."+k, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, v := range t {
			if err := checkLocal(v, fmt.Sprintf("%s[%d]", where, i), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func short(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Truncate returns s cut to at most n bytes at a character boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

var routeTemplateRE = regexp.MustCompile(`^/[a-zA-Z0-9_/:.\-~%]+$`)

// ValidRouteTemplate reports whether t is a route template a catalogue
// may key on ("/users/:id"): a path of safe characters that, percent-
// decoded, has no ".." and no "://".
func ValidRouteTemplate(t string) bool {
	if t == "" || !routeTemplateRE.MatchString(t) {
		return false
	}
	dec, err := url.PathUnescape(t)
	if err != nil {
		return false
	}
	return !strings.Contains(dec, "..") && !strings.Contains(dec, "://")
}
