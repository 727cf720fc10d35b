package bazaar_test

import (
	"encoding/json"
	"fmt"

	"github.com/go402/go402/bazaar"
)

// A server declares a GET route with a query parameter; a facilitator
// parses what the client echoed.
func ExampleHTTP_Extension() {
	ext, err := bazaar.HTTP{
		Query:       json.RawMessage(`{"city":"Paris"}`),
		QuerySchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		Output:      json.RawMessage(`{"temperature":12}`),
	}.Extension("GET")
	if err != nil {
		panic(err)
	}
	parsed, err := bazaar.Parse(ext)
	if err != nil {
		panic(err)
	}
	fmt.Println(parsed.Info.Input.Type, parsed.Info.Input.Method, string(parsed.Info.Input.QueryParams))
	// Output: http GET {"city":"Paris"}
}

// A schema that points to a URL is refused: nothing is fetched.
func ExampleParse() {
	_, err := bazaar.Parse([]byte(`{"info":{"input":{"type":"http","method":"GET"}},"schema":{"$ref":"https://example.com/schema.json"}}`))
	fmt.Println(err != nil)
	// Output: true
}

func ExampleTool_Extension() {
	ext, err := bazaar.Tool{Name: "forecast", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}.Extension()
	if err != nil {
		panic(err)
	}
	parsed, _ := bazaar.Parse(ext)
	fmt.Println(parsed.Info.Input.Type, parsed.Info.Input.ToolName)
	// Output: mcp forecast
}
