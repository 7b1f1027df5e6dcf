package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/migrate"
)

// migrationComponent names this package's rows in schema_migrations, which
// the key server and the relay share when they share a schema.
const migrationComponent = "relay"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// applyMigrations applies the embedded migrations not yet recorded
// (internal/migrate.Postgres: one transaction under an advisory lock).
func applyMigrations(ctx context.Context, conn *pgx.Conn) error {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := migrate.Postgres(ctx, conn, migrationComponent, ms); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}
