package postgres

import (
	"embed"
	"fmt"

	"github.com/sealpost/sealpost/internal/migrate"
)

// migrationComponent names this package's rows in schema_migrations, which
// the key server, the relay and the blob service share when they share a
// schema.
const migrationComponent = "blobs"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations returns the embedded migrations in order (internal/migrate).
func migrations() ([]migrate.Migration, error) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}
