package x402mcp

import (
	"context"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var errNoResponse = errors.New("no settle response")

// Wrap returns a handler that sells the calls of the tool named name at t,
// and runs h for those paid (and for those t makes free).
func (s *Server) Wrap(name string, t Tool, h mcp.ToolHandler) (mcp.ToolHandler, error) {
	if h == nil {
		return nil, errors.New("x402mcp: a handler is required")
	}
	pt, err := s.prepare(name, t)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return s.serve(ctx, pt, req, h)
	}, nil
}

// AddTool adds tool to srv, its calls sold at t and answered by h (a raw
// handler: see mcp.Server.AddTool). For a tool added with the SDK's typed
// mcp.AddTool, use [Server.Middleware].
func (s *Server) AddTool(srv *mcp.Server, tool *mcp.Tool, t Tool, h mcp.ToolHandler) error {
	w, err := s.Wrap(tool.Name, t, h)
	if err != nil {
		return err
	}
	srv.AddTool(tool, w)
	return nil
}

// Middleware returns an MCP server middleware (for
// mcp.Server.AddReceivingMiddleware) that sells the calls of the tools
// named in tools, whatever handler the server runs for them: use it for
// tools added with the SDK's typed mcp.AddTool. Other methods and tools
// pass through.
func (s *Server) Middleware(tools map[string]Tool) (mcp.Middleware, error) {
	paid := make(map[string]*paidTool, len(tools))
	for name, t := range tools {
		pt, err := s.prepare(name, t)
		if err != nil {
			return nil, err
		}
		paid[name] = pt
	}
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			call, ok := req.(*mcp.CallToolRequest)
			if method != "tools/call" || !ok || call.Params == nil {
				return next(ctx, method, req)
			}
			pt, ok := paid[call.Params.Name]
			if !ok {
				return next(ctx, method, req)
			}
			res, err := s.serve(ctx, pt, call, func(ctx context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				out, err := next(ctx, method, r)
				if err != nil || out == nil {
					return nil, err
				}
				tr, ok := out.(*mcp.CallToolResult)
				if !ok {
					return nil, fmt.Errorf("x402mcp: tools/call answered %T", out)
				}
				return tr, nil
			})
			if res == nil {
				return nil, err // a nil *CallToolResult must not become a non-nil Result
			}
			return res, err
		}
	}, nil
}
