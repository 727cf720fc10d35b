package x402mcp

import (
	"encoding/json"
	"fmt"

	"github.com/go402/go402/bazaar"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Discoverable returns t declaring tool discoverable: its Extensions carry
// the bazaar extension (package bazaar) with the tool's name, description
// (t.Description, or the tool's) and input schema, as the tool declares
// them in tools/list. Payers echo it in their payment, and a facilitator
// that settles the call can list the tool (GET /discovery/resources, type
// "mcp"). Set t.Resource to the MCP server's URL so that the listing says
// where to call it.
func Discoverable(tool *mcp.Tool, t Tool) (Tool, error) {
	if tool == nil || tool.Name == "" {
		return t, fmt.Errorf("x402mcp: Discoverable needs a named tool")
	}
	var schema json.RawMessage
	if tool.InputSchema != nil {
		b, err := json.Marshal(tool.InputSchema)
		if err != nil {
			return t, fmt.Errorf("x402mcp: tool %q: encoding its input schema: %w", tool.Name, err)
		}
		schema = b
	}
	desc := t.Description
	if desc == "" {
		desc = tool.Description
	}
	ext, err := bazaar.Tool{Name: tool.Name, Description: bazaar.Truncate(desc, bazaar.MaxDescriptionBytes), InputSchema: schema}.Extension()
	if err != nil {
		return t, fmt.Errorf("x402mcp: tool %q: %w", tool.Name, err)
	}
	if t.Extensions, err = bazaar.With(t.Extensions, ext); err != nil {
		return t, err
	}
	return t, nil
}
