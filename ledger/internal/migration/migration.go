// Package migration reads the numbered SQL schema migrations that the ledger
// stores embed (ledger/sqlite/migrations, ledger/postgres/migrations) and
// works out which of them a database still needs. Applying them is left to
// each store, which knows its database's locking and transactions.
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one schema change: the file NNNN_description.sql.
type Migration struct {
	Version int    // NNNN, from 1 up without gaps
	Name    string // the file name
	SQL     string // the statements, run as one script
}

// Load returns the migrations in directory dir of fsys, ordered by version.
// Every file in dir must be named NNNN_description.sql, and the versions
// must run 1, 2, 3... without gaps or repeats, so that a missing or
// misnumbered file is caught when the program starts rather than leaving a
// database half-migrated.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migration: reading %s: %w", dir, err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration: unexpected entry %s in %s", name, dir)
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || len(num) != 4 {
			return nil, fmt.Errorf("migration: %s is not named NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("migration: reading %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration: %s: want version %d (versions must run from 1 without gaps or repeats)", m.Name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("migration: no migrations in %s", dir)
	}
	return ms, nil
}

// Pending returns the migrations of all (as returned by [Load]) whose
// versions are not in applied, in order.
func Pending(all []Migration, applied []int) []Migration {
	var out []Migration
	for _, m := range all {
		if !slices.Contains(applied, m.Version) {
			out = append(out, m)
		}
	}
	return out
}

// Newest returns the highest version in applied that all does not know,
// or 0: a database migrated by a newer build than this one.
func Newest(all []Migration, applied []int) int {
	known := 0
	if len(all) > 0 {
		known = all[len(all)-1].Version
	}
	n := 0
	for _, v := range applied {
		if v > known && v > n {
			n = v
		}
	}
	return n
}
