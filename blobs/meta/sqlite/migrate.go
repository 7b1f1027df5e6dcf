package sqlite

import (
	"context"
	"database/sql"
	"embed"

	"github.com/sealpost/sealpost/internal/migrate"
)

// migrationFS holds the schema migrations, NNNN_name.sql (internal/migrate).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// applyMigrations brings the schema of the writer connection w up to the
// newest embedded migration, refusing a newer schema.
func applyMigrations(ctx context.Context, w *sql.DB) error {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return migrate.SQLite(ctx, w, ms)
}
