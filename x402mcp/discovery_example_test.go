package x402mcp_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/x402mcp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A paid tool declared discoverable: its PaymentRequired carries the
// bazaar extension with the tool's name and input schema, so that the
// facilitator that settles a call lists it.
func ExampleDiscoverable() {
	tool := &mcp.Tool{Name: "forecast", Description: "Weather forecast for a city",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}
	price, err := x402mcp.Discoverable(tool, x402mcp.Tool{
		Accepts:  []x402mcp.Option{{Network: "eip155:84532", Price: "$0.01", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}},
		Resource: "https://api.example.com/mcp",
	})
	if err != nil {
		log.Fatal(err)
	}
	ext, err := bazaar.Parse(bazaar.Declared(price.Extensions))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ext.Info.Input.Type, ext.Info.Input.ToolName, ext.Info.Input.Description)
	// Output: mcp forecast Weather forecast for a city
}
