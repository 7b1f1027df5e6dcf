package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migrationComponent names this package's rows in schema_migrations, so
// that the key server can keep its own migrations in the same table and
// schema.
const migrationComponent = "relay"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered migrations/NNNN_name.sql file.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order. File
// names must start with a distinct positive number followed by '_'.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]bool{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || seen[v] {
			return nil, fmt.Errorf("postgres: bad migration file name %q", base)
		}
		seen[v] = true
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("postgres: no migrations embedded")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the migrations not yet recorded in schema_migrations, all
// in one transaction that first takes a transaction-scoped advisory lock
// keyed on the current schema: relays starting together wait for each
// other instead of racing, and a failed migration leaves nothing behind.
// The key server takes a lock of its own, so the two may race to create
// schema_migrations; the loser fails with a duplicate-object error and
// tries again.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	for attempt := 0; ; attempt++ {
		err := migrateOnce(ctx, conn)
		var pe *pgconn.PgError
		if attempt < 2 && errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07") {
			continue
		}
		return err
	}
}

// migrateOnce is one attempt of migrate.
func migrateOnce(ctx context.Context, conn *pgx.Conn) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit

	var schema *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if schema == nil {
		return fmt.Errorf("postgres: migrate: no schema selected: the search_path names no existing schema")
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sealpost/relay/migrations/' || current_schema(), 0))`); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  text        NOT NULL,
		version    integer     NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations WHERE component = $1`, migrationComponent)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	done := map[int]bool{}
	latest := 0
	for _, v := range applied {
		done[int(v)] = true
		latest = max(latest, int(v))
	}
	if known := ms[len(ms)-1].version; latest > known {
		return fmt.Errorf("postgres: database schema is at version %d, newer than this binary knows (%d)", latest, known)
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)`,
			migrationComponent, m.version, m.name); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
