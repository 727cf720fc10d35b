package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/go402/go402/ledger"
)

var _ ledger.Catalog = (*Store)(nil)

const resourceColumns = `key, url, type, tool_name, version, description, mime_type,
	scheme, network, asset, pay_to, amount, accepts, extensions, updated_at`

// PutResource inserts r or replaces the resource of the same key; see
// [ledger.Catalog].
func (s *Store) PutResource(ctx context.Context, r *ledger.Resource) error {
	at := r.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO catalog (`+resourceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (key) DO UPDATE SET url = excluded.url, type = excluded.type,
			tool_name = excluded.tool_name, version = excluded.version,
			description = excluded.description, mime_type = excluded.mime_type,
			scheme = excluded.scheme, network = excluded.network, asset = excluded.asset,
			pay_to = excluded.pay_to, amount = excluded.amount, accepts = excluded.accepts,
			extensions = excluded.extensions, updated_at = excluded.updated_at`,
		r.Key, r.URL, r.Type, r.ToolName, r.Version, r.Description, r.MimeType,
		r.Scheme, r.Network, r.Asset, r.PayTo, r.Amount, nonNil(r.Accepts), nonNil(r.Extensions), at.UTC())
	if err != nil {
		return fail(ctx, "put resource", err)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Resources returns a page of the catalogue; see [ledger.Catalog].
func (s *Store) Resources(ctx context.Context, f ledger.ResourceFilter) ([]*ledger.Resource, int, error) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{{"type", f.Type}, {"network", f.Network}, {"scheme", f.Scheme}, {"pay_to", f.PayTo}} {
		if c.v != "" {
			args = append(args, c.v)
			conds = append(conds, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM catalog`+where, args...).Scan(&total); err != nil {
		return nil, 0, fail(ctx, "count resources", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit, max(f.Offset, 0))
	rows, err := s.pool.Query(ctx, `SELECT `+resourceColumns+` FROM catalog`+where+
		` ORDER BY updated_at DESC, key LIMIT $`+strconv.Itoa(len(args)-1)+` OFFSET $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, 0, fail(ctx, "list resources", err)
	}
	defer rows.Close()
	var out []*ledger.Resource
	for rows.Next() {
		var r ledger.Resource
		if err := rows.Scan(&r.Key, &r.URL, &r.Type, &r.ToolName, &r.Version, &r.Description, &r.MimeType,
			&r.Scheme, &r.Network, &r.Asset, &r.PayTo, &r.Amount, &r.Accepts, &r.Extensions, &r.UpdatedAt); err != nil {
			return nil, 0, fail(ctx, "list resources", err)
		}
		r.UpdatedAt = r.UpdatedAt.UTC()
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fail(ctx, "list resources", err)
	}
	return out, total, nil
}

// PeerAmounts returns the amounts of up to limit resources of p; see
// [ledger.Catalog].
func (s *Store) PeerAmounts(ctx context.Context, p ledger.Peers, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT amount FROM catalog WHERE type = $1 AND network = $2 AND asset = $3 LIMIT $4`,
		p.Type, p.Network, p.Asset, limit)
	if err != nil {
		return nil, fail(ctx, "peer amounts", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fail(ctx, "peer amounts", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "peer amounts", err)
	}
	return out, nil
}
