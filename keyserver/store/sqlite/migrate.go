package sqlite

import (
	"context"
	"embed"

	"github.com/sealpost/sealpost/internal/migrate"
)

// migrationFS holds the schema migrations, NNNN_name.sql (internal/migrate).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the embedded migrations in order.
func migrations() ([]migrate.Migration, error) { return migrate.Load(migrationFS, "migrations") }

// migrate brings the schema up to the newest embedded migration. It is
// idempotent, and refuses a database whose schema is newer than this code.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return migrate.SQLite(ctx, s.w, ms)
}
