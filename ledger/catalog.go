package ledger

import (
	"context"
	"time"
)

// Resource is a catalogued resource: one that a facilitator settled a
// payment for and whose server declared it discoverable (the bazaar
// extension). Key identifies it: the resource URL, and for an MCP tool
// the URL and the tool's name.
type Resource struct {
	Key         string
	URL         string
	Type        string // "http" or "mcp"
	ToolName    string
	Version     int // x402 version
	Description string
	MimeType    string
	// The requirements paid with, and their fields the listing filters
	// and compares prices on.
	Scheme  string
	Network string
	Asset   string
	PayTo   string
	Amount  string // atomic units, decimal
	// Accepts is the JSON array of the requirements, Extensions the JSON
	// object of the extensions listed ({"bazaar": ...}).
	Accepts    []byte
	Extensions []byte
	UpdatedAt  time.Time
}

// ResourceFilter selects catalogued resources; zero fields match all.
type ResourceFilter struct {
	Type    string
	Network string
	Scheme  string
	PayTo   string
	Limit   int // 0 means 100
	Offset  int
}

// Peers names the resources whose prices are compared: the same type,
// paid in the same asset on the same network.
type Peers struct {
	Type    string
	Network string
	Asset   string
}

// Catalog is the discovery catalogue, kept by the ledgers of this module
// (sqlite and postgres) in their database (migration 0005).
//
// Atomicity: the catalogue is written after the settlement it follows is
// recorded final, in its own transaction; a crash between the two leaves
// the resource uncatalogued until its next paid request. A resource is
// listed only after a settlement succeeded.
type Catalog interface {
	// PutResource inserts r, or replaces the resource of the same Key
	// (the latest successful payment wins).
	PutResource(ctx context.Context, r *Resource) error
	// Resources returns the page of the resources matching f, most
	// recently updated first, and how many match in all.
	Resources(ctx context.Context, f ResourceFilter) (page []*Resource, total int, err error)
	// PeerAmounts returns the amounts of up to limit resources of p.
	PeerAmounts(ctx context.Context, p Peers, limit int) ([]string, error)
}
