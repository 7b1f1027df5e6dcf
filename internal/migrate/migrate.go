// Package migrate applies the embedded schema migrations of Sealpost's
// storage engines: the key server's and the relay's, each on SQLite and on
// PostgreSQL. Migrations are files NNNN_name.sql, numbered from 1 without
// gaps, applied in order and recorded in a schema_migrations table; a
// database whose schema is newer than the program is refused.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Migration is one numbered migration file.
type Migration struct {
	Version int64
	Name    string // the file name
	SQL     string
}

// Load returns the migrations dir/*.sql of fsys in version order. File
// names must be NNNN_name.sql with versions 1, 2, … and no gaps.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{v, base, string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return int(a.Version - b.Version) })
	for i, m := range ms {
		if m.Version != int64(i+1) {
			return nil, fmt.Errorf("migration %s: want version %d", m.Name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("no migrations embedded")
	}
	return ms, nil
}

// SQLite brings the database of the writer connection w up to the newest of
// ms, each migration in its own transaction with its row in
// schema_migrations. It is idempotent and safe against another process
// migrating the same file at the same time.
func SQLite(ctx context.Context, w *sql.DB, ms []Migration) error {
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
	if newest := ms[len(ms)-1].Version; have > newest {
		return fmt.Errorf("database schema version %d is newer than this program's %d", have, newest)
	}
	for _, m := range ms[have:] {
		if err := sqliteApply(ctx, w, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// sqliteApply applies m in a transaction of its own unless another process
// applied it since we looked.
func sqliteApply(ctx context.Context, w *sql.DB, m Migration) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixNano()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Postgres applies the migrations of component (its rows in the shared
// schema_migrations table: "keyserver", "relay") not yet recorded, all in
// one transaction that first takes an advisory lock keyed on the component
// and the current schema: processes starting together wait for each other,
// and a failed migration leaves nothing behind. Two components starting
// together may race to create schema_migrations; the loser tries again.
func Postgres(ctx context.Context, conn *pgx.Conn, component string, ms []Migration) error {
	for attempt := 0; ; attempt++ {
		err := postgresOnce(ctx, conn, component, ms)
		var pe *pgconn.PgError
		if attempt < 2 && errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07") {
			continue
		}
		return err
	}
}

func postgresOnce(ctx context.Context, conn *pgx.Conn, component string, ms []Migration) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit

	var schema *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if schema == nil {
		return errors.New("migrate: no schema selected: the search_path names no existing schema")
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sealpost/' || $1 || '/migrations/' || current_schema(), 0))`, component); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  text        NOT NULL,
		version    integer     NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations WHERE component = $1`, component)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	done := map[int64]bool{}
	var latest int64
	for _, v := range applied {
		done[int64(v)] = true
		latest = max(latest, int64(v))
	}
	if known := ms[len(ms)-1].Version; latest > known {
		return fmt.Errorf("database schema is at version %d, newer than this binary knows (%d)", latest, known)
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)`,
			component, m.Version, m.Name); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
