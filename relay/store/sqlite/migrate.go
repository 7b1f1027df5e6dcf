package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFS holds the schema migrations, NNNN_name.sql, applied in
// order of NNNN; each runs in its own transaction with its row in
// schema_migrations.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int64
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Versions start at 1
// and have no gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", base)
		}
		b, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, base, string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version - b.version) })
	for i, m := range ms {
		if m.version != int64(i+1) {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations embedded")
	}
	return ms, nil
}

// migrate brings the schema up to the newest embedded migration. It is
// idempotent, and refuses a database whose schema is newer than this code.
func migrate(ctx context.Context, w *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	// The first statement is where a file that is not a database fails.
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name    TEXT    NOT NULL,
		applied INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	var have int64
	if err := w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if newest := ms[len(ms)-1].version; have > newest {
		return fmt.Errorf("database schema version %d is newer than this program's %d", have, newest)
	}
	for _, m := range ms[have:] {
		err := writeAlone(ctx, w, func(tx *sql.Tx) error {
			// Another process may have applied it since we looked.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// writeAlone runs fn in a transaction of its own (BEGIN IMMEDIATE on the
// writer connection) and commits it if fn returns nil. Only migrations use
// it, before the writer goroutine starts.
func writeAlone(ctx context.Context, w *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
