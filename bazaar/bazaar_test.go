package bazaar_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/x402"
)

func TestDeclareAndParse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		build  func() (x402.Object, error)
		method string
		typ    string
	}{
		{"get", func() (x402.Object, error) {
			return bazaar.HTTP{Query: json.RawMessage(`{"city":"Paris"}`), QuerySchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}.Extension("")
		}, "GET", "http"},
		{"post", func() (x402.Object, error) {
			return bazaar.HTTP{Body: json.RawMessage(`{"q":1}`), BodySchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"integer"}}}`), Output: json.RawMessage(`[1]`)}.Extension("post")
		}, "POST", "http"},
		{"tool", func() (x402.Object, error) {
			return bazaar.Tool{Name: "weather", Description: "forecast", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`), Example: json.RawMessage(`{"city":"Oslo"}`)}.Extension()
		}, "", "mcp"},
		{"template", func() (x402.Object, error) {
			return bazaar.HTTP{RouteTemplate: "/users/:id"}.Extension("DELETE")
		}, "DELETE", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			p, err := bazaar.Parse(ext)
			if err != nil {
				t.Fatalf("Parse(%s): %v", ext, err)
			}
			if p.Info.Input.Type != tc.typ || p.Info.Input.Method != tc.method {
				t.Errorf("parsed %+v", p.Info.Input)
			}
		})
	}
}

func TestDeclareRefuses(t *testing.T) {
	for name, f := range map[string]func() (x402.Object, error){
		"method": func() (x402.Object, error) { return bazaar.HTTP{}.Extension("OPTIONS") },
		"example vs schema": func() (x402.Object, error) {
			return bazaar.HTTP{Query: json.RawMessage(`{"city":3}`), QuerySchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}.Extension("GET")
		},
		"bad json": func() (x402.Object, error) { return bazaar.HTTP{Body: json.RawMessage(`{`)}.Extension("POST") },
		"no tool":  func() (x402.Object, error) { return bazaar.Tool{}.Extension() },
		"template": func() (x402.Object, error) { return bazaar.HTTP{RouteTemplate: "/a/../b"}.Extension("GET") },
		"ext schema": func() (x402.Object, error) {
			return bazaar.Tool{Name: "t", InputSchema: json.RawMessage(`{"$ref":"https://example.com/s.json"}`)}.Extension()
		},
	} {
		if ext, err := f(); err == nil {
			t.Errorf("%s: declared %s", name, ext)
		}
	}
}

const dialect = `"$schema":"https://json-schema.org/draft/2020-12/schema"`

func TestParseRejects(t *testing.T) {
	okInfo := `{"input":{"type":"http","method":"GET"}}`
	for _, tc := range []struct{ name, ext, want string }{
		{"not json", `{`, "not a bazaar declaration"},
		{"no schema", `{"info":` + okInfo + `}`, "no schema"},
		{"type", `{"info":{"input":{"type":"ftp"}},"schema":{}}`, "neither"},
		{"method", `{"info":{"input":{"type":"http","method":"TRACE"}},"schema":{}}`, "method"},
		{"body type", `{"info":{"input":{"type":"http","method":"POST","bodyType":"xml","body":{}}},"schema":{}}`, "bodyType"},
		{"tool name", `{"info":{"input":{"type":"mcp","toolName":"","inputSchema":{}}},"schema":{}}`, "toolName"},
		{"tool schema missing", `{"info":{"input":{"type":"mcp","toolName":"t"}},"schema":{}}`, "inputSchema"},
		{"http ref", `{"info":` + okInfo + `,"schema":{"$ref":"http://127.0.0.1:1/s.json"}}`, "same-document"},
		{"relative ref", `{"info":` + okInfo + `,"schema":{"properties":{"input":{"$ref":"other.json#/x"}}}}`, "same-document"},
		{"file id", `{"info":` + okInfo + `,"schema":{"$id":"file:///etc/passwd"}}`, "same-document"},
		{"tool input ref", `{"info":{"input":{"type":"mcp","toolName":"t","inputSchema":{"$ref":"https://x/y"}}},"schema":{}}`, "same-document"},
		{"dialect", `{"info":` + okInfo + `,"schema":{"$schema":"http://json-schema.org/draft-07/schema#"}}`, "$schema"},
		{"invalid info", `{"info":` + okInfo + `,"schema":{"properties":{"input":{"properties":{"method":{"enum":["POST"]}}}}}}`, "not one of"},
		{"required", `{"info":` + okInfo + `,"schema":{"properties":{"input":{"required":["queryParams"]}}}}`, "required"},
		{"additional", `{"info":{"input":{"type":"http","method":"GET","headers":{"a":"b"}}},"schema":{"properties":{"input":{"properties":{"type":{},"method":{}},"additionalProperties":false}}}}`, "allows no value"},
		{"dangling ref", `{"info":` + okInfo + `,"schema":{"properties":{"input":{"$ref":"#/$defs/nope"}}}}`, "points to nothing"},
		{"deep", `{"info":` + okInfo + `,"schema":` + strings.Repeat(`{"not":`, 40) + `{}` + strings.Repeat(`}`, 40) + `}`, "nested"},
		{"loop", `{"info":` + okInfo + `,"schema":{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}}`, "too complex"},
		{"oversize", `{"info":{"input":{"type":"http","method":"GET"},"output":{"type":"json","example":"` + strings.Repeat("x", bazaar.MaxExtensionBytes) + `"}},"schema":{}}`, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bazaar.Parse([]byte(tc.ext))
			var xe *x402.Error
			if !errors.As(err, &xe) || xe.Reason != bazaar.ReasonRejected || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v; want %s rejection mentioning %q", err, bazaar.ReasonRejected, tc.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	ext := `{"info":{"input":{"type":"http","method":"GET","queryParams":{"n":2}},"output":{"type":"json","example":{"a":[1,2]}}},` +
		`"routeTemplate":"/a/%2e%2e/b","schema":{` + dialect + `,"$defs":{"q":{"type":"object","properties":{"n":{"type":["integer","null"]}}}},` +
		`"properties":{"input":{"allOf":[{"properties":{"queryParams":{"$ref":"#/$defs/q"}}}],"anyOf":[{"required":["method"]},{"required":["body"]}]},` +
		`"output":{"properties":{"example":{"properties":{"a":{"type":"array","items":{"type":"integer"}}}}}}}}}`
	p, err := bazaar.Parse([]byte(ext))
	if err != nil {
		t.Fatal(err)
	}
	if p.RouteTemplate != "" {
		t.Errorf("route template %q kept; a traversal must be dropped", p.RouteTemplate)
	}
	long := `{"info":{"input":{"type":"mcp","toolName":"t","inputSchema":{},"description":"` + strings.Repeat("ü", 400) + `"}},"schema":{}}`
	p, err = bazaar.Parse([]byte(long))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Info.Input.Description) != bazaar.MaxDescriptionBytes {
		t.Errorf("description of %d bytes", len(p.Info.Input.Description))
	}
}

func TestValidRouteTemplate(t *testing.T) {
	for tpl, want := range map[string]bool{
		"/users/:id": true, "/a/b.c/~d": true, "": false, "users": false, "/a/../b": false,
		"/a/%2E%2E/b": false, "/http://x": false, "/a b": false, "/a?b": false, "/%zz": false,
	} {
		if got := bazaar.ValidRouteTemplate(tpl); got != want {
			t.Errorf("ValidRouteTemplate(%q) = %v", tpl, got)
		}
	}
}

func TestDecodeList(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"x402Version":2,"items":[{"resource":"https://a/b","type":"http","x402Version":2,"accepts":[],"lastUpdated":"2026-01-01T00:00:00Z"}],"pagination":{"limit":1,"offset":0,"total":1}}`, true},
		{`{"x402Version":2,"items":[{"type":"http"}],"pagination":{}}`, false},
		{`{"x402Version":2,"items":[],"pagination":{"limit":-1}}`, false},
		{`[]`, false},
	} {
		_, err := bazaar.DecodeList([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("DecodeList(%s): %v", tc.body, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	ext, _ := bazaar.HTTP{Query: json.RawMessage(`{"a":"b"}`)}.Extension("GET")
	f.Add([]byte(ext))
	f.Add([]byte(`{"info":{"input":{"type":"mcp","toolName":"t","inputSchema":{"$ref":"#"}}},"schema":{"$ref":"#/properties"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := bazaar.Parse(b)
		if err != nil {
			var xe *x402.Error
			if !errors.As(err, &xe) {
				t.Fatalf("error %v is not an *x402.Error", err)
			}
			return
		}
		if len(p.Info.Input.Description) > bazaar.MaxDescriptionBytes {
			t.Fatal("description not truncated")
		}
		if p.RouteTemplate != "" && !bazaar.ValidRouteTemplate(p.RouteTemplate) {
			t.Fatal("invalid route template kept")
		}
	})
}

func FuzzDecodeList(f *testing.F) {
	f.Add([]byte(`{"x402Version":2,"items":[],"pagination":{"limit":1,"offset":0,"total":0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		lr, err := bazaar.DecodeList(b)
		if err == nil && (lr.Pagination.Limit < 0 || lr.Pagination.Total < 0) {
			t.Fatal("negative pagination accepted")
		}
	})
}

func BenchmarkParse(b *testing.B) {
	ext, err := bazaar.HTTP{
		Query:       json.RawMessage(`{"city":"Paris"}`),
		QuerySchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		Output:      json.RawMessage(`{"city":"Paris","celsius":12}`),
	}.Extension("GET")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(ext)))
	for b.Loop() {
		if _, err := bazaar.Parse(ext); err != nil {
			b.Fatal(err)
		}
	}
}
